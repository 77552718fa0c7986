/** The feed behind jobUpdates: current state first, newer versions only, bounded for slow consumers, releasable. */
import { describe, expect, it } from 'vitest';
import type { Job } from '../../src/domain/job.ts';
import { createJobEvents } from '../../src/jobs/events.ts';

const job = (version: number, status: Job['status'] = 'IN_QUEUE'): Job => ({
  id: 'j1', tenant: 't', userId: null, requestId: 'r', model: 'm', status, queuePosition: null, logs: [], video: null, error: null,
  input: { prompt: 'p', imageUrl: 'https://x/y.png', duration: '5', negativePrompt: null, cfgScale: null },
  idempotencyKey: null, cancelRequested: false, createdAt: '', updatedAt: '', completedAt: null, version,
});

describe('follow', () => {
  it('yields the initial state, then newer versions only, and ends after a terminal one', async () => {
    const events = createJobEvents(new EventTarget());
    const feed = events.follow('j1', async () => job(2));
    expect((await feed.next()).value.version).toBe(2);
    events.publish(job(1)); // older: dropped
    events.publish(job(2)); // same: dropped
    events.publish(job(3));
    expect((await feed.next()).value.version).toBe(3);
    events.publish(job(4, 'COMPLETED'));
    expect((await feed.next()).value.status).toBe('COMPLETED');
    expect((await feed.next()).done).toBe(true);
    expect(events.listenerCount()).toBe(0);
  });

  it('a slow consumer holds one pending state, the latest, however many updates arrive', async () => {
    const events = createJobEvents(new EventTarget());
    const feed = events.follow('j1', async () => job(1));
    await feed.next();
    for (let v = 2; v <= 50_000; v++) events.publish(job(v));
    const next = await feed.next();
    expect(next.value.version).toBe(50_000);
    await feed.return();
  });

  it('return() while next() waits releases the listener at once', async () => {
    const events = createJobEvents(new EventTarget());
    const feed = events.follow('j1', async () => job(1));
    await feed.next();
    const waiting = feed.next();
    expect(events.listenerCount()).toBe(1);
    await feed.return();
    expect((await waiting).done).toBe(true);
    expect(events.listenerCount()).toBe(0);
  });

  it('an unknown job: ready resolves null and nothing stays registered', async () => {
    const events = createJobEvents(new EventTarget());
    const feed = events.follow('nope', async () => null);
    expect(await feed.ready).toBeNull();
    expect(events.listenerCount()).toBe(0);
  });
});

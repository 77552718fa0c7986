/**
 * The poller as a machine: its pure decisions with plain values, its scheduler on a fake clock, and
 * the whole poller on a fake clock with fake upstream ports (status calls and a scripted status
 * stream), over a real in-memory SQLite store. Nothing here waits on real time.
 */
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import type { Job } from '../../src/domain/job.ts';
import { JobFailureCode } from '../../src/domain/job-failures.ts';
import { decide, decideUnconfirmed, NEW_TRACKING, type PollPolicy } from '../../src/jobs/decisions.ts';
import { createJobEvents } from '../../src/jobs/events.ts';
import { createPoller } from '../../src/jobs/poller.ts';
import { createScheduler, type Clock } from '../../src/jobs/scheduler.ts';
import { createMemoryEventTarget } from '../../src/pubsub/event-target.ts';
import { createSqliteJobStore } from '../../src/store/sqlite-job-store.ts';
import type { FollowOptions, StreamEnd, UpstreamQueue, UpstreamStatus, UpstreamStreams } from '../../src/upstream/upstream-queue.ts';

const T0 = Date.parse('2026-01-01T00:00:00Z');
const policy: PollPolicy = { intervalMs: 1000, maxBackoffMs: 30_000, notFoundLimit: 3, submitGraceMs: 60_000, maxQueueMs: 10_000, maxTotalMs: 0, safetyNetMs: 30_000 };
const ctx = (at = T0) => ({ policy, now: new Date(at), random: () => 0.5 });
const job = (over: Partial<Job> = {}): Job => ({
  id: 'job-1', tenant: 't', userId: null, requestId: 'req-1', model: 'm', status: 'IN_QUEUE', queuePosition: 2, logs: [], video: null, error: null,
  input: { prompt: 'p', imageUrl: 'https://x/y.png', duration: '5', negativePrompt: null, cfgScale: null },
  idempotencyKey: null, cancelRequested: false, createdAt: new Date(T0).toISOString(), updatedAt: new Date(T0).toISOString(), completedAt: null, version: 1, ...over,
});
const status = (s: UpstreamStatus['status'], over: Partial<UpstreamStatus> = {}): UpstreamStatus => ({ status: s, queuePosition: s === 'IN_QUEUE' ? 1 : null, logs: [], error: null, ...over });
const video = { url: 'https://v/out.mp4', contentType: 'video/mp4', fileName: null, fileSize: null };

/** Timers that fire only when the test advances time; `advance` lets the async work they start settle. */
function fakeClock(start = T0): Clock & { advance(ms: number): Promise<void> } {
  let now = start;
  let seq = 0;
  const timers = new Map<number, { at: number; callback: () => void }>();
  const settle = async () => {
    for (let i = 0; i < 20; i++) await new Promise((resolve) => setImmediate(resolve));
  };
  return {
    now: () => now,
    setTimer: (callback, delayMs) => (timers.set(++seq, { at: now + delayMs, callback }), seq),
    clearTimer: (handle) => void timers.delete(handle as number),
    async advance(ms) {
      const end = now + ms;
      await settle();
      for (;;) {
        const due = [...timers.entries()].filter(([, t]) => t.at <= end).sort((a, b) => a[1].at - b[1].at)[0];
        if (!due) break;
        timers.delete(due[0]);
        now = due[1].at;
        due[1].callback();
        await settle();
      }
      now = end;
      await settle();
    },
  };
}

describe('decisions (pure)', () => {
  it('COMPLETED without a result: fetch it first, write nothing yet', () => {
    expect(decide(job(), NEW_TRACKING, { kind: 'status', status: status('COMPLETED'), result: null }, ctx()).effects).toEqual([{ type: 'fetch-result' }]);
  });
  it('a change: one write, then the next poll; with a stream open, the safety net', () => {
    const answer = { kind: 'status', status: status('IN_PROGRESS'), result: null } as const;
    const polled = decide(job(), NEW_TRACKING, answer, ctx()).effects;
    expect(polled.map((e) => e.type)).toEqual(['write', 'poll-in']);
    expect(polled[1]).toEqual({ type: 'poll-in', delayMs: 750 });
    const streamed = decide(job(), { ...NEW_TRACKING, streaming: true }, answer, ctx()).effects;
    expect(streamed[1]).toEqual({ type: 'poll-in', delayMs: policy.safetyNetMs });
  });
  it('upstream failures back off; "not found" too often ends the job UPSTREAM_LOST', () => {
    const notFound = { kind: 'failure', failure: { kind: 'not_found', retryAfterSeconds: null } } as const;
    let tracking = NEW_TRACKING;
    for (let i = 1; i < policy.notFoundLimit; i++) {
      const decision = decide(job(), tracking, notFound, ctx());
      expect(decision.effects.at(-1)?.type).toBe('poll-in');
      tracking = decision.tracking;
    }
    const last = decide(job(), tracking, notFound, ctx());
    const write = last.effects.find((e) => e.type === 'write');
    expect(write && write.type === 'write' && write.change(job())?.error?.code).toBe(JobFailureCode.UPSTREAM_LOST);
    expect(last.effects.at(-1)).toEqual({ type: 'stop' });
  });
  it('a missed deadline cancels upstream and fails with our code, not one of fal\'s', () => {
    const late = decide(job(), NEW_TRACKING, { kind: 'status', status: status('IN_QUEUE'), result: null }, ctx(T0 + 11_000));
    expect(late.effects.map((e) => e.type)).toEqual(['cancel-upstream', 'warn', 'write', 'stop']);
    const write = late.effects[2]!;
    expect(write.type === 'write' && write.change(job())?.error?.code).toBe(JobFailureCode.QUEUE_DEADLINE_EXCEEDED);
  });
  it('no request id past the grace period: SUBMIT_OUTCOME_UNKNOWN, never re-submitted', () => {
    const waiting = decideUnconfirmed(job({ requestId: null }), NEW_TRACKING, ctx(T0 + 1000));
    expect(waiting.effects).toEqual([{ type: 'poll-in', delayMs: 59_000 }]);
    const lost = decideUnconfirmed(job({ requestId: null }), NEW_TRACKING, ctx(T0 + 61_000));
    const write = lost.effects.find((e) => e.type === 'write');
    expect(write && write.type === 'write' && write.change(job({ requestId: null }))?.error?.code).toBe(JobFailureCode.SUBMIT_OUTCOME_UNKNOWN);
  });
});

describe('scheduler (fake clock)', () => {
  it('runs each key when due, at most `concurrency` at once, and reports lag', async () => {
    const clock = fakeClock();
    let inFlight = 0;
    let peak = 0;
    const ran: string[] = [];
    const gates: Array<() => void> = [];
    const lags: number[] = [];
    const scheduler = createScheduler({
      clock,
      concurrency: 2,
      onError: () => undefined,
      onLag: (s) => lags.push(s),
      run: async (key) => {
        inFlight++;
        peak = Math.max(peak, inFlight);
        await new Promise<void>((resolve) => gates.push(resolve));
        ran.push(key);
        inFlight--;
      },
    });
    for (const key of ['a', 'b', 'c']) scheduler.schedule(key, 100);
    await clock.advance(99);
    expect(gates).toHaveLength(0);
    await clock.advance(1);
    expect(gates).toHaveLength(2); // c waits for a slot
    gates.shift()!();
    await clock.advance(0);
    expect(gates).toHaveLength(2);
    while (gates.length) gates.shift()!(), await clock.advance(0);
    expect(ran.sort()).toEqual(['a', 'b', 'c']);
    expect(peak).toBe(2);
    expect(lags).toEqual([0, 0, 0]);
    await scheduler.stop();
  });
});

/** A status stream that follows a script per connection: events, then how it ends (none: until aborted). */
function scriptedStreams(scripts: Array<{ events: UpstreamStatus[]; end?: StreamEnd }>): UpstreamStreams & { opened: number } {
  const fake = {
    opened: 0,
    async follow(_requestId: string, options: FollowOptions): Promise<StreamEnd> {
      const script = scripts[fake.opened++] ?? { events: [] };
      options.onOpen?.();
      for (const event of script.events) options.onStatus(event);
      if (script.end) return script.end;
      return new Promise((resolve) => options.signal.addEventListener('abort', () => resolve({ reason: 'aborted' })));
    },
  };
  return fake;
}

async function machine(streams: UpstreamStreams | null, statuses: UpstreamStatus[]) {
  const clock = fakeClock();
  const store = createSqliteJobStore({ path: ':memory:' });
  const events = createJobEvents(createMemoryEventTarget());
  const calls = { status: 0, result: 0 };
  const upstream: UpstreamQueue = {
    submit: async () => ({ requestId: 'req-1', status: 'IN_QUEUE', queuePosition: 2 }),
    status: async () => statuses[Math.min(calls.status++, statuses.length - 1)]!,
    result: async () => (calls.result++, { ok: true, video }),
    cancel: async () => 'CANCELLATION_REQUESTED',
    close: async () => undefined,
  };
  const poller = createPoller({
    store, upstream, events, clock, logger: pino({ level: 'silent' }), intervalMs: 1000, random: () => 0.5, streams,
    stream: { safetyNetMs: 30_000, stallMs: 20_000, reconnectBaseMs: 500, reconnectMaxMs: 5000, maxStreams: 10 },
  });
  await store.create(job());
  return { clock, store, calls, poller };
}

describe('poller (fake clock, fake ports)', () => {
  it('poll mode: polled every 0.75 s while running, result fetched at once on COMPLETED', async () => {
    const m = await machine(null, [status('IN_PROGRESS'), status('IN_PROGRESS'), status('COMPLETED')]);
    await m.poller.start();
    await m.clock.advance(10_000);
    expect(m.calls).toEqual({ status: 3, result: 1 });
    expect(await m.store.get('job-1')).toMatchObject({ status: 'COMPLETED', video });
    expect(m.poller.trackedCount()).toBe(0);
    await m.poller.stop();
  });

  it('stream mode: events go through the same decisions; a stall reconnects with one poll; no other status call', async () => {
    const log = (k: number) => ({ message: `line ${k}`, level: 'INFO', timestamp: new Date(T0 + k).toISOString() });
    const streams = scriptedStreams([
      { events: [status('IN_QUEUE', { queuePosition: 0 }), status('IN_PROGRESS', { logs: [log(1), log(2)] })], end: { reason: 'stalled' } },
      { events: [status('IN_PROGRESS', { logs: [log(2), log(3)] }), status('COMPLETED')], end: { reason: 'completed' } },
    ]);
    const m = await machine(streams, [status('IN_PROGRESS', { logs: [log(3)] })]);
    await m.poller.start();
    await m.clock.advance(0);
    expect(await m.store.get('job-1')).toMatchObject({ status: 'IN_PROGRESS', logs: [log(1), log(2)] });
    expect(m.calls.status).toBe(0);
    // The backoff (500 ms base, jittered) runs out; the stream is opened again and polled once.
    await m.clock.advance(2000);
    expect(streams.opened).toBe(2);
    expect(await m.store.get('job-1')).toMatchObject({ status: 'COMPLETED', logs: [log(1), log(2), log(3)], video });
    expect(m.calls).toEqual({ status: 1, result: 1 });
    await m.clock.advance(60_000);
    expect(m.calls.status).toBe(1);
    await m.poller.stop();
  });

  it('stream mode, stream open and quiet: only the safety net polls', async () => {
    const m = await machine(scriptedStreams([{ events: [status('IN_QUEUE', { queuePosition: 2 })] }]), [status('IN_QUEUE', { queuePosition: 2 })]);
    await m.poller.start();
    await m.clock.advance(95_000);
    expect(m.calls.status).toBe(3); // ~ every 30 s, against ~95 at one a second
    expect(m.poller.openStreams()).toBe(1);
    await m.poller.stop();
    expect(m.poller.openStreams()).toBe(0);
  });
});

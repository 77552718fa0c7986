/**
 * The status stream as fal serves it (FAL_QUEUE.md 1.3) and its fault switches: refused, dropped,
 * stalled, ended early.
 */
import { describe, expect, it } from 'vitest';
import { waitFor, within } from '../helpers/wait-for.ts';
import { APP, openStream, start, submit } from './sim-helpers.ts';

describe('status stream', () => {
  it('sends data: events with the status object, keep-alive comments, and closes after COMPLETED', async () => {
    const sim = await start({ streamKeepAliveMs: 30 });
    sim.pause(); // the job stays queued until the keep-alives are seen
    const id = await submit(sim);
    const stream = await openStream(sim, id);
    expect(stream.status).toBe(200);
    expect(stream.headers['content-type']).toBe('text/event-stream');
    await waitFor(() => stream.raw().split(': keep-alive\n\n').length > 2, { message: 'two keep-alive comments' });
    expect(sim.openStreams(id)).toBe(1);
    expect(sim.openStreams()).toBe(1);
    sim.resume();
    await expect(within(stream.done, 10_000, 'the stream to end')).resolves.toBe('end');
    const statuses = stream.events.map((e) => e.status);
    expect(statuses[0]).toBe('IN_QUEUE');
    expect(statuses.at(-1)).toBe('COMPLETED');
    expect(statuses).toContain('IN_PROGRESS');
    expect(stream.events.at(-1)).toMatchObject({ request_id: id, status_url: expect.stringContaining(`/requests/${id}/status`) });
    const lines = stream.events.flatMap((e) => e.logs ?? []).map((l: { message: string }) => l.message);
    expect(new Set(lines).size).toBe(lines.length); // each line once
    expect(sim.stats.stream).toBe(1);
    expect(sim.statusCalls(id)).toBe(0);
    await waitFor(() => sim.openStreams() === 0, { message: 'the stream to be counted closed' });
  });

  it('ends every stream with COMPLETED, however its last timer falls against the end of the run', { timeout: 30_000 }, async () => {
    // A timer may fire a hair before the instant it was set for. At the end of a run, the stream once
    // saw the job running (no event), then, reading the clock again to sleep, saw it ended (nothing
    // left to wait for) and never wrote COMPLETED: fal's own client then waited forever. Many short
    // runs with odd log steps put some last timer just short of the end.
    const sim = await start({ timing: { initialQueuePosition: 0, queueStepMs: 10, runMs: 97, logEveryMs: 7, logWindowMs: 1_000 } });
    const ids = await Promise.all(Array.from({ length: 60 }, () => submit(sim)));
    const streams = await Promise.all(ids.map((id) => openStream(sim, id)));
    const ends = await within(Promise.all(streams.map((stream) => stream.done)), 10_000, 'every stream to end');
    expect(ends.every((end) => end === 'end')).toBe(true);
    expect(streams.map((stream) => stream.events.at(-1)?.status)).toEqual(ids.map(() => 'COMPLETED'));
  });

  it('writes each event at the instant of its change (fal pushes at once), not at the next look', async () => {
    // Changes every second: a stream that looked for changes ten times a step would be 50 ms late at the
    // median; at the instant of the change it is a few ms (30 leaves room for a loaded machine).
    const sim = await start({ timing: { initialQueuePosition: 0, queueStepMs: 1_000, runMs: 4_000, logEveryMs: 1_000, logWindowMs: 2_000 } });
    const id = await submit(sim);
    const stream = await openStream(sim, id);
    const lateMs: number[] = [];
    let seen = 0;
    stream.response.on('data', () => {
      const now = Date.now();
      for (const event of stream.events.slice(seen)) {
        const newest = (event.logs as Array<{ timestamp: string }> | undefined)?.at(-1);
        if (newest && event.status === 'IN_PROGRESS') lateMs.push(now - Date.parse(newest.timestamp));
      }
      seen = stream.events.length;
    });
    await within(stream.done, 10_000, 'the stream to end');
    lateMs.sort((a, b) => a - b);
    expect(lateMs.length).toBeGreaterThanOrEqual(4);
    expect(lateMs[Math.floor(lateMs.length / 2)]).toBeLessThan(30);
  });

  it('pushes a cancel at once: the stream says COMPLETED (cancelled) by the time the cancel is answered', async () => {
    // No log lines, long queue steps: nothing else would wake the stream for a while.
    const sim = await start({ timing: { initialQueuePosition: 5, queueStepMs: 5_000, runMs: 10_000, logEveryMs: 0, logWindowMs: 1_000 } });
    const lags = await Promise.all(
      [1, 2, 3].map(async () => {
        const id = await submit(sim);
        const stream = await openStream(sim, id);
        await waitFor(() => stream.events.length > 0, { message: 'the first event' });
        const ended = within(stream.done, 5_000, 'the stream to end after the cancel').then(() => Date.now());
        expect((await fetch(`${sim.url}/${APP}/requests/${id}/cancel`, { method: 'PUT' })).status).toBe(202);
        const answered = Date.now();
        const end = await ended;
        expect(stream.events.at(-1)).toMatchObject({ status: 'COMPLETED' });
        return end - answered;
      }),
    );
    for (const lag of lags) expect(lag).toBeLessThan(20);
  });

  it("'http' refuses the stream with the given status", async () => {
    const sim = await start();
    const id = await submit(sim);
    sim.addFault({ operation: 'stream', kind: 'http', status: 503 });
    const refused = await openStream(sim, id);
    expect(refused.status).toBe(503);
    const next = await openStream(sim, id);
    expect(next.status).toBe(200);
    await within(next.done, 10_000, 'the second stream to end');
    expect(next.events.at(-1)?.status).toBe('COMPLETED');
    expect(sim.stats.stream).toBe(2);
  });

  it("'drop' destroys the socket after afterEvents events", async () => {
    const sim = await start();
    const id = await submit(sim);
    sim.addFault({ operation: 'stream', kind: 'drop', afterEvents: 2 });
    const stream = await openStream(sim, id);
    await expect(within(stream.done, 10_000, 'the drop')).resolves.toBe('error');
    expect(stream.events).toHaveLength(2);
    expect(stream.events.map((e) => e.status)).not.toContain('COMPLETED');
  });

  it("'drop' without afterEvents cuts after the first event", async () => {
    const sim = await start();
    const id = await submit(sim);
    sim.addFault({ operation: 'stream', kind: 'drop' });
    const stream = await openStream(sim, id);
    await expect(within(stream.done, 10_000, 'the drop')).resolves.toBe('error');
    expect(stream.events).toHaveLength(1);
  });

  it("'stall' goes silent after afterEvents events (no keep-alives) and keeps the socket open", async () => {
    const sim = await start({ streamKeepAliveMs: 20 });
    const id = await submit(sim);
    sim.addFault({ operation: 'stream', kind: 'stall', afterEvents: 1 });
    const stream = await openStream(sim, id);
    let ended = false;
    void stream.done.then(() => (ended = true));
    await waitFor(async () => (await fetch(`${sim.url}/fal-ai/kling-video/requests/${id}/status`)).status === 200, { message: 'the job to complete' });
    // The job completed meanwhile (20 keep-alive periods and more): the stalled stream said nothing more.
    expect(stream.events).toHaveLength(1);
    expect(stream.raw()).not.toContain('keep-alive');
    expect(ended).toBe(false);
    expect(stream.response.socket?.destroyed ?? true).toBe(false);
  });

  it("'end-early' ends the response cleanly after afterEvents events, without COMPLETED", async () => {
    const sim = await start();
    const id = await submit(sim);
    sim.addFault({ operation: 'stream', kind: 'end-early', afterEvents: 2 });
    const stream = await openStream(sim, id);
    await expect(within(stream.done, 10_000, 'the early end')).resolves.toBe('end');
    expect(stream.events).toHaveLength(2);
    expect(stream.events.map((e) => e.status)).not.toContain('COMPLETED');
  });

  it("a stream-only kind ('stall') armed on status leaves the poll answered normally", async () => {
    const sim = await start();
    const id = await submit(sim);
    sim.addFault({ operation: 'status', kind: 'stall' });
    const poll = await fetch(`${sim.url}/fal-ai/kling-video/requests/${id}/status`);
    expect([200, 202]).toContain(poll.status);
  });
});

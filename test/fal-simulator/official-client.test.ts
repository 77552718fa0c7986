/**
 * The simulator through fal's official client (@fal-ai/client), unchanged.
 */
import { describe, expect, it } from 'vitest';
import { ApiError } from '@fal-ai/client';
import type { QueueStatus, RequestLog } from '@fal-ai/client';
import { MODEL, APP, INPUT, FAST, STEPPED, start, officialClient } from './wire-helpers.ts';
import { waitFor } from '../helpers/wait-for.ts';

describe('fal simulator with @fal-ai/client', () => {
  it('submits, polls with logs, and fetches the result', async () => {
    const sim = await start({ apiKey: 'test-id:test-secret', timing: { ...FAST, queueStepMs: 200, runMs: 600 } }); // slow enough to be seen in each state under load
    const fal = officialClient(sim);
    const queued = await fal.queue.submit(MODEL, { input: INPUT });
    expect(queued.status).toBe('IN_QUEUE');
    expect(queued.queue_position).toBe(3);

    const updates: QueueStatus[] = [];
    const final = await fal.queue.subscribeToStatus(MODEL, {
      requestId: queued.request_id,
      logs: true,
      pollInterval: 10,
      onQueueUpdate: (update) => updates.push(update),
    });
    expect(final.status).toBe('COMPLETED');
    const seen = [...new Set(updates.map((u) => u.status))];
    expect(seen).toEqual(['IN_QUEUE', 'IN_PROGRESS', 'COMPLETED']);
    const logged = updates.flatMap((u) => ('logs' in u && Array.isArray(u.logs) ? u.logs : []));
    expect(logged.length).toBeGreaterThan(0);

    const { data, requestId } = await fal.queue.result(MODEL, { requestId: queued.request_id });
    expect(requestId).toBe(queued.request_id);
    expect(data.video.url).toBe(`${sim.url}/files/${queued.request_id}/output.mp4`);

    // the credential reached the right paths
    const paths = sim.requests.map((r) => `${r.method} ${r.path.split('?')[0]} ${r.authorization}`);
    expect(paths[0]).toBe(`POST /${MODEL} Key test-id:test-secret`);
    expect(paths).toContain(`GET /${APP}/requests/${queued.request_id}/status Key test-id:test-secret`);
    expect(sim.requests.find((r) => r.path.includes('/status?'))?.path).toContain('logs=1');
    expect(sim.statusCalls(queued.request_id)).toBe(sim.stats.status);
    expect(sim.stats).toMatchObject({ submit: 1, result: 1, cancel: 0, stream: 0 });
  });

  it('streams status events until COMPLETED, each carrying only new log lines', async () => {
    const sim = await start({ timing: STEPPED });
    const fal = officialClient(sim);
    sim.pause(); // held in the queue until the stream has its first event, however slow the machine
    const { request_id } = await fal.queue.submit(MODEL, { input: INPUT });
    const stream = await fal.queue.streamStatus(MODEL, { requestId: request_id, logs: true });
    const events: QueueStatus[] = [];
    stream.on('data', (event: QueueStatus) => events.push(event));
    await waitFor(() => events.length > 0, { message: 'the first stream event' });
    sim.resume();
    const last = await stream.done();

    expect(last.status).toBe('COMPLETED');
    expect(events.at(-1)?.status).toBe('COMPLETED');
    const positions = events.flatMap((e) => (e.status === 'IN_QUEUE' ? [e.queue_position] : []));
    expect(positions).toEqual([3, 2, 1, 0]);
    const lines = events.flatMap((e) => ('logs' in e && Array.isArray(e.logs) ? e.logs : [])).map((l: RequestLog) => l.message);
    expect(lines.length).toBeGreaterThanOrEqual(5);
    expect(new Set(lines).size).toBe(lines.length); // no line repeated across events
    expect(sim.stats.stream).toBe(1);
  });

  it('cancels a queued job, then reports ALREADY_COMPLETED as an ApiError', async () => {
    const sim = await start({ timing: { ...FAST, queueStepMs: 10_000 } });
    const fal = officialClient(sim);
    const { request_id } = await fal.queue.submit(MODEL, { input: INPUT });
    await fal.queue.cancel(MODEL, { requestId: request_id });
    const after = await fal.queue.status(MODEL, { requestId: request_id });
    expect(after).toMatchObject({ status: 'COMPLETED', error: 'Request was cancelled', error_type: 'cancelled' });
    const again = await fal.queue.cancel(MODEL, { requestId: request_id }).catch((e: unknown) => e);
    expect(again).toBeInstanceOf(ApiError);
    expect((again as ApiError<unknown>).status).toBe(400);
    expect((again as ApiError<unknown>).body).toEqual({ status: 'ALREADY_COMPLETED' });
  });
});

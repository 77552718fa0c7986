/**
 * The simulator's queue over raw HTTP: fal's shapes, URLs, statuses, logs, errors and files.
 */
import { describe, expect, it } from 'vitest';
import { request } from 'undici';
import type { RequestLog } from '@fal-ai/client';
import { APP, INPUT, FAST, STEPPED, start, waitFor, call, submit, status, result, cancel, submitId, untilCompleted } from './wire-helpers.ts';

describe('fal simulator over raw HTTP', () => {
  it('answers submit with fal’s shape, owner/app URLs and x-fal-request-id', async () => {
    const sim = await start();
    const answer = await submit(sim);
    const id = answer.json.request_id as string;
    expect(answer.status).toBe(200);
    expect(answer.headers['x-fal-request-id']).toBe(id);
    expect(id).toMatch(/^[0-9a-f-]{36}$/);
    expect(answer.json).toEqual({
      status: 'IN_QUEUE',
      request_id: id,
      response_url: `${sim.url}/${APP}/requests/${id}`,
      status_url: `${sim.url}/${APP}/requests/${id}/status`,
      cancel_url: `${sim.url}/${APP}/requests/${id}/cancel`,
      logs: null,
      metrics: {},
      queue_position: 3,
    });
    expect(sim.jobCount()).toBe(1);
  });

  it('names urlOrigin in its URLs and derives workflows/{owner}/{app}', async () => {
    const sim = await start({ urlOrigin: 'https://queue.fal.run', modelId: 'workflows/acme/my-flow/sub' });
    const answer = await call(sim, 'POST', '/workflows/acme/my-flow/sub', { body: INPUT });
    const id = answer.json.request_id as string;
    expect(answer.json.status_url).toBe(`https://queue.fal.run/workflows/acme/my-flow/requests/${id}/status`);
    const polled = await call(sim, 'GET', `/workflows/acme/my-flow/requests/${id}/status`);
    expect(polled.status).toBe(202);
  });

  it('rejects a missing field at submit with a 422 detail array', async () => {
    const sim = await start();
    const answer = await submit(sim, { prompt: 'x' });
    expect(answer.status).toBe(422);
    expect(answer.json).toEqual({ detail: [{ loc: ['body', 'image_url'], msg: 'Field required', type: 'missing' }] });
    expect(sim.jobCount()).toBe(0);
  });

  it('answers 202 while queued or running, 200 once COMPLETED, with falling queue positions', async () => {
    const sim = await start();
    sim.pause(); // the first poll sees the job as submitted, however slow the machine
    const id = await submitId(sim);
    const seen: Array<{ code: number; status: string; position: number | undefined }> = [];
    const first = await status(sim, id, '?logs=0');
    seen.push({ code: first.status, status: first.json.status, position: first.json.queue_position });
    sim.resume();
    await waitFor(async () => {
      const answer = await status(sim, id, '?logs=0');
      seen.push({ code: answer.status, status: answer.json.status, position: answer.json.queue_position });
      return answer.json.status === 'COMPLETED';
    });
    for (const s of seen) expect(s.code).toBe(s.status === 'COMPLETED' ? 200 : 202);
    const positions = seen.filter((s) => s.status === 'IN_QUEUE').map((s) => s.position ?? -1);
    expect(positions[0]).toBe(3);
    // A loaded machine may poll past a position; what is seen only falls, and never below 0.
    positions.forEach((p, i) => expect(p).toBeLessThanOrEqual(positions[i - 1] ?? p));
    expect(Math.min(...positions)).toBeGreaterThanOrEqual(0);
    expect(seen.filter((s) => s.status !== 'IN_QUEUE').every((s) => s.position === undefined)).toBe(true);
    const order = [...new Set(seen.map((s) => s.status))];
    expect(order[0]).toBe('IN_QUEUE');
    expect(order.at(-1)).toBe('COMPLETED');
    expect(['IN_QUEUE,IN_PROGRESS,COMPLETED', 'IN_QUEUE,COMPLETED']).toContain(order.join(','));

    const done = await call(sim, 'GET', `/${APP}/requests/${id}/status/?logs=false`); // trailing slash
    expect(done.status).toBe(200);
    expect(done.json).toMatchObject({ status: 'COMPLETED', logs: null, metrics: { inference_time: 0.15 } });
    expect(done.json.error).toBeUndefined();
  });

  it('returns logs as a sliding window whose lines keep their timestamps', async () => {
    const sim = await start({ timing: { ...FAST, initialQueuePosition: 0, queueStepMs: 10, runMs: 5000 } });
    const id = await submitId(sim);
    const stamps = new Map<string, string>();
    let first: string | undefined;
    await waitFor(async () => {
      const answer = await status(sim, id, '?logs=true');
      const logs = answer.json.logs as RequestLog[];
      for (const line of logs) {
        expect(line).toMatchObject({ level: 'INFO', source: 'USER' });
        expect(stamps.get(line.message) ?? line.timestamp).toBe(line.timestamp);
        stamps.set(line.message, line.timestamp);
      }
      const times = logs.map((l) => Date.parse(l.timestamp));
      expect(times).toEqual([...times].sort((a, b) => a - b));
      expect((times.at(-1) ?? 0) - (times[0] ?? 0)).toBeLessThan(60); // all inside one window
      first ??= logs[0]?.message;
      // done once the first line seen has slid out of the window
      return first !== undefined && logs.length > 0 && !logs.some((l) => l.message === first);
    });
    expect(stamps.size).toBeGreaterThan(3);
  });

  it('requires the configured key (Key or Bearer) everywhere but /files', async () => {
    const sim = await start({ apiKey: 'secret-1' });
    const wrong = await submit(sim, INPUT, 'Key nope');
    expect(wrong.status).toBe(401);
    expect(wrong.json).toEqual({ detail: 'No user found for Key ID and Secret' });
    expect((await submit(sim, INPUT)).status).toBe(401);
    const viaKey = await submit(sim, INPUT, 'Key secret-1');
    expect(viaKey.status).toBe(200);
    const viaBearer = await call(sim, 'GET', `/${APP}/requests/${viaKey.json.request_id}/status`, { auth: 'Bearer secret-1' });
    expect(viaBearer.status).toBe(202);
    const file = await call(sim, 'GET', `/files/${viaKey.json.request_id}/output.mp4`);
    expect(file.status).toBe(200);
    expect(sim.requests.map((r) => r.authorization)).toEqual(['Key nope', null, 'Key secret-1', 'Bearer secret-1', null]);
  });

  it('answers 400 for a result before completion and serves the video after', async () => {
    const sim = await start();
    const id = await submitId(sim);
    const early = await result(sim, id);
    expect(early.status).toBe(400);
    expect(early.json).toEqual({ detail: 'Request is still in progress' });
    await untilCompleted(sim, id);
    const done = await call(sim, 'GET', `/${APP}/requests/${id}/`);
    expect(done.status).toBe(200);
    expect(done.headers['x-fal-request-id']).toBe(id);
    expect(done.headers['x-fal-billable-units']).toBe('1');
    const video = done.json.video;
    expect(video).toMatchObject({ content_type: 'video/mp4', file_name: 'output.mp4' });
    const file = await request(video.url);
    expect(file.headers['content-type']).toBe('video/mp4');
    expect((await file.body.arrayBuffer()).byteLength).toBe(video.file_size);
  });

  it('ends [sim:fail] with a runner error and a 500 result', async () => {
    const sim = await start();
    const id = await submitId(sim, { ...INPUT, prompt: 'boom [sim:fail]' });
    const done = await untilCompleted(sim, id);
    expect(done.json).toMatchObject({ error: 'Internal error while generating the video', error_type: 'runner_error' });
    const answer = await result(sim, id);
    expect(answer.status).toBe(500);
    expect(answer.json).toEqual({ detail: 'Internal Server Error' });
  });

  it('ends [sim:422] with an error and a 422 image_load_error result', async () => {
    const sim = await start();
    const id = await submitId(sim, { ...INPUT, prompt: 'bad image [sim:422]' });
    const done = await untilCompleted(sim, id);
    expect(done.json.error).toEqual(expect.any(String));
    const answer = await result(sim, id);
    expect(answer.status).toBe(422);
    expect(answer.json.detail[0]).toMatchObject({ loc: ['body', 'image_url'], type: 'image_load_error' });
  });

  it('starts [sim:fast] jobs IN_PROGRESS with no queue_position', async () => {
    const sim = await start();
    const answer = await submit(sim, { ...INPUT, prompt: 'quick [sim:fast]' });
    expect(answer.json.status).toBe('IN_PROGRESS');
    expect('queue_position' in answer.json).toBe(false);
  });

  it('accepts a prompt over 2500 characters and fails it only at the result (422)', async () => {
    const sim = await start();
    const id = await submitId(sim, { ...INPUT, prompt: 'x'.repeat(2501) });
    const done = await untilCompleted(sim, id);
    expect(done.json.error).toEqual(expect.any(String));
    const answer = await result(sim, id);
    expect(answer.status).toBe(422);
    expect(answer.json).toEqual({
      detail: [{ loc: ['body', 'prompt'], msg: 'String should have at most 2500 characters', type: 'string_too_long' }],
    });
  });

  it('cancels queued and running jobs with 202, then says ALREADY_COMPLETED; unknown ids are 404', async () => {
    const sim = await start({ timing: { ...FAST, runMs: 10_000 } });
    const queued = await submitId(sim);
    const first = await cancel(sim, queued);
    expect(first.status).toBe(202);
    expect(first.json).toEqual({ status: 'CANCELLATION_REQUESTED' });
    const again = await cancel(sim, queued);
    expect(again.status).toBe(400);
    expect(again.json).toEqual({ status: 'ALREADY_COMPLETED' });
    expect((await result(sim, queued)).json).toEqual({ detail: 'Request was cancelled' });

    const runner = await submitId(sim, { ...INPUT, prompt: 'go [sim:fast]' });
    expect((await cancel(sim, runner)).status).toBe(202);
    const after = await status(sim, runner);
    expect(after.status).toBe(200);
    expect(after.json).toMatchObject({ status: 'COMPLETED', error: 'Request was cancelled', error_type: 'cancelled', metrics: {} });

    expect(await cancel(sim, 'nope')).toMatchObject({ status: 404, json: { status: 'NOT_FOUND' } });
    expect(await status(sim, 'nope')).toMatchObject({ status: 404, json: { detail: 'Request nope not found' } });
    expect(await result(sim, 'nope')).toMatchObject({ status: 404 });
    expect(await call(sim, 'GET', '/x')).toMatchObject({ status: 404, json: { detail: 'Path /x not found' } });
  });

  it('freezes progress while paused', async () => {
    const sim = await start();
    const id = await submitId(sim);
    sim.pause();
    const frozen = (await status(sim, id)).json;
    const until = Date.now() + 5 * FAST.queueStepMs;
    await waitFor(async () => {
      expect((await status(sim, id)).json).toEqual(frozen);
      return Date.now() > until;
    });
    const held = await submitId(sim); // submitted while paused: stays at the start
    expect((await status(sim, held)).json.queue_position).toBe(3);
    sim.resume();
    await untilCompleted(sim, id);
  });

  it('applies setTiming to jobs submitted afterwards', async () => {
    const sim = await start();
    sim.setTiming({ initialQueuePosition: 7 });
    expect((await submit(sim)).json.queue_position).toBe(7);
  });

  it('streams SSE with the right content type and closes after COMPLETED', async () => {
    const sim = await start({ timing: STEPPED });
    const id = await submitId(sim);
    const res = await request(`${sim.url}/${APP}/requests/${id}/status/stream?logs=0`);
    expect(res.headers['content-type']).toBe('text/event-stream');
    const text = await res.body.text(); // resolves because the server closes the stream
    const events = text.split('\n\n').filter((chunk) => chunk.startsWith('data: ')).map((chunk) => JSON.parse(chunk.slice(6)));
    expect(events.map((e) => e.status)).toEqual(['IN_QUEUE', 'IN_QUEUE', 'IN_QUEUE', 'IN_QUEUE', 'IN_PROGRESS', 'COMPLETED']);
    expect(events.every((e) => e.logs === null)).toBe(true);
  });

  it('close() does not hang with an open status stream', async () => {
    const sim = await start({ timing: { ...FAST, queueStepMs: 60_000 } });
    const id = await submitId(sim);
    const res = await request(`${sim.url}/${APP}/requests/${id}/status/stream`);
    const reading = res.body.text().then(
      () => 'ended',
      () => 'errored',
    );
    const started = Date.now();
    await sim.close();
    expect(Date.now() - started).toBeLessThan(1000);
    expect(['ended', 'errored']).toContain(await reading);
  });
});

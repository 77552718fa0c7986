import { afterEach, describe, expect, it } from 'vitest';
import { request } from 'undici';
import { ApiError, createFalClient } from '@fal-ai/client';
import type { QueueStatus, RequestLog } from '@fal-ai/client';
import { startFalSimulator } from '../../src/fal-simulator/index.ts';
import type { FalSimulator, FalSimulatorOptions, SimulatorTiming } from '../../src/fal-simulator/index.ts';

const MODEL = 'fal-ai/kling-video/v2.5-turbo/pro/image-to-video';
const APP = 'fal-ai/kling-video';
const INPUT = { prompt: 'a cat surfing', image_url: 'https://example.com/cat.png' };
const FAST: SimulatorTiming = { initialQueuePosition: 3, queueStepMs: 30, runMs: 150, logEveryMs: 20, logWindowMs: 60 };
/** Slower queue steps for tests that expect to see every single state as an event. */
const STEPPED: SimulatorTiming = { ...FAST, queueStepMs: 80 };

// ---------------------------------------------------------------------------------------------
// helpers

const running: FalSimulator[] = [];
afterEach(async () => {
  await Promise.all(running.splice(0).map((sim) => sim.close()));
});

async function start(options: FalSimulatorOptions = {}): Promise<FalSimulator> {
  const sim = await startFalSimulator({ timing: FAST, ...options });
  running.push(sim);
  return sim;
}

/** Polls `probe` until it returns something other than undefined/false, or fails after `timeoutMs`. */
async function waitFor<T>(probe: () => Promise<T | undefined | false> | T | undefined | false, timeoutMs = 3000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
  json: any; // parsed JSON body (undefined when not JSON); loose on purpose for terse assertions
}

async function call(sim: FalSimulator, method: 'GET' | 'POST' | 'PUT', path: string, options: { body?: unknown; auth?: string } = {}): Promise<Answer> {
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  if (options.auth) headers.authorization = options.auth;
  const res = await request(`${sim.url}${path}`, {
    method,
    headers,
    body: options.body === undefined ? undefined : JSON.stringify(options.body),
  });
  const text = await res.body.text();
  let json: unknown = undefined;
  try {
    json = JSON.parse(text);
  } catch {
    // not JSON (malformed fault, files)
  }
  return { status: res.statusCode, headers: res.headers, text, json };
}

const submit = (sim: FalSimulator, input: unknown = INPUT, auth?: string) => call(sim, 'POST', `/${MODEL}`, { body: input, auth });
const status = (sim: FalSimulator, id: string, query = '') => call(sim, 'GET', `/${APP}/requests/${id}/status${query}`);
const result = (sim: FalSimulator, id: string) => call(sim, 'GET', `/${APP}/requests/${id}`);
const cancel = (sim: FalSimulator, id: string) => call(sim, 'PUT', `/${APP}/requests/${id}/cancel`);

async function submitId(sim: FalSimulator, input: unknown = INPUT): Promise<string> {
  const answer = await submit(sim, input);
  expect(answer.status).toBe(200);
  return answer.json.request_id as string;
}

const untilCompleted = (sim: FalSimulator, id: string) =>
  waitFor(async () => {
    const answer = await status(sim, id);
    return answer.json.status === 'COMPLETED' && answer;
  });

function officialClient(sim: FalSimulator) {
  return createFalClient({
    credentials: 'test-id:test-secret',
    requestMiddleware: async (req) => ({ ...req, url: req.url.replace(/^https:\/\/queue\.fal\.run/, sim.url) }),
  });
}

// ---------------------------------------------------------------------------------------------
// the official client, unchanged

describe('fal simulator with @fal-ai/client', () => {
  it('submits, polls with logs, and fetches the result', async () => {
    const sim = await start({ apiKey: 'test-id:test-secret' });
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
    const { request_id } = await fal.queue.submit(MODEL, { input: INPUT });
    const stream = await fal.queue.streamStatus(MODEL, { requestId: request_id, logs: true });
    const events: QueueStatus[] = [];
    stream.on('data', (event: QueueStatus) => events.push(event));
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

// ---------------------------------------------------------------------------------------------
// raw HTTP

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
    const id = await submitId(sim);
    const seen: Array<{ code: number; status: string; position: number | undefined }> = [];
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

// ---------------------------------------------------------------------------------------------
// faults

describe('fal simulator faults', () => {
  it('http 500 once, then normal; faulted calls still count', async () => {
    const sim = await start();
    const id = await submitId(sim);
    sim.addFault({ operation: 'status', kind: 'http', status: 500 });
    const faulted = await status(sim, id);
    expect(faulted.status).toBe(500);
    expect(faulted.json).toEqual({ detail: 'Internal Server Error' });
    expect((await status(sim, id)).status).toBe(202);
    expect(sim.statusCalls(id)).toBe(2);
    expect(sim.stats.status).toBe(2);
  });

  it('http 429 with a retry-after header and a custom body', async () => {
    const sim = await start();
    sim.addFault({ operation: 'submit', kind: 'http', status: 429, headers: { 'retry-after': '1' }, body: { detail: 'slow down' } });
    const answer = await submit(sim);
    expect(answer.status).toBe(429);
    expect(answer.headers['retry-after']).toBe('1');
    expect(answer.json).toEqual({ detail: 'slow down' });
    expect(sim.jobCount()).toBe(0);
    expect(sim.stats.submit).toBe(1);
  });

  it('drop destroys the socket without an answer', async () => {
    const sim = await start();
    sim.addFault({ operation: 'any', kind: 'drop' });
    const error = await submit(sim).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(Error);
    expect((error as { code?: string }).code).toMatch(/^UND_ERR_SOCKET|ECONNRESET$/);
    expect((await submit(sim)).status).toBe(200);
  });

  it('delay answers normally after the delay', async () => {
    const sim = await start();
    const id = await submitId(sim);
    sim.addFault({ operation: 'result', kind: 'delay', delayMs: 150 });
    const started = Date.now();
    const answer = await result(sim, id);
    expect(Date.now() - started).toBeGreaterThanOrEqual(140);
    expect(answer.status).toBe(400); // still in progress, served normally
  });

  it('malformed answers 200 with a body that is not JSON', async () => {
    const sim = await start();
    const id = await submitId(sim);
    sim.addFault({ operation: 'status', kind: 'malformed' });
    const answer = await status(sim, id);
    expect(answer.status).toBe(200);
    expect(answer.text).toBe('{not json');
  });

  it('afterCompleted result faults wait for completion; times and clearFaults work', async () => {
    const sim = await start();
    const id = await submitId(sim);
    sim.addFault({ operation: 'result', kind: 'http', status: 504, afterCompleted: true, times: 2 });
    expect((await result(sim, id)).status).toBe(400); // not completed: fault not consumed
    await untilCompleted(sim, id);
    expect((await result(sim, id)).status).toBe(504);
    expect((await result(sim, id)).status).toBe(504);
    expect((await result(sim, id)).status).toBe(200);

    sim.addFault({ operation: 'any', kind: 'http', status: 503, times: Infinity });
    expect((await status(sim, id)).status).toBe(503);
    expect((await cancel(sim, id)).status).toBe(503);
    sim.clearFaults();
    expect((await status(sim, id)).status).toBe(200);
  });
});

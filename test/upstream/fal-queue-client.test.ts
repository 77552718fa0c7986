/**
 * createFalQueueClient against a real fal simulator over HTTP (port 0, no mocks): one fresh
 * simulator + undici pool + client per test, fast timing, fast retries, bounded polling waits.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { createServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import type { Pool } from 'undici';
import { createFalQueueClient } from '../../src/upstream/fal-queue-client.ts';
import type { FalQueueClientOptions } from '../../src/upstream/fal-queue-client.ts';
import { startFalSimulator } from '../../src/fal-simulator/index.ts';
import type { FalSimulator, FalSimulatorOptions, RecordedRequest, SimulatorTiming } from '../../src/fal-simulator/index.ts';
import { createUpstreamPool } from '../../src/upstream/pool.ts';
import type { RetryPolicy } from '../../src/upstream/retry.ts';
import { UpstreamError } from '../../src/upstream/upstream-queue.ts';
import type { UpstreamQueue, UpstreamStatus } from '../../src/upstream/upstream-queue.ts';
import type { VideoInput } from '../../src/domain/job.ts';
import { waitFor } from '../helpers/wait-for.ts';

const MODEL = 'fal-ai/kling-video/v2.5-turbo/pro/image-to-video';
const APP = 'fal-ai/kling-video';
const CREDENTIAL = 'test-key-id:test-key-secret-4f2a9c';
const FAST_TIMING: SimulatorTiming = { initialQueuePosition: 2, queueStepMs: 30, runMs: 120, logEveryMs: 20, logWindowMs: 50 };
const FAST_RETRY: RetryPolicy = { maxRetries: 2, baseDelayMs: 10, maxDelayMs: 100 };

function input(prompt = 'a cat surfing a wave at sunset'): VideoInput {
  return { prompt, imageUrl: 'https://example.com/cat.png', duration: '5', negativePrompt: null, cfgScale: null };
}

// ---------------------------------------------------------------------------------------------
// harness

interface RetryCall {
  operation: string;
  kind: string;
  delayMs: number;
}

interface Harness {
  sim: FalSimulator;
  pool: Pool;
  client: UpstreamQueue;
  /** Every onRetry the client reported. */
  retries: RetryCall[];
}

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  // Pools first (they hold sockets to the simulators), then the simulators.
  for (const cleanup of cleanups.splice(0)) await cleanup().catch(() => undefined);
});

async function startSim(options: FalSimulatorOptions = {}): Promise<FalSimulator> {
  const sim = await startFalSimulator({ apiKey: CREDENTIAL, timing: FAST_TIMING, recordRequests: true, ...options });
  cleanups.push(() => sim.close());
  return sim;
}

function clientFor(baseUrl: string, overrides: Partial<FalQueueClientOptions> = {}): { pool: Pool; client: UpstreamQueue; retries: RetryCall[] } {
  const pool = createUpstreamPool({ baseUrl, connectTimeoutMs: 2000 });
  const retries: RetryCall[] = [];
  const client = createFalQueueClient({
    dispatcher: pool,
    baseUrl,
    credential: () => CREDENTIAL,
    authScheme: 'Key',
    modelId: MODEL,
    retry: FAST_RETRY,
    timeoutMs: 2000,
    onRetry: (operation, error, delayMs) => retries.push({ operation, kind: error.kind, delayMs }),
    ...overrides,
  });
  cleanups.unshift(async () => {
    await client.close();
    await pool.destroy();
  });
  return { pool, client, retries };
}

async function setup(
  options: { sim?: FalSimulatorOptions; client?: Partial<FalQueueClientOptions>; baseUrl?: (sim: FalSimulator) => string } = {},
): Promise<Harness> {
  const sim = await startSim(options.sim);
  const baseUrl = options.baseUrl ? options.baseUrl(sim) : sim.url;
  return { sim, ...clientFor(baseUrl, options.client) };
}

/** The settled rejection of `promise` as an UpstreamError (fails the test if it resolves or throws something else). */
async function upstreamFailure(promise: Promise<unknown>): Promise<UpstreamError> {
  const error: unknown = await promise.then(
    (value) => {
      throw new Error(`expected a rejection, got ${JSON.stringify(value)}`);
    },
    (reason: unknown) => reason,
  );
  expect(error).toBeInstanceOf(UpstreamError);
  return error as UpstreamError;
}

/** Polls status until COMPLETED (bounded), returning every answer seen in order. */
async function pollUntilCompleted(client: UpstreamQueue, requestId: string, timeoutMs = 5000): Promise<UpstreamStatus[]> {
  const seen: UpstreamStatus[] = [];
  await waitFor(
    async () => {
      const status = await client.status(requestId);
      seen.push(status);
      return status.status === 'COMPLETED';
    },
    { timeoutMs, intervalMs: 5, message: `request ${requestId} to complete` },
  );
  return seen;
}

function requestsTo(sim: FalSimulator, method: string, path: string): RecordedRequest[] {
  return sim.requests.filter((r) => r.method === method && r.path === path);
}

/** A port on which nothing listens: bind one, note it, close it. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

const ISO_TIMESTAMP = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$/;

// ---------------------------------------------------------------------------------------------

describe('happy path', () => {
  it('submit answers IN_QUEUE with the queue position fal gave', async () => {
    const { sim, client } = await setup();
    const accepted = await client.submit(input());
    expect(accepted).toEqual({ requestId: expect.any(String), status: 'IN_QUEUE', queuePosition: 2 });
    expect(accepted.requestId.length).toBeGreaterThan(0);
    expect(sim.stats.submit).toBe(1);
    expect(sim.requests.map((r) => `${r.method} ${r.path}`)).toEqual([`POST /${MODEL}`]);
  });

  it('submit of a job that starts at once answers IN_PROGRESS without a queue position', async () => {
    const { client } = await setup();
    const accepted = await client.submit(input('[sim:fast] a dog'));
    expect(accepted.status).toBe('IN_PROGRESS');
    expect(accepted.queuePosition).toBeNull();
  });

  it('status walks IN_QUEUE (falling positions) -> IN_PROGRESS (with logs) -> COMPLETED, then result gives the video', async () => {
    // A queue step long enough that several positions are observed even on a machine so busy that a
    // status call takes tens of milliseconds (50 ms steps were missed at a load of 10 on 2 cores).
    const { sim, client } = await setup({ sim: { timing: { ...FAST_TIMING, queueStepMs: 150 } } });
    const { requestId } = await client.submit(input());
    const seen = await pollUntilCompleted(client, requestId);

    const order = { IN_QUEUE: 0, IN_PROGRESS: 1, COMPLETED: 2 } as const;
    const ranks = seen.map((s) => order[s.status]);
    expect(ranks).toEqual([...ranks].sort((a, b) => a - b));

    const queued = seen.filter((s) => s.status === 'IN_QUEUE');
    expect(queued.length).toBeGreaterThan(0);
    const positions = queued.map((s) => s.queuePosition);
    for (const position of positions) expect(typeof position).toBe('number');
    expect(positions).toEqual([...positions].sort((a, b) => (b ?? 0) - (a ?? 0)));
    expect(new Set(positions).size).toBeGreaterThanOrEqual(2);
    expect(Math.min(...(positions as number[]))).toBeGreaterThanOrEqual(0);
    expect(Math.max(...(positions as number[]))).toBeLessThanOrEqual(2);
    for (const s of queued) expect(s.logs).toEqual([]);

    const running = seen.filter((s) => s.status === 'IN_PROGRESS');
    expect(running.length).toBeGreaterThan(0);
    for (const s of running) {
      expect(s.queuePosition).toBeNull();
      expect(s.error).toBeNull();
      expect(s.logs.length).toBeGreaterThan(0);
      for (const log of s.logs) {
        expect(Object.keys(log).sort()).toEqual(['level', 'message', 'timestamp']);
        expect(log.message).toEqual(expect.any(String));
        expect(log.level).toBe('INFO');
        expect(log.timestamp).toMatch(ISO_TIMESTAMP);
      }
    }
    expect(running.flatMap((s) => s.logs.map((l) => l.message))).toContain('Starting image-to-video generation');

    const last = seen.at(-1);
    expect(last).toMatchObject({ status: 'COMPLETED', queuePosition: null, error: null });

    const result = await client.result(requestId);
    expect(result).toEqual({
      ok: true,
      video: { url: `${sim.url}/files/${requestId}/output.mp4`, contentType: 'video/mp4', fileName: 'output.mp4', fileSize: expect.any(Number) },
    });
    if (result.ok) expect(result.video.fileSize).toBeGreaterThan(0);
    // Every status poll asked for logs.
    const statusPaths = sim.requests.filter((r) => r.path.includes('/status')).map((r) => r.path);
    expect(new Set(statusPaths)).toEqual(new Set([`/${APP}/requests/${requestId}/status?logs=1`]));
    expect(sim.statusCalls(requestId)).toBe(seen.length);
  });
});

describe('authorization header', () => {
  it("with authScheme 'Key' every call carries `Key <credential>`", async () => {
    const { sim, client } = await setup({ client: { authScheme: 'Key' } });
    const { requestId } = await client.submit(input());
    await client.status(requestId);
    await client.cancel(requestId);
    expect(sim.requests).toHaveLength(3);
    for (const r of sim.requests) expect(r.authorization).toBe(`Key ${CREDENTIAL}`);
  });

  it("with authScheme 'Bearer' every call carries `Bearer <credential>`", async () => {
    const { sim, client } = await setup({ client: { authScheme: 'Bearer' } });
    const { requestId } = await client.submit(input());
    await client.status(requestId);
    await client.cancel(requestId);
    expect(sim.requests).toHaveLength(3);
    for (const r of sim.requests) expect(r.authorization).toBe(`Bearer ${CREDENTIAL}`);
  });

  it('a refused credential -> unauthorized, not retried, and the error never shows the credential', async () => {
    const sim = await startSim();
    const wrong = 'wrong-key-id:wrong-secret-7d1e';
    const { client } = clientFor(sim.url, { credential: () => wrong });

    const statusError = await upstreamFailure(client.status('some-request'));
    expect(statusError.kind).toBe('unauthorized');
    expect(statusError.httpStatus).toBe(401);
    expect(statusError.transient).toBe(false);
    expect(sim.stats.status).toBe(1);

    const submitError = await upstreamFailure(client.submit(input()));
    expect(submitError.kind).toBe('unauthorized');
    expect(submitError.ambiguous).toBe(false);
    expect(sim.stats.submit).toBe(1);

    for (const error of [statusError, submitError]) {
      const printed = [error.message, error.stack ?? '', JSON.stringify(error), String(error), JSON.stringify({ ...error })].join('\n');
      for (const secret of [wrong, CREDENTIAL, 'wrong-secret', 'test-key-secret']) expect(printed).not.toContain(secret);
    }
    // It did reach the simulator with the (wrong) credential it was given.
    expect(sim.requests.every((r) => r.authorization === `Key ${wrong}`)).toBe(true);
  });
});

describe('URL rule', () => {
  it('answers naming another origin: URLs are rebuilt on the configured base (status, result, cancel)', async () => {
    const { sim, client } = await setup({ sim: { urlOrigin: 'https://queue.fal.run' } });
    const { requestId } = await client.submit(input());
    const seen = await pollUntilCompleted(client, requestId);
    const result = await client.result(requestId);
    expect(result.ok).toBe(true);
    const other = await client.submit(input());
    expect(await client.cancel(other.requestId)).toBe('CANCELLATION_REQUESTED');

    // The simulator really did name queue.fal.run in its answers (so the client had to rebuild).
    expect(sim.stats).toMatchObject({ submit: 2, status: seen.length, result: 1, cancel: 1 });
    const expected = new Set([
      `POST /${MODEL}`,
      `GET /${APP}/requests/${requestId}/status?logs=1`,
      `GET /${APP}/requests/${requestId}`,
      `PUT /${APP}/requests/${other.requestId}/cancel`,
    ]);
    expect(new Set(sim.requests.map((r) => `${r.method} ${r.path}`))).toEqual(expected);
    expect(requestsTo(sim, 'GET', `/${APP}/requests/${requestId}/status?logs=1`)).toHaveLength(seen.length);
    expect(requestsTo(sim, 'GET', `/${APP}/requests/${requestId}`)).toHaveLength(1);
    for (const r of sim.requests) expect(r.authorization).toBe(`Key ${CREDENTIAL}`);
  });

  it('ids the client never submitted are rebuilt from the endpoint id, URL-encoded', async () => {
    const { sim, client } = await setup();
    const error = await upstreamFailure(client.status('a/b c'));
    expect(error.kind).toBe('not_found');
    expect(sim.requests.map((r) => r.path)).toEqual([`/${APP}/requests/a%2Fb%20c/status?logs=1`]);
  });

  for (const suffix of ['/prefix', '/prefix/']) {
    it(`a base URL with a path prefix ("${suffix}") keeps the prefix on every call`, async () => {
      const { sim, client } = await setup({ baseUrl: (s) => `${s.url}${suffix}` });

      const submitError = await upstreamFailure(client.submit(input()));
      expect(submitError.kind).toBe('not_found');
      expect(submitError.httpStatus).toBe(404);
      expect(submitError.ambiguous).toBe(false);

      const statusError = await upstreamFailure(client.status('req-1'));
      expect(statusError.kind).toBe('not_found');
      const resultError = await upstreamFailure(client.result('req-1'));
      expect(resultError.kind).toBe('not_found');
      expect(await client.cancel('req-1')).toBe('NOT_FOUND');

      expect(sim.requests.map((r) => `${r.method} ${r.path}`)).toEqual([
        `POST /prefix/${MODEL}`,
        `GET /prefix/${APP}/requests/req-1/status?logs=1`,
        `GET /prefix/${APP}/requests/req-1`,
        `PUT /prefix/${APP}/requests/req-1/cancel`,
      ]);
    });
  }
});

describe('retries of idempotent calls (status)', () => {
  it('500 twice -> succeeds on the third call', async () => {
    const { sim, client, retries } = await setup();
    const { requestId } = await client.submit(input());
    sim.addFault({ operation: 'status', kind: 'http', status: 500, times: 2 });
    const status = await client.status(requestId);
    expect(status.status).toBe('IN_QUEUE');
    expect(sim.statusCalls(requestId)).toBe(3);
    expect(retries.map((r) => `${r.operation}:${r.kind}`)).toEqual(['status:unreachable', 'status:unreachable']);
    for (const r of retries) expect(r.delayMs).toBeLessThanOrEqual(FAST_RETRY.maxDelayMs);
  });

  it('503 five times -> rejects unreachable after maxRetries + 1 calls', async () => {
    const { sim, client } = await setup();
    const { requestId } = await client.submit(input());
    sim.addFault({ operation: 'status', kind: 'http', status: 503, times: 5 });
    const error = await upstreamFailure(client.status(requestId));
    expect(error.kind).toBe('unreachable');
    expect(error.httpStatus).toBe(503);
    expect(error.transient).toBe(true);
    expect(error.ambiguous).toBe(false);
    expect(sim.statusCalls(requestId)).toBe(FAST_RETRY.maxRetries + 1);
  });

  it('429 with Retry-After: 1 -> waits about a second, then succeeds', async () => {
    const { sim, client, retries } = await setup({ client: { retry: { maxRetries: 2, baseDelayMs: 10, maxDelayMs: 2000 } } });
    const { requestId } = await client.submit(input());
    sim.addFault({ operation: 'status', kind: 'http', status: 429, headers: { 'retry-after': '1' } });
    const started = performance.now();
    const status = await client.status(requestId);
    const elapsed = performance.now() - started;
    expect(status.status).toMatch(/^(IN_QUEUE|IN_PROGRESS|COMPLETED)$/);
    expect(elapsed).toBeGreaterThanOrEqual(900);
    expect(retries).toEqual([{ operation: 'status', kind: 'rate_limited', delayMs: 1000 }]);
    expect(sim.statusCalls(requestId)).toBe(2);
  });

  it('a dropped connection -> retried and succeeds', async () => {
    const { sim, client, retries } = await setup();
    const { requestId } = await client.submit(input());
    sim.addFault({ operation: 'status', kind: 'drop' });
    const status = await client.status(requestId);
    expect(status.status).toBe('IN_QUEUE');
    expect(sim.statusCalls(requestId)).toBe(2);
    expect(retries.map((r) => r.kind)).toEqual(['unreachable']);
  });

  it('a malformed (non-JSON) answer -> retried and succeeds', async () => {
    const { sim, client, retries } = await setup();
    const { requestId } = await client.submit(input());
    sim.addFault({ operation: 'status', kind: 'malformed' });
    const status = await client.status(requestId);
    expect(status.status).toBe('IN_QUEUE');
    expect(sim.statusCalls(requestId)).toBe(2);
    expect(retries.map((r) => r.kind)).toEqual(['malformed']);
  });

  // undici runs headersTimeout on its coarse "fast timers" (ticks of ~500 ms), so a 200 ms timeout
  // fires after ~0.5-1 s; the delays below are long enough (3 s) for that not to matter.
  it('an answer slower than timeoutMs, once -> the call times out and the retry succeeds', async () => {
    const { sim, client, retries } = await setup({ client: { timeoutMs: 200 } });
    const { requestId } = await client.submit(input());
    sim.addFault({ operation: 'status', kind: 'delay', delayMs: 3000, times: 1 });
    const started = performance.now();
    const status = await client.status(requestId);
    const elapsed = performance.now() - started;
    expect(status.status).toMatch(/^(IN_QUEUE|IN_PROGRESS|COMPLETED)$/);
    expect(sim.statusCalls(requestId)).toBe(2);
    expect(retries.map((r) => r.kind)).toEqual(['unreachable']);
    expect(elapsed).toBeGreaterThanOrEqual(150);
    expect(elapsed).toBeLessThan(2500); // did not sit out the 3 s delay
  });

  it('an answer always slower than timeoutMs -> rejects unreachable after maxRetries + 1 timed-out calls', async () => {
    // One retry only: each timed-out call costs ~1 s of undici timer granularity.
    const retry: RetryPolicy = { ...FAST_RETRY, maxRetries: 1 };
    const { sim, client, retries } = await setup({ client: { timeoutMs: 200, retry } });
    const { requestId } = await client.submit(input());
    sim.addFault({ operation: 'status', kind: 'delay', delayMs: 3000, times: Infinity });
    const started = performance.now();
    const error = await upstreamFailure(client.status(requestId));
    const elapsed = performance.now() - started;
    expect(error.kind).toBe('unreachable');
    expect(error.httpStatus).toBeNull();
    expect(error.ambiguous).toBe(false);
    expect(sim.statusCalls(requestId)).toBe(retry.maxRetries + 1);
    expect(retries.map((r) => r.kind)).toEqual(['unreachable']);
    expect(elapsed).toBeGreaterThanOrEqual(2 * 150);
    expect(elapsed).toBeLessThan(2 * 3000); // neither call waited for its answer
  });

  it('404 for an unknown request id -> not_found, not retried', async () => {
    const { sim, client, retries } = await setup();
    const error = await upstreamFailure(client.status('no-such-request'));
    expect(error.kind).toBe('not_found');
    expect(error.httpStatus).toBe(404);
    expect(error.transient).toBe(false);
    expect(sim.statusCalls('no-such-request')).toBe(1);
    expect(retries).toEqual([]);
  });
});

describe('submit is never retried once it may have reached fal', () => {
  it('500 -> ambiguous unreachable, exactly one submit', async () => {
    const { sim, client, retries } = await setup();
    sim.addFault({ operation: 'submit', kind: 'http', status: 500 });
    const error = await upstreamFailure(client.submit(input()));
    expect(error.kind).toBe('unreachable');
    expect(error.httpStatus).toBe(500);
    expect(error.ambiguous).toBe(true);
    expect(sim.stats.submit).toBe(1);
    expect(retries).toEqual([]);
  });

  it('a dropped connection -> ambiguous, exactly one submit', async () => {
    const { sim, client, retries } = await setup();
    sim.addFault({ operation: 'submit', kind: 'drop' });
    const error = await upstreamFailure(client.submit(input()));
    expect(error.kind).toBe('unreachable');
    expect(error.ambiguous).toBe(true);
    expect(sim.stats.submit).toBe(1);
    expect(retries).toEqual([]);
  });

  it('a malformed answer -> ambiguous malformed, exactly one submit', async () => {
    const { sim, client } = await setup();
    sim.addFault({ operation: 'submit', kind: 'malformed' });
    const error = await upstreamFailure(client.submit(input()));
    expect(error.kind).toBe('malformed');
    expect(error.ambiguous).toBe(true);
    expect(sim.stats.submit).toBe(1);
  });

  it('a timeout -> ambiguous, exactly one submit', async () => {
    const { sim, client } = await setup({ client: { timeoutMs: 150 } });
    sim.addFault({ operation: 'submit', kind: 'delay', delayMs: 3000 });
    const error = await upstreamFailure(client.submit(input()));
    expect(error.kind).toBe('unreachable');
    expect(error.ambiguous).toBe(true);
    expect(sim.stats.submit).toBe(1);
  });

  it('429 -> rate_limited with Retry-After, not ambiguous, returned to the caller (one submit)', async () => {
    const { sim, client, retries } = await setup();
    sim.addFault({ operation: 'submit', kind: 'http', status: 429, headers: { 'retry-after': '7' } });
    const error = await upstreamFailure(client.submit(input()));
    expect(error.kind).toBe('rate_limited');
    expect(error.httpStatus).toBe(429);
    expect(error.ambiguous).toBe(false);
    expect(error.retryAfterSeconds).toBe(7);
    expect(error.transient).toBe(true);
    expect(sim.stats.submit).toBe(1);
    expect(retries).toEqual([]);
  });

  it('connection refused -> unreachable, not ambiguous, after maxRetries retries', async () => {
    const port = await closedPort();
    const { client, retries } = clientFor(`http://127.0.0.1:${port}`);
    const error = await upstreamFailure(client.submit(input()));
    expect(error.kind).toBe('unreachable');
    expect(error.ambiguous).toBe(false);
    expect(error.message).toContain('ECONNREFUSED');
    expect(retries).toHaveLength(FAST_RETRY.maxRetries);
    for (const r of retries) expect(r).toMatchObject({ operation: 'submit', kind: 'unreachable' });
  });
});

describe('result', () => {
  it('before completion fal answers 400 -> rejected, not retried', async () => {
    const { sim, client } = await setup();
    const { requestId } = await client.submit(input());
    const error = await upstreamFailure(client.result(requestId));
    expect(error.kind).toBe('rejected');
    expect(error.httpStatus).toBe(400);
    expect(error.message).toContain('Request is still in progress');
    expect(sim.stats.result).toBe(1);
  });

  it('a model that refuses the input only at the result (422) -> { ok: false, error }', async () => {
    const { client } = await setup();
    const { requestId } = await client.submit(input('[sim:fast][sim:422] a bad image'));
    const seen = await pollUntilCompleted(client, requestId);
    expect(seen.at(-1)?.error).toEqual({ message: 'Image could not be downloaded', code: 'image_load_error' });
    const result = await client.result(requestId);
    expect(result).toEqual({ ok: false, error: { message: 'image_url: Image could not be downloaded', code: 'image_load_error' } });
  });

  it("a transient 504 from the result after COMPLETED -> retried and succeeds", async () => {
    const { sim, client, retries } = await setup();
    const { requestId } = await client.submit(input('[sim:fast] ok'));
    sim.addFault({ operation: 'result', kind: 'http', status: 504, afterCompleted: true, times: 1 });
    await pollUntilCompleted(client, requestId);
    const result = await client.result(requestId);
    expect(result.ok).toBe(true);
    expect(sim.stats.result).toBe(2);
    expect(retries.map((r) => `${r.operation}:${r.kind}`)).toEqual(['result:unreachable']);
  });

  it('an answer without a video -> { ok: false, code no_video }', async () => {
    const { sim, client } = await setup();
    const { requestId } = await client.submit(input('[sim:fast] ok'));
    await pollUntilCompleted(client, requestId);
    sim.addFault({ operation: 'result', kind: 'http', status: 200, body: { images: [] } });
    const result = await client.result(requestId);
    expect(result).toEqual({ ok: false, error: { message: expect.any(String), code: 'no_video' } });
  });

  it('status of a failed run ([sim:fail]) when COMPLETED carries the error', async () => {
    const { client } = await setup();
    const { requestId } = await client.submit(input('[sim:fast][sim:fail] boom'));
    const seen = await pollUntilCompleted(client, requestId);
    expect(seen.at(-1)).toMatchObject({
      status: 'COMPLETED',
      queuePosition: null,
      error: { message: 'Internal error while generating the video', code: 'runner_error' },
    });
    for (const s of seen.slice(0, -1)) expect(s.error).toBeNull();
  });
});

describe('cancel', () => {
  it('queued -> CANCELLATION_REQUESTED; again -> ALREADY_COMPLETED; status then reports the cancellation', async () => {
    const { sim, client } = await setup();
    const { requestId } = await client.submit(input());
    expect(await client.cancel(requestId)).toBe('CANCELLATION_REQUESTED');
    expect(await client.cancel(requestId)).toBe('ALREADY_COMPLETED');
    const status = await client.status(requestId);
    expect(status).toMatchObject({ status: 'COMPLETED', error: { code: 'cancelled' } });
    expect(requestsTo(sim, 'PUT', `/${APP}/requests/${requestId}/cancel`)).toHaveLength(2);
  });

  it('an unknown request id -> NOT_FOUND', async () => {
    const { sim, client } = await setup();
    expect(await client.cancel('no-such-request')).toBe('NOT_FOUND');
    expect(sim.stats.cancel).toBe(1);
  });

  it('a 502 once -> retried (cancel is idempotent)', async () => {
    const { sim, client } = await setup();
    const { requestId } = await client.submit(input());
    sim.addFault({ operation: 'cancel', kind: 'http', status: 502 });
    expect(await client.cancel(requestId)).toBe('CANCELLATION_REQUESTED');
    expect(sim.stats.cancel).toBe(2);
  });
});

describe('abort signal', () => {
  it('an abort while the answer is pending rejects promptly and sends nothing more', async () => {
    const { sim, client } = await setup();
    const { requestId } = await client.submit(input());
    sim.addFault({ operation: 'status', kind: 'delay', delayMs: 3000, times: Infinity });
    const controller = new AbortController();
    const pending = client.status(requestId, { signal: controller.signal });
    await waitFor(() => sim.statusCalls(requestId) === 1, { timeoutMs: 2000, message: 'the status call to arrive' });
    const started = performance.now();
    controller.abort();
    await expect(pending).rejects.toThrow();
    expect(performance.now() - started).toBeLessThan(500);
    expect(sim.statusCalls(requestId)).toBe(1);
  });

  it('an aborted submit is ambiguous (it may have reached fal)', async () => {
    const { sim, client } = await setup();
    sim.addFault({ operation: 'submit', kind: 'delay', delayMs: 3000 });
    const controller = new AbortController();
    const pending = client.submit(input(), { signal: controller.signal });
    await waitFor(() => sim.stats.submit === 1, { timeoutMs: 2000, message: 'the submit to arrive' });
    controller.abort();
    const error = await upstreamFailure(pending);
    expect(error.kind).toBe('unreachable');
    expect(error.ambiguous).toBe(true);
    expect(sim.stats.submit).toBe(1);
  });

  it('with no retries left, an aborted status rejects with an UpstreamError', async () => {
    const { sim, client } = await setup({ client: { retry: { ...FAST_RETRY, maxRetries: 0 } } });
    const { requestId } = await client.submit(input());
    sim.addFault({ operation: 'status', kind: 'delay', delayMs: 3000, times: Infinity });
    const controller = new AbortController();
    const pending = client.status(requestId, { signal: controller.signal });
    await waitFor(() => sim.statusCalls(requestId) === 1, { timeoutMs: 2000, message: 'the status call to arrive' });
    controller.abort();
    const error = await upstreamFailure(pending);
    expect(error.kind).toBe('unreachable');
    expect(error.message).toContain('aborted');
  });

  // Fixed: an aborted call is never retried and always rejects with the UpstreamError of the attempt.
  it('with retries left, an aborted status still rejects with an UpstreamError (not a bare AbortError)', async () => {
    const { sim, client, retries } = await setup();
    const { requestId } = await client.submit(input());
    sim.addFault({ operation: 'status', kind: 'delay', delayMs: 3000, times: Infinity });
    const controller = new AbortController();
    const pending = client.status(requestId, { signal: controller.signal });
    await waitFor(() => sim.statusCalls(requestId) === 1, { timeoutMs: 2000, message: 'the status call to arrive' });
    controller.abort();
    const error = await upstreamFailure(pending);
    expect(error.kind).toBe('unreachable');
    expect(retries).toEqual([]);
  });
});

describe('keep-alive', () => {
  // The simulator exposes no connection count, so connections are counted on the client side: the
  // pool's 'connect' event fires once per TCP connection it opens.
  // undici frees a connection a tick after the body ends, so the call right after submit may open a
  // second one; "few" here means at most two for 21 calls.
  it('20 sequential status calls reuse the pool\'s keep-alive connections', async () => {
    const { sim, pool, client } = await setup();
    let connects = 0;
    pool.on('connect', () => {
      connects += 1;
    });
    const { requestId } = await client.submit(input());
    for (let i = 0; i < 20; i++) await client.status(requestId);
    expect(sim.statusCalls(requestId)).toBe(20);
    expect(connects).toBeGreaterThanOrEqual(1);
    expect(connects).toBeLessThanOrEqual(2);
    expect(pool.stats.connected).toBe(connects);
  });
});

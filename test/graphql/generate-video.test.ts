/** generateVideo and cancelJob as a client sees them: validation, idempotency, cancellation. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { subscribeWs, wsClient } from '../helpers/clients.ts';
import { CANCEL, FOLLOW, startTestGateway, submitJob, SUBMIT, validInput, type TestGateway } from '../helpers/start-gateway.ts';
import { waitFor } from '../helpers/wait-for.ts';

let gateway: TestGateway;
beforeAll(async () => {
  gateway = await startTestGateway();
});
afterAll(() => gateway.dispose());

describe('input validation: BAD_USER_INPUT with the field, nothing sent upstream', () => {
  const cases: Array<[string, Record<string, unknown>, string]> = [
    ['empty prompt', { prompt: '' }, 'prompt'],
    ['blank prompt', { prompt: '   ' }, 'prompt'],
    ['prompt over 2500 characters', { prompt: 'x'.repeat(2501) }, 'prompt'],
    ['data URL', { imageUrl: 'data:image/png;base64,iVBORw0KGgo=' }, 'imageUrl'],
    ['relative URL', { imageUrl: '/cat.png' }, 'imageUrl'],
    ['ftp URL', { imageUrl: 'ftp://example.com/cat.png' }, 'imageUrl'],
    ['javascript URL', { imageUrl: 'javascript:alert(1)//.png' }, 'imageUrl'],
    ['not an image type', { imageUrl: 'https://example.com/cat.pdf' }, 'imageUrl'],
    ['no extension', { imageUrl: 'https://example.com/cat' }, 'imageUrl'],
    ['loopback address', { imageUrl: 'http://127.0.0.1/cat.png' }, 'imageUrl'],
    ['loopback as a number', { imageUrl: 'http://2130706433/cat.png' }, 'imageUrl'],
    ['IPv6 loopback', { imageUrl: 'http://[::1]/cat.png' }, 'imageUrl'],
    ['IPv4-mapped loopback', { imageUrl: 'http://[::ffff:127.0.0.1]/cat.png' }, 'imageUrl'],
    ['private address', { imageUrl: 'http://10.1.2.3/cat.png' }, 'imageUrl'],
    ['private 192.168', { imageUrl: 'https://192.168.0.10/cat.jpg' }, 'imageUrl'],
    ['link-local (cloud metadata)', { imageUrl: 'http://169.254.169.254/latest/cat.png' }, 'imageUrl'],
    ['localhost', { imageUrl: 'http://localhost:8080/cat.png' }, 'imageUrl'],
    ['credentials in URL', { imageUrl: 'https://user:pass@example.com/cat.png' }, 'imageUrl'],
    ['over-long URL', { imageUrl: `https://example.com/${'a'.repeat(3000)}.png` }, 'imageUrl'],
    ['cfgScale above 1', { cfgScale: 1.5 }, 'cfgScale'],
    ['cfgScale below 0', { cfgScale: -0.1 }, 'cfgScale'],
    ['negativePrompt over 2500', { negativePrompt: 'n'.repeat(2501) }, 'negativePrompt'],
    ['empty idempotencyKey', { idempotencyKey: '' }, 'idempotencyKey'],
    ['over-long idempotencyKey', { idempotencyKey: 'k'.repeat(256) }, 'idempotencyKey'],
  ];
  it.each(cases)('%s', async (_name, overrides, field) => {
    const before = gateway.simulator.stats.submit;
    const response = await gateway.gql(SUBMIT, { input: validInput(overrides) });
    expect(response.data ?? null).toBeNull();
    expect(response.errors).toHaveLength(1);
    expect(response.errors![0]!.extensions).toMatchObject({ code: 'BAD_USER_INPUT', field });
    expect(response.errors![0]!.message).toMatch(new RegExp(field === 'imageUrl' ? 'imageUrl' : field));
    expect(gateway.simulator.stats.submit).toBe(before);
  });

  it('a wrong duration or a missing field is a GraphQL validation error, never a 500', async () => {
    const before = gateway.simulator.stats.submit;
    const wrongEnum = await gateway.gql(SUBMIT, { input: validInput({ duration: 'SECONDS_7' }) });
    const missing = await gateway.gql(SUBMIT, { input: { prompt: 'x' } });
    const unknownField = await gateway.gql(SUBMIT, { input: validInput({ aspectRatio: '16:9' }) });
    for (const response of [wrongEnum, missing, unknownField]) {
      expect(response.status).toBeLessThan(500);
      expect(response.errors?.length).toBeGreaterThan(0);
    }
    expect(gateway.simulator.stats.submit).toBe(before);
  });

  it('accepts every optional field and echoes the input (without the key)', async () => {
    const job = await submitJob(gateway, { duration: 'SECONDS_10', negativePrompt: 'blur', cfgScale: 0.7, idempotencyKey: 'echo-1', imageUrl: 'https://example.com/a/b.WEBP?size=large' });
    expect(job.input).toEqual({
      prompt: 'A cat surfing a wave at sunset',
      imageUrl: 'https://example.com/a/b.WEBP?size=large',
      duration: 'SECONDS_10',
      negativePrompt: 'blur',
      cfgScale: 0.7,
    });
  });
});

describe('idempotency', () => {
  it('20 concurrent identical requests: one job, one upstream submission', async () => {
    const before = gateway.simulator.stats.submit;
    const input = validInput({ idempotencyKey: 'concurrent-20' });
    const responses = await Promise.all(Array.from({ length: 20 }, () => gateway.gql(SUBMIT, { input })));
    const ids = new Set(responses.map((r) => {
      expect(r.errors).toBeUndefined();
      return r.data!.generateVideo.id;
    }));
    const requestIds = new Set(responses.map((r) => r.data!.generateVideo.requestId));
    expect(ids.size).toBe(1);
    expect(requestIds.size).toBe(1);
    expect(gateway.simulator.stats.submit - before).toBe(1);
  });

  it('the same key later returns the same job without a new submission', async () => {
    const first = await submitJob(gateway, { idempotencyKey: 'later-1' });
    const before = gateway.simulator.stats.submit;
    const again = await submitJob(gateway, { idempotencyKey: 'later-1' });
    expect(again.id).toBe(first.id);
    expect(gateway.simulator.stats.submit).toBe(before);
  });

  it('the same key with different input: CONFLICT, nothing submitted', async () => {
    await submitJob(gateway, { idempotencyKey: 'conflict-1' });
    const before = gateway.simulator.stats.submit;
    const response = await gateway.gql(SUBMIT, { input: validInput({ idempotencyKey: 'conflict-1', prompt: 'something else' }) });
    expect(response.errors![0]!.extensions!.code).toBe('CONFLICT');
    expect(gateway.simulator.stats.submit).toBe(before);
  });
});

describe('cancelJob', () => {
  it('cancels a queued job: CANCELLED at once, and subscribers get the terminal event', async () => {
    gateway.simulator.pause();
    try {
      const job = await submitJob(gateway);
      const recording = subscribeWs(wsClient(gateway.wsUrl), FOLLOW, { id: job.id });
      await recording.waitForEvents(1);
      const cancelled = await gateway.gql(CANCEL, { id: job.id });
      expect(cancelled.errors).toBeUndefined();
      expect(cancelled.data!.cancelJob).toMatchObject({ id: job.id, status: 'CANCELLED', queuePosition: null, video: null, error: null });
      await expect(recording.done).resolves.toBe('complete');
      expect(recording.events.at(-1)!.data!.jobUpdates.status).toBe('CANCELLED');
      expect(gateway.simulator.stats.cancel).toBeGreaterThan(0);
    } finally {
      gateway.simulator.resume();
    }
  });

  it('cancels a running job', async () => {
    const job = await submitJob(gateway, { prompt: 'run [sim:fast]' });
    const cancelled = await gateway.gql(CANCEL, { id: job.id });
    expect(cancelled.data?.cancelJob.status ?? cancelled.errors![0]!.extensions!.code).toMatch(/CANCELLED|CONFLICT/);
  });

  it('a finished job: CONFLICT', async () => {
    const job = await submitJob(gateway, { prompt: 'quick [sim:fast]' });
    await subscribeWs(wsClient(gateway.wsUrl), FOLLOW, { id: job.id }).done;
    const response = await gateway.gql(CANCEL, { id: job.id });
    expect(response.errors![0]!.extensions!.code).toBe('CONFLICT');
  });

  it('an unknown job: NOT_FOUND', async () => {
    const response = await gateway.gql(CANCEL, { id: 'nope' });
    expect(response.errors![0]!.extensions!.code).toBe('NOT_FOUND');
  });

  it('the poller stops polling a cancelled job', async () => {
    const nothingPolled = async () => /^gateway_polled_jobs 0$/m.test(await (await fetch(`${gateway.baseUrl}/metrics`)).text());
    await waitFor(nothingPolled, { message: 'earlier jobs to finish' });
    gateway.simulator.pause();
    try {
      const job = await submitJob(gateway);
      await gateway.gql(CANCEL, { id: job.id });
      const calls = gateway.simulator.statusCalls(job.requestId);
      // The poller lets go of it: no job is polled any more.
      await waitFor(nothingPolled, { message: 'no polled jobs' });
      expect(gateway.simulator.statusCalls(job.requestId)).toBeLessThanOrEqual(calls + 1);
    } finally {
      gateway.simulator.resume();
    }
  });
});

describe('request ids', () => {
  it('x-request-id travels from the request to the answer and the log lines of the job it created', async () => {
    const response = await fetch(gateway.httpUrl, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-request-id': 'req-abc-123' },
      body: JSON.stringify({ query: SUBMIT, variables: { input: validInput() } }),
    });
    expect(response.headers.get('x-request-id')).toBe('req-abc-123');
    const { data } = (await response.json()) as { data: { generateVideo: { id: string } } };
    const lines = gateway.logs.map((line) => JSON.parse(line) as Record<string, unknown>);
    expect(lines.some((l) => l.msg === 'job submitted' && l.requestId === 'req-abc-123' && l.jobId === data.generateVideo.id)).toBe(true);
    expect(lines.some((l) => l.msg === 'request' && l.requestId === 'req-abc-123' && l.status === 200)).toBe(true);
  });

  it('a request without one gets one', async () => {
    const response = await fetch(gateway.httpUrl, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ query: '{ jobs { edges { cursor } } }' }) });
    expect(response.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/);
  });
});

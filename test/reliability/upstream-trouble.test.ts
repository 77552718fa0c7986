/**
 * Upstream trouble beyond transient errors, during live jobs with subscribers: a circuit breaker
 * that stops hammering, timeouts, a request the upstream forgot, a refused credential while polling,
 * and deadlines. In every case the job ends in the right state and subscribers get the terminal event.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { post, subscribeSse, subscribeWs, wsClient, type Recording } from '../helpers/clients.ts';
import { FOLLOW, startTestGateway, submitJob, SUBMIT, validInput, type TestGateway } from '../helpers/start-gateway.ts';
import { waitFor } from '../helpers/wait-for.ts';

let gateway: TestGateway | undefined;
afterEach(async () => {
  await gateway?.dispose();
  gateway = undefined;
});

async function last(recording: Recording) {
  expect(await recording.done).toBe('complete');
  return recording.events.at(-1)!.data!.jobUpdates;
}

async function readyz(g: TestGateway) {
  const response = await fetch(`${g.baseUrl}/readyz`);
  return { status: response.status, body: (await response.json()) as Record<string, string> };
}

describe('circuit breaker', () => {
  it('opens after repeated failures: submits fail fast with a retry hint, /readyz says so, and it closes again', async () => {
    gateway = await startTestGateway({ env: { UPSTREAM_CIRCUIT_FAILURES: '3', UPSTREAM_CIRCUIT_OPEN_MS: '400' } });
    const g = gateway;
    const job = await submitJob(g);
    const follower = subscribeWs(wsClient(g.wsUrl), FOLLOW, { id: job.id });
    g.simulator.addFault({ operation: 'status', kind: 'http', status: 503, times: Infinity });
    await waitFor(async () => (await readyz(g)).body.upstream === 'open', { message: 'circuit open' });

    const ready = await readyz(g);
    expect(ready.status).toBe(200); // reads still work: the gateway stays ready, and says the upstream is failing
    const submits = g.simulator.stats.submit;
    const refused = await g.gql(SUBMIT, { input: validInput() });
    expect(refused.errors![0]!.extensions).toMatchObject({ code: 'UPSTREAM_UNAVAILABLE' });
    expect(refused.errors![0]!.extensions!.retryAfterSeconds).toBeGreaterThanOrEqual(1);
    expect(g.simulator.stats.submit).toBe(submits); // failed fast: never sent

    // While open, the poller does not hammer: far fewer status calls than one per interval.
    const before = g.simulator.stats.status;
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(g.simulator.stats.status - before).toBeLessThan(300 / 25);

    g.simulator.clearFaults();
    expect((await last(follower)).status).toBe('COMPLETED');
    await waitFor(async () => (await readyz(g)).body.upstream === 'closed', { message: 'circuit closed' });
    expect((await submitJob(g)).status).toBe('IN_QUEUE');
  });
});

describe('faults during a live job', () => {
  it('slow answers beyond UPSTREAM_TIMEOUT_MS time out and are retried; the job completes', async () => {
    gateway = await startTestGateway({ env: { UPSTREAM_TIMEOUT_MS: '300' } });
    const job = await submitJob(gateway);
    gateway.simulator.addFault({ operation: 'status', kind: 'delay', delayMs: 1500, times: 2 });
    const follower = subscribeSse(gateway.httpUrl, FOLLOW, { id: job.id });
    expect((await last(follower)).status).toBe('COMPLETED');
    expect(gateway.simulator.stats.submit).toBe(1);
  });

  it('slow bodies (headers at once, then a stall past UPSTREAM_TIMEOUT_MS) time out and are retried; the job completes', async () => {
    gateway = await startTestGateway({ env: { UPSTREAM_TIMEOUT_MS: '300' } });
    const job = await submitJob(gateway);
    gateway.simulator.addFault({ operation: 'status', kind: 'slow-body', delayMs: 2000, times: 2 });
    gateway.simulator.addFault({ operation: 'result', kind: 'slow-body', delayMs: 2000, times: 1, afterCompleted: true });
    const follower = subscribeWs(wsClient(gateway.wsUrl), FOLLOW, { id: job.id });
    expect((await last(follower)).status).toBe('COMPLETED');
    expect(gateway.simulator.stats.submit).toBe(1);
    // The stalls were cut by the body timeout and retried, not waited out.
    const retries = gateway.logs.map((l) => JSON.parse(l) as { msg?: string; operation?: string; kind?: string }).filter((l) => l.msg === 'retrying upstream call');
    expect(retries.some((r) => r.operation === 'status' && r.kind === 'unreachable')).toBe(true);
    expect(retries.some((r) => r.operation === 'result' && r.kind === 'unreachable')).toBe(true);
  });

  it('a request the upstream forgot (404 on every status): FAILED with UPSTREAM_LOST, subscribers told', async () => {
    gateway = await startTestGateway();
    const job = await submitJob(gateway);
    gateway.simulator.addFault({ operation: 'status', kind: 'http', status: 404, times: Infinity });
    const follower = subscribeWs(wsClient(gateway.wsUrl), FOLLOW, { id: job.id });
    expect(await last(follower)).toMatchObject({ status: 'FAILED', error: { code: 'UPSTREAM_LOST' } });
  });

  it.each([401, 403])('a refused credential while polling (%i) neither ends nor loses the job; it completes once fixed', async (status) => {
    gateway = await startTestGateway();
    const job = await submitJob(gateway);
    gateway.simulator.addFault({ operation: 'status', kind: 'http', status, times: 4 });
    const follower = subscribeWs(wsClient(gateway.wsUrl), FOLLOW, { id: job.id });
    expect((await last(follower)).status).toBe('COMPLETED');
  });

  it('a 422 raised only at result time ends FAILED with the model message', async () => {
    gateway = await startTestGateway();
    const job = await submitJob(gateway, { prompt: 'x [sim:422]' });
    const follower = subscribeSse(gateway.httpUrl, FOLLOW, { id: job.id });
    expect(await last(follower)).toMatchObject({ status: 'FAILED', error: { code: 'image_load_error' } });
  });
});

describe('deadlines', () => {
  it('a job stuck in the queue past JOB_MAX_QUEUE_MS ends FAILED and is cancelled upstream', async () => {
    gateway = await startTestGateway({ env: { JOB_MAX_QUEUE_MS: '300' } });
    gateway.simulator.pause();
    const job = await submitJob(gateway);
    const follower = subscribeWs(wsClient(gateway.wsUrl), FOLLOW, { id: job.id });
    expect(await last(follower)).toMatchObject({ status: 'FAILED', error: { code: 'QUEUE_DEADLINE_EXCEEDED' } });
    expect(gateway.simulator.stats.cancel).toBe(1);
    gateway.simulator.resume();
  });

  it('a job alive past JOB_MAX_TOTAL_MS ends FAILED with DEADLINE_EXCEEDED', async () => {
    gateway = await startTestGateway({ env: { JOB_MAX_TOTAL_MS: '300' } });
    const job = await submitJob(gateway, { prompt: 'x [sim:fast]' });
    gateway.simulator.pause();
    const follower = subscribeSse(gateway.httpUrl, FOLLOW, { id: job.id });
    expect(await last(follower)).toMatchObject({ status: 'FAILED', error: { code: 'DEADLINE_EXCEEDED' } });
    gateway.simulator.resume();
  });
});

it('retention purges finished jobs: `job` is null and `jobUpdates` NOT_FOUND afterwards, never a hang', async () => {
  gateway = await startTestGateway({ env: { JOB_RETENTION_MS: '1000' } });
  const g = gateway;
  const job = await submitJob(g, { prompt: 'x [sim:fast]' });
  await last(subscribeWs(wsClient(g.wsUrl), FOLLOW, { id: job.id }));
  await waitFor(async () => (await g.gql(`query($id: ID!) { job(id: $id) { id } }`, { id: job.id })).data?.job === null, { timeoutMs: 10_000, intervalMs: 100, message: 'purge' });
  const late = subscribeSse(g.httpUrl, FOLLOW, { id: job.id });
  expect(await late.done).toBe('complete');
  expect(late.events.flatMap((e) => e.errors ?? []).map((e) => e.extensions?.code)).toEqual(['NOT_FOUND']);
  const metrics = await (await fetch(`${g.baseUrl}/metrics`)).text();
  expect(metrics).toMatch(/gateway_jobs_purged_total [1-9]/);
});

it('/metrics exposes what operators watch', async () => {
  gateway = await startTestGateway();
  const job = await submitJob(gateway);
  await last(subscribeWs(wsClient(gateway.wsUrl), FOLLOW, { id: job.id }));
  await post(gateway.httpUrl, '{ jobs { edges { cursor } } }');
  const text = await (await fetch(`${gateway.baseUrl}/metrics`)).text();
  for (const series of [
    'gateway_upstream_calls_total{operation="submit",outcome="ok"}',
    'gateway_upstream_calls_total{operation="status",outcome="ok"}',
    'gateway_upstream_call_duration_seconds_bucket',
    'gateway_polls_total{outcome="changed"}',
    'gateway_poll_lag_seconds_bucket',
    'gateway_polled_jobs',
    'gateway_unfinished_jobs',
    'gateway_jobs_finished_total{status="COMPLETED"}',
    'gateway_websocket_connections',
    'gateway_sse_streams',
    'gateway_job_subscriptions',
    'gateway_events_delivered_total',
    'gateway_upstream_circuit_open',
    'gateway_process_resident_memory_bytes',
  ]) {
    expect(text).toContain(series);
  }
  expect(text).not.toContain('fal-test-secret');
});

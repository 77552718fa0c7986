/**
 * Several gateway processes on one Redis: a job submitted on one is followed on the others; one
 * replica polls it; killing that replica hands the job over; the same idempotency key on two
 * replicas submits once; restarting Redis mid-job loses nothing.
 *
 * Every wait is bounded and says what it waited for; test timeouts are longer than the sum of a
 * test's bounds, so on a loaded machine a failure names the wait that ran out, never just the test.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { post, subscribeSse, subscribeWs, wsClient, type Recording } from './helpers/clients.ts';
import { startGatewayProcess, type GatewayProcess } from './helpers/gateway-process.ts';
import { startRedisServer, leaseOwnerPid as leaseOwnerOf, type RedisServer } from './helpers/redis-server.ts';
import { FOLLOW, startSimulator, SUBMIT, TEST_FAL_KEY, validInput } from './helpers/start-gateway.ts';
import { waitFor, within } from './helpers/wait-for.ts';
import type { FalSimulator } from '../src/fal-simulator/index.ts';

const POLL_MS = 60;
let redis: RedisServer;
let simulator: FalSimulator;
let replicas: GatewayProcess[];
let prefix: string;

beforeAll(async () => {
  redis = await startRedisServer({ persistent: true });
  simulator = await startSimulator({ timing: { initialQueuePosition: 3, queueStepMs: 250, runMs: 1200, logEveryMs: 100, logWindowMs: 300 } });
  prefix = `test-${randomUUID()}:`;
  const env = { FAL_KEY: TEST_FAL_KEY, FAL_QUEUE_URL: simulator.url, FAL_API_URL: simulator.url, REDIS_URL: redis.url, REDIS_KEY_PREFIX: prefix, POLL_INTERVAL_MS: String(POLL_MS), POLL_LEASE_MS: '600', LOG_LEVEL: 'info', FAL_UPDATES: 'poll', MEDIA_STORE: 'off' };
  replicas = await Promise.all([startGatewayProcess(env), startGatewayProcess(env), startGatewayProcess(env)]);
}, 60_000);

afterAll(async () => {
  for (const replica of replicas ?? []) replica.child.kill('SIGKILL');
});

/** Bounds a wait on a subscription's end, and says what it saw when it gives up. */
function ended(recording: Recording, what: string, timeoutMs = 20_000): Promise<'complete' | { error: unknown }> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      const seen = recording.events.map((e) => e.data?.jobUpdates?.status ?? JSON.stringify(e.errors)).join(' -> ') || 'no event';
      reject(new Error(`${what} did not end within ${timeoutMs} ms; it received: ${seen}`));
    }, timeoutMs);
  });
  return Promise.race([recording.done, timeout]).finally(() => clearTimeout(timer));
}

/** A submit through one replica, bounded. */
async function submitOn(replica: GatewayProcess, input: Record<string, unknown>, what = 'the submit') {
  const answer = await within(post(replica.httpUrl, SUBMIT, { input }), 15_000, what);
  if (!answer.data) throw new Error(`${what} failed: ${answer.raw}`);
  return answer.data.generateVideo;
}

function jobsOf(recording: Recording) {
  return recording.events.map((e) => {
    expect(e.errors).toBeUndefined();
    return e.data!.jobUpdates;
  });
}

function expectOrderly(jobs: Array<{ status: string; queuePosition: number | null; logs: unknown[] }>) {
  const order = ['IN_QUEUE', 'IN_PROGRESS', 'COMPLETED'];
  for (let i = 1; i < jobs.length; i++) {
    const [before, after] = [jobs[i - 1]!, jobs[i]!];
    expect(JSON.stringify(after)).not.toBe(JSON.stringify(before));
    expect(order.indexOf(after.status)).toBeGreaterThanOrEqual(order.indexOf(before.status));
    expect(after.logs.length).toBeGreaterThanOrEqual(before.logs.length);
  }
}

const leaseOwnerPid = (jobId: string) => leaseOwnerOf(redis.url, prefix, jobId);

/** Status calls for a request should be spaced like one poller's, not three. */
function expectOnePoller(requestId: string) {
  const times = simulator.requests.filter((r) => r.path.includes(`/requests/${requestId}/status`)).map((r) => r.at);
  const span = times.at(-1)! - times[0]!;
  expect(times.length, 'status polls of the job').toBeGreaterThan(3);
  // One poller polls at most every 0.75 x POLL_MS (its fastest adaptive interval, while running), and
  // less often when late under load; three would make three times as many. The 1.5 allows for a lease
  // handed over under load (two pollers for a moment), never for three steady ones.
  const onePoller = span / (POLL_MS * 0.75);
  expect(times.length, `${times.length} status polls in ${span} ms`).toBeLessThanOrEqual(onePoller * 1.5 + 3);
}

it('submitted on one replica, followed on the two others, polled by one', { timeout: 90_000 }, async () => {
  const [a, b, c] = replicas as [GatewayProcess, GatewayProcess, GatewayProcess];
  const job = await submitOn(a, validInput());
  const onB = subscribeWs(wsClient(b.wsUrl), FOLLOW, { id: job.id });
  const onC = subscribeSse(c.httpUrl, FOLLOW, { id: job.id });
  expect(await ended(onB, 'the WebSocket follower on replica B')).toBe('complete');
  expect(await ended(onC, 'the SSE follower on replica C')).toBe('complete');
  for (const recording of [onB, onC]) {
    const jobs = jobsOf(recording);
    expectOrderly(jobs);
    expect(jobs.at(-1)).toMatchObject({ status: 'COMPLETED' });
    expect(jobs.at(-1)!.video.url).toBeTruthy();
  }
  expectOnePoller(job.requestId);
});

it("a slow submit: another replica's sweep may claim the job mid-submit, and it is polled as soon as it is submitted", { timeout: 90_000 }, async () => {
  // The job is stored (no request id yet) before the upstream call; a sweep on another replica lists
  // it and takes its lease. That replica used to wait the whole submit grace (65 s) before looking again.
  const [a, b] = replicas as [GatewayProcess, GatewayProcess];
  simulator.addFault({ operation: 'submit', kind: 'delay', delayMs: 1500 });
  const job = await submitOn(a, validInput(), 'the slow submit');
  const onB = subscribeWs(wsClient(b.wsUrl), FOLLOW, { id: job.id });
  expect(await ended(onB, 'the follower of a job submitted slowly', 15_000)).toBe('complete');
  expect(jobsOf(onB).at(-1)).toMatchObject({ status: 'COMPLETED' });
});

it('the same idempotency key sent to two replicas at once: one upstream submission', { timeout: 60_000 }, async () => {
  const [a, b] = replicas as [GatewayProcess, GatewayProcess];
  const before = simulator.stats.submit;
  const input = validInput({ idempotencyKey: `replicas-${randomUUID()}` });
  const answers = await within(
    Promise.all([post(a.httpUrl, SUBMIT, { input }), post(b.httpUrl, SUBMIT, { input }), post(a.httpUrl, SUBMIT, { input }), post(b.httpUrl, SUBMIT, { input })]),
    20_000,
    'four submits with one idempotency key on two replicas',
  );
  expect(new Set(answers.map((r) => r.data?.generateVideo.id)).size).toBe(1);
  expect(simulator.stats.submit - before).toBe(1);
});

it('killing the polling replica mid-job: survivors take over and their subscribers get every later change', { timeout: 90_000 }, async () => {
  const job = await submitOn(replicas[0]!, validInput());
  const ownerPid = await waitFor(() => leaseOwnerPid(job.id), { message: `a replica to hold the poll lease of job ${job.id}` });
  const owner = replicas.find((r) => r.child.pid === ownerPid)!;
  const survivors = replicas.filter((r) => r !== owner);
  expect(survivors).toHaveLength(2);
  const followers = [subscribeWs(wsClient(survivors[0]!.wsUrl), FOLLOW, { id: job.id }), subscribeSse(survivors[1]!.httpUrl, FOLLOW, { id: job.id })];
  await Promise.all(followers.map((f, i) => f.waitForEvents(1, 15_000, `the first event on survivor ${i + 1}'s follower`)));
  await waitFor(() => simulator.statusCalls(job.requestId) >= 2, { message: `two status polls of request ${job.requestId} by the lease owner` });

  owner.child.kill('SIGKILL');
  await within(owner.exited, 10_000, 'the killed replica to exit');
  replicas = survivors;

  for (const [index, follower] of followers.entries()) {
    expect(await ended(follower, `survivor ${index + 1}'s follower, after the polling replica was killed`)).toBe('complete');
    const jobs = jobsOf(follower);
    expectOrderly(jobs);
    expect(jobs.at(-1)).toMatchObject({ status: 'COMPLETED' });
  }
  const newOwner = await leaseOwnerPid(job.id);
  expect(newOwner === null || survivors.some((r) => r.child.pid === newOwner)).toBe(true);
});

it('restarting Redis mid-job loses nothing', { timeout: 90_000 }, async () => {
  const [first, second] = replicas as [GatewayProcess, GatewayProcess];
  const key = `redis-restart-${randomUUID()}`;
  const job = await submitOn(first, validInput({ idempotencyKey: key }));
  const follower = subscribeWs(wsClient(second.wsUrl), FOLLOW, { id: job.id });
  await follower.waitForEvents(1, 15_000, 'the first event before the Redis restart');
  await within(redis.restart(), 15_000, 'Redis to restart');
  expect(await ended(follower, 'the follower across a Redis restart', 30_000)).toBe('complete');
  const jobs = jobsOf(follower);
  expectOrderly(jobs);
  expect(jobs.at(-1)).toMatchObject({ status: 'COMPLETED' });
  // The job and its idempotency key survived the restart: the same key gives the same job, no new submission.
  const submits = simulator.stats.submit;
  const again = await submitOn(second, validInput({ idempotencyKey: key }), 'the replayed submit');
  expect(again).toMatchObject({ id: job.id, status: 'COMPLETED' });
  expect(simulator.stats.submit).toBe(submits);
  const ready = await fetch(first.httpUrl.replace('/graphql', '/readyz'));
  expect(ready.status).toBe(200);
});

it('/readyz says 503 with a reason while Redis is down, and 200 once it is back', { timeout: 90_000 }, async () => {
  const readyz = replicas[0]!.httpUrl.replace('/graphql', '/readyz');
  expect((await fetch(readyz)).status).toBe(200);
  await within(redis.pause(), 10_000, 'Redis to pause');
  try {
    const down = await waitFor(async () => {
      const response = await fetch(readyz);
      return response.status === 503 ? ((await response.json()) as { status: string; reason: string }) : null;
    }, { message: '/readyz to answer 503 while Redis is paused' });
    expect(down).toMatchObject({ status: 'unavailable' });
    expect(down.reason).toMatch(/redis/i);
  } finally {
    await within(redis.resume(), 10_000, 'Redis to resume');
  }
  await waitFor(async () => (await fetch(readyz)).status === 200, { timeoutMs: 20_000, message: '/readyz to answer 200 once Redis is back' });
});

it('/readyz says 503 within seconds while Redis hangs (the process stopped, its connections open), and 200 once it answers again', { timeout: 30_000 }, async () => {
  const readyz = replicas[0]!.httpUrl.replace('/graphql', '/readyz');
  expect((await fetch(readyz)).status).toBe(200);
  redis.freeze();
  try {
    const started = Date.now();
    const response = await within(fetch(readyz), 10_000, '/readyz to answer while Redis hangs');
    expect(response.status).toBe(503);
    expect(((await response.json()) as { reason: string }).reason).toMatch(/redis/i);
    expect(Date.now() - started).toBeLessThan(5_000);
  } finally {
    redis.thaw();
  }
  await waitFor(async () => (await fetch(readyz)).status === 200, { timeoutMs: 20_000, message: '/readyz to answer 200 once Redis answers again' });
});

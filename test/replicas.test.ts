/**
 * Several gateway processes on one Redis: a job submitted on one is followed on the others; one
 * replica polls it; killing that replica hands the job over; the same idempotency key on two
 * replicas submits once; restarting Redis mid-job loses nothing.
 */
import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { post, subscribeSse, subscribeWs, wsClient, type Recording } from './helpers/clients.ts';
import { startGatewayProcess, type GatewayProcess } from './helpers/gateway-process.ts';
import { startRedisServer, type RedisServer } from './helpers/redis-server.ts';
import { FOLLOW, startSimulator, SUBMIT, TEST_FAL_KEY, validInput } from './helpers/start-gateway.ts';
import { waitFor } from './helpers/wait-for.ts';
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
  const env = { FAL_KEY: TEST_FAL_KEY, FAL_QUEUE_URL: simulator.url, REDIS_URL: redis.url, REDIS_KEY_PREFIX: prefix, POLL_INTERVAL_MS: String(POLL_MS), POLL_LEASE_MS: '600', LOG_LEVEL: 'info', FAL_UPDATES: 'poll', MEDIA_STORE: 'off' };
  replicas = await Promise.all([startGatewayProcess(env), startGatewayProcess(env), startGatewayProcess(env)]);
}, 60_000);

afterAll(async () => {
  for (const replica of replicas ?? []) replica.child.kill('SIGKILL');
});

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

async function leaseOwnerPid(jobId: string): Promise<number | null> {
  const client = new Redis(redis.url);
  try {
    const owner = await client.get(`${prefix}lease:${jobId}`);
    return owner ? Number(owner.split(':')[1]) : null;
  } finally {
    client.disconnect();
  }
}

/** Status calls for a request should be spaced like one poller's, not three. */
function expectOnePoller(requestId: string) {
  const times = simulator.requests.filter((r) => r.path.includes(`/requests/${requestId}/status`)).map((r) => r.at);
  const span = times.at(-1)! - times[0]!;
  expect(times.length).toBeGreaterThan(3);
  // One poller: about span / POLL_MS calls (jitter ±10 %); three would make three times as many.
  expect(times.length).toBeLessThanOrEqual(span / (POLL_MS * 0.85) + 3);
}

it('submitted on one replica, followed on the two others, polled by one', { timeout: 30_000 }, async () => {
  const [a, b, c] = replicas as [GatewayProcess, GatewayProcess, GatewayProcess];
  const job = (await post(a.httpUrl, SUBMIT, { input: validInput() })).data!.generateVideo;
  const onB = subscribeWs(wsClient(b.wsUrl), FOLLOW, { id: job.id });
  const onC = subscribeSse(c.httpUrl, FOLLOW, { id: job.id });
  expect(await onB.done).toBe('complete');
  expect(await onC.done).toBe('complete');
  for (const recording of [onB, onC]) {
    const jobs = jobsOf(recording);
    expectOrderly(jobs);
    expect(jobs.at(-1)).toMatchObject({ status: 'COMPLETED' });
    expect(jobs.at(-1)!.video.url).toBeTruthy();
  }
  expectOnePoller(job.requestId);
});

it('the same idempotency key sent to two replicas at once: one upstream submission', async () => {
  const [a, b] = replicas as [GatewayProcess, GatewayProcess];
  const before = simulator.stats.submit;
  const input = validInput({ idempotencyKey: `replicas-${randomUUID()}` });
  const answers = await Promise.all([post(a.httpUrl, SUBMIT, { input }), post(b.httpUrl, SUBMIT, { input }), post(a.httpUrl, SUBMIT, { input }), post(b.httpUrl, SUBMIT, { input })]);
  expect(new Set(answers.map((r) => r.data?.generateVideo.id)).size).toBe(1);
  expect(simulator.stats.submit - before).toBe(1);
});

it('killing the polling replica mid-job: survivors take over and their subscribers get every later change', { timeout: 30_000 }, async () => {
  const job = (await post(replicas[0]!.httpUrl, SUBMIT, { input: validInput() })).data!.generateVideo;
  const ownerPid = await waitFor(() => leaseOwnerPid(job.id), { message: 'a lease owner' });
  const owner = replicas.find((r) => r.child.pid === ownerPid)!;
  const survivors = replicas.filter((r) => r !== owner);
  expect(survivors).toHaveLength(2);
  const followers = [subscribeWs(wsClient(survivors[0]!.wsUrl), FOLLOW, { id: job.id }), subscribeSse(survivors[1]!.httpUrl, FOLLOW, { id: job.id })];
  await Promise.all(followers.map((f) => f.waitForEvents(1)));
  await waitFor(() => simulator.statusCalls(job.requestId) >= 2, { message: 'first polls' });

  owner.child.kill('SIGKILL');
  await owner.exited;
  replicas = survivors;

  for (const follower of followers) {
    expect(await follower.done).toBe('complete');
    const jobs = jobsOf(follower);
    expectOrderly(jobs);
    expect(jobs.at(-1)).toMatchObject({ status: 'COMPLETED' });
  }
  const newOwner = await leaseOwnerPid(job.id);
  expect(newOwner === null || survivors.some((r) => r.child.pid === newOwner)).toBe(true);
});

it('restarting Redis mid-job loses nothing', { timeout: 40_000 }, async () => {
  const [first, second] = replicas as [GatewayProcess, GatewayProcess];
  const key = `redis-restart-${randomUUID()}`;
  const job = (await post(first.httpUrl, SUBMIT, { input: validInput({ idempotencyKey: key }) })).data!.generateVideo;
  const follower = subscribeWs(wsClient(second.wsUrl), FOLLOW, { id: job.id });
  await follower.waitForEvents(1);
  await redis.restart();
  expect(await follower.done).toBe('complete');
  const jobs = jobsOf(follower);
  expectOrderly(jobs);
  expect(jobs.at(-1)).toMatchObject({ status: 'COMPLETED' });
  // The job and its idempotency key survived the restart: the same key gives the same job, no new submission.
  const submits = simulator.stats.submit;
  const again = await post(second.httpUrl, SUBMIT, { input: validInput({ idempotencyKey: key }) });
  expect(again.data!.generateVideo).toMatchObject({ id: job.id, status: 'COMPLETED' });
  expect(simulator.stats.submit).toBe(submits);
  const ready = await fetch(first.httpUrl.replace('/graphql', '/readyz'));
  expect(ready.status).toBe(200);
});

it('/readyz says 503 with a reason while Redis is down, and 200 once it is back', { timeout: 40_000 }, async () => {
  const readyz = replicas[0]!.httpUrl.replace('/graphql', '/readyz');
  expect((await fetch(readyz)).status).toBe(200);
  await redis.pause();
  try {
    const down = await waitFor(async () => {
      const response = await fetch(readyz);
      return response.status === 503 ? ((await response.json()) as { status: string; reason: string }) : null;
    }, { message: 'readyz 503' });
    expect(down).toMatchObject({ status: 'unavailable' });
    expect(down.reason).toMatch(/redis/i);
  } finally {
    await redis.resume();
  }
  await waitFor(async () => (await fetch(readyz)).status === 200, { timeoutMs: 20_000, message: 'readyz 200 again' });
});

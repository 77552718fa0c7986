/**
 * Status streams across three replicas on Redis: the replica holding a job's poll lease is the one
 * that streams it (one stream per job, not three), and when that replica is killed the stream moves
 * with the lease to a survivor, whose subscribers see the job through to COMPLETED.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { post, subscribeSse, subscribeWs, wsClient } from './helpers/clients.ts';
import { startGatewayProcess, type GatewayProcess } from './helpers/gateway-process.ts';
import { startRedisServer, leaseOwnerPid as leaseOwnerOf, type RedisServer } from './helpers/redis-server.ts';
import { FOLLOW, startSimulator, SUBMIT, TEST_FAL_KEY, validInput } from './helpers/start-gateway.ts';
import { waitFor } from './helpers/wait-for.ts';
import type { FalSimulator } from '../src/fal-simulator/index.ts';

let redis: RedisServer;
let simulator: FalSimulator;
let replicas: GatewayProcess[];
let prefix: string;

beforeAll(async () => {
  redis = await startRedisServer();
  simulator = await startSimulator({ timing: { initialQueuePosition: 2, queueStepMs: 200, runMs: 1000, logEveryMs: 100, logWindowMs: 10_000 } });
  prefix = `test-${randomUUID()}:`;
  const env = {
    FAL_KEY: TEST_FAL_KEY, FAL_QUEUE_URL: simulator.url, REDIS_URL: redis.url, REDIS_KEY_PREFIX: prefix, LOG_LEVEL: 'info', MEDIA_STORE: 'off', FAL_API_URL: simulator.url,
    FAL_UPDATES: 'stream', POLL_INTERVAL_MS: '60', POLL_LEASE_MS: '2000', STREAM_SAFETY_POLL_MS: '30000', STREAM_RECONNECT_MS: '20', STREAM_STALL_MS: '2000',
  };
  replicas = await Promise.all([startGatewayProcess(env), startGatewayProcess(env), startGatewayProcess(env)]);
}, 120_000);

afterAll(async () => {
  for (const replica of replicas ?? []) replica.child.kill('SIGKILL');
  await redis?.stop();
});

const streamOpens = (requestId: string) => simulator.requests.filter((r) => r.path.includes(`/requests/${requestId}/status/stream`)).length;

const leaseOwnerPid = (jobId: string) => leaseOwnerOf(redis.url, prefix, jobId);

/** Every line of the run, once, in order (fal's lines: "Starting ...", then "step 1", "step 2", ...). */
function expectCompleteLogs(job: { status: string; logs: Array<{ message: string }> }, atLeast: number) {
  expect(job.status).toBe('COMPLETED');
  const messages = job.logs.map((l) => l.message);
  expect(messages.length).toBeGreaterThanOrEqual(atLeast);
  expect(messages).toEqual(['Starting image-to-video generation', ...Array.from({ length: messages.length - 1 }, (_, k) => `Generating video: step ${k + 1}`)]);
}

it('one replica holds each job\'s stream, whoever submitted it and whoever follows it', { timeout: 30_000 }, async () => {
  const [a, b, c] = replicas as [GatewayProcess, GatewayProcess, GatewayProcess];
  const jobs = await Promise.all([a, b, c].map(async (r) => (await post(r.httpUrl, SUBMIT, { input: validInput() })).data!.generateVideo));
  const followers = jobs.map((job, i) => subscribeWs(wsClient(replicas[(i + 1) % 3]!.wsUrl), FOLLOW, { id: job.id }));
  for (const follower of followers) expect(await follower.done).toBe('complete');
  for (const [i, job] of jobs.entries()) {
    expectCompleteLogs(followers[i]!.events.at(-1)!.data!.jobUpdates, 10);
    expect(streamOpens(job.requestId), 'one stream per job').toBe(1);
    expect(simulator.statusCalls(job.requestId)).toBeLessThanOrEqual(3);
  }
});

it('killing the replica that holds the stream: the stream moves with the lease and the job completes', { timeout: 30_000 }, async () => {
  simulator.setTiming({ runMs: 3000 });
  const job = (await post(replicas[0]!.httpUrl, SUBMIT, { input: validInput() })).data!.generateVideo;
  await waitFor(() => streamOpens(job.requestId) === 1, { message: 'the first stream to open' });
  expect(simulator.openStreams(job.requestId), 'one stream open, not three').toBe(1);
  const ownerPid = await waitFor(() => leaseOwnerPid(job.id), { message: 'a lease owner' });
  const owner = replicas.find((r) => r.child.pid === ownerPid)!;
  const survivors = replicas.filter((r) => r !== owner);
  const follower = subscribeSse(survivors[0]!.httpUrl, FOLLOW, { id: job.id });
  await follower.waitForEvents(1);

  owner.child.kill('SIGKILL');
  await owner.exited;
  replicas = survivors;
  await waitFor(() => streamOpens(job.requestId) === 2, { message: 'a survivor to open the stream' });
  expect(simulator.openStreams(job.requestId), 'again one stream open').toBeLessThanOrEqual(1);

  expect(await follower.done).toBe('complete');
  expectCompleteLogs(follower.events.at(-1)!.data!.jobUpdates, 30);
  expect(streamOpens(job.requestId), 'a second stream, opened by the new holder').toBe(2);
  const newOwner = await leaseOwnerPid(job.id);
  expect(newOwner === null || survivors.some((r) => r.child.pid === newOwner)).toBe(true);
  simulator.setTiming({ runMs: 1000 });
});

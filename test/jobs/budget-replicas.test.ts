/**
 * Budgets across replicas: three gateway processes on one Redis, 20 submits spread over them at once.
 * The budget is reserved in the same Lua script as the job's insert, so exactly the submits it allows
 * reach the upstream, whichever replica took them; usage agrees on every replica.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { post } from '../helpers/clients.ts';
import { startGatewayProcess, type GatewayProcess } from '../helpers/gateway-process.ts';
import { startSimulator, TEST_FAL_KEY, validInput } from '../helpers/start-gateway.ts';
import { bearer, hsToken, TEST_JWT_SECRET } from '../helpers/tokens.ts';
import type { FalSimulator } from '../../src/fal-simulator/index.ts';

const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const SUBMIT_COST = 'mutation($input: GenerateVideoInput!) { generateVideo(input: $input) { id cost { amount } } }';
const USAGE = 'query { usage { spent { amount } jobs } }';

let simulator: FalSimulator;
let replicas: GatewayProcess[];
beforeAll(async () => {
  simulator = await startSimulator({ timing: { runMs: 60_000 } });
  const env = {
    FAL_KEY: TEST_FAL_KEY,
    FAL_QUEUE_URL: simulator.url,
    REDIS_URL,
    REDIS_KEY_PREFIX: `test-${randomUUID()}:`,
    AUTH_JWT_SECRET: TEST_JWT_SECRET,
    TENANT_DAILY_BUDGET_USD: '1.40',
    USER_DAILY_BUDGET_USD: '0.70',
    TENANT_SUBMITS_PER_MINUTE: '0',
    MEDIA_STORE: 'off',
  };
  replicas = await Promise.all([startGatewayProcess(env), startGatewayProcess(env), startGatewayProcess(env)]);
}, 60_000);
afterAll(() => {
  for (const replica of replicas ?? []) replica.child.kill('SIGKILL');
});

it('20 concurrent submits over three replicas: exactly what the tenant and user budgets allow', { timeout: 30_000 }, async () => {
  const users = await Promise.all(['alice', 'bob', 'carol'].map(async (sub) => bearer(await hsToken({ tenant: 'acme', sub }))));
  const before = simulator.stats.submit;
  const answers = await Promise.all(
    Array.from({ length: 20 }, (_, i) => post(replicas[i % 3]!.httpUrl, SUBMIT_COST, { input: validInput() }, users[i % 3]!)),
  );
  const accepted = answers.filter((a) => a.data?.generateVideo);
  expect(accepted).toHaveLength(4); // $1.40 for the tenant, at most $0.70 (2 jobs) per user
  expect(answers.filter((a) => a.errors?.[0]?.extensions?.code === 'BUDGET_EXCEEDED')).toHaveLength(16);
  expect(simulator.stats.submit - before).toBe(4);
  const admin = bearer(await hsToken({ tenant: 'acme', sub: 'root', roles: ['admin'] }));
  for (const replica of replicas) {
    expect((await post(replica.httpUrl, USAGE, {}, admin)).data?.usage).toEqual({ spent: { amount: '1.40' }, jobs: 4 });
  }
});

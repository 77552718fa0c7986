/**
 * Cost and daily budgets on one process (SQLite): Job.cost as a decimal string; 20 concurrent submits
 * never overspend (the upstream sees exactly the submits the budget allows); a FAILED or CANCELLED job
 * gives its reservation back, a submit with an unknown outcome keeps it; per-user budgets inside the
 * tenant's; usage and cost match the jobs; the spend counter on /metrics.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { subscribeWs, wsClient } from '../helpers/clients.ts';
import { CANCEL, FOLLOW, startTestGateway, SUBMIT, validInput, type TestGateway } from '../helpers/start-gateway.ts';
import { bearer, hsToken, TEST_JWT_SECRET } from '../helpers/tokens.ts';
import { within } from '../helpers/wait-for.ts';

const KEYS = ['t1', 't2', 't3', 't4', 't5'].map((t) => `${t}:${t}-key-0123456789abcdef`).join(',');
const key = (tenant: string) => bearer(`${tenant}-key-0123456789abcdef`);
const SUBMIT_COST = 'mutation($input: GenerateVideoInput!) { generateVideo(input: $input) { id status cost { amount currency } } }';
const USAGE = 'query { usage { spent { amount currency } dailyBudget { amount } jobs completed failed cancelled } }';
const COSTS = 'query { jobs(first: 100) { nodes { status cost { amount } } } }';

let gateway: TestGateway;
beforeAll(async () => {
  gateway = await startTestGateway({
    env: {
      GATEWAY_API_KEYS: KEYS,
      AUTH_JWT_SECRET: TEST_JWT_SECRET,
      TENANT_DAILY_BUDGET_USD: '1.05',
      USER_DAILY_BUDGET_USD: '0.70',
      TENANT_SUBMITS_PER_MINUTE: '0',
    },
    simulator: { timing: { runMs: 60_000 } },
  });
});
afterAll(() => gateway.dispose());

const submit = (headers: Record<string, string>, overrides: Record<string, unknown> = {}) => gateway.gql(SUBMIT_COST, { input: validInput(overrides) }, headers);
const usage = async (headers: Record<string, string>) => (await gateway.gql(USAGE, {}, headers)).data?.usage;
const sumOfCosts = async (headers: Record<string, string>) =>
  ((await gateway.gql(COSTS, {}, headers)).data?.jobs.nodes as Array<{ cost: { amount: string } }>).reduce((sum, n) => sum + Math.round(Number(n.cost.amount) * 100), 0);

describe('a tenant budget', () => {
  it('holds under 20 concurrent submits: exactly 3 x $0.35 reach the upstream, the rest BUDGET_EXCEEDED', async () => {
    const before = gateway.simulator.stats.submit;
    const answers = await Promise.all(Array.from({ length: 20 }, () => submit(key('t1'))));
    const accepted = answers.filter((a) => a.data?.generateVideo);
    const refused = answers.filter((a) => a.errors?.[0]?.extensions?.code === 'BUDGET_EXCEEDED');
    expect(accepted).toHaveLength(3);
    expect(refused).toHaveLength(17);
    expect(gateway.simulator.stats.submit - before).toBe(3);
    for (const answer of accepted) expect(answer.data?.generateVideo.cost).toEqual({ amount: '0.35', currency: 'USD' });
    const retry = refused[0]?.errors?.[0]?.extensions?.retryAfterSeconds as number;
    const midnight = Math.ceil((Date.UTC(new Date().getUTCFullYear(), new Date().getUTCMonth(), new Date().getUTCDate() + 1) - Date.now()) / 1000);
    expect(Math.abs(retry - midnight)).toBeLessThanOrEqual(2);
    expect(await usage(key('t1'))).toEqual({ spent: { amount: '1.05', currency: 'USD' }, dailyBudget: { amount: '1.05' }, jobs: 3, completed: 0, failed: 0, cancelled: 0 });
  });

  it('gives the reservation back when a job is cancelled, and a 10 s job costs $0.70', async () => {
    const [first] = await Promise.all([submit(key('t2')), submit(key('t2'))]);
    expect((await submit(key('t2'), { duration: 'SECONDS_10' })).errors?.[0]?.extensions?.code).toBe('BUDGET_EXCEEDED');
    const cancelled = await gateway.gql(CANCEL, { id: first.data?.generateVideo.id }, key('t2'));
    expect(cancelled.data?.cancelJob.status).toBe('CANCELLED');
    const ten = await submit(key('t2'), { duration: 'SECONDS_10' });
    expect(ten.data?.generateVideo.cost.amount).toBe('0.70');
    const totals = await usage(key('t2'));
    expect(totals).toMatchObject({ spent: { amount: '1.05' }, jobs: 3, cancelled: 1 });
    expect(await sumOfCosts(key('t2'))).toBe(105); // the cancelled job's cost is 0.00
  });

  it('keeps it for a submit whose outcome is unknown, gives it back for a certain refusal', async () => {
    gateway.simulator.addFault({ operation: 'submit', kind: 'http', status: 422, times: 1 });
    expect((await submit(key('t3'))).errors?.[0]?.extensions?.code).toBe('UPSTREAM_ERROR');
    expect((await usage(key('t3'))).spent.amount).toBe('0.00');
    gateway.simulator.addFault({ operation: 'submit', kind: 'drop', times: 1 });
    expect((await submit(key('t3'))).errors?.[0]?.extensions?.code).toBe('UPSTREAM_UNAVAILABLE');
    // The orphan is still being looked for upstream (unfinished): its reservation stands meanwhile.
    expect(await usage(key('t3'))).toMatchObject({ spent: { amount: '0.35' }, jobs: 1, failed: 0 });
    expect(await sumOfCosts(key('t3'))).toBe(35);
  });
});

describe('a user budget inside the tenant budget', () => {
  it("stops one user at $0.70 and the tenant at $1.05, with each usage the caller's own", async () => {
    const alice = bearer(await hsToken({ tenant: 't4', sub: 'alice' }));
    const bob = bearer(await hsToken({ tenant: 't4', sub: 'bob' }));
    const admin = bearer(await hsToken({ tenant: 't4', sub: 'root', roles: ['admin'] }));
    const answers = await Promise.all(Array.from({ length: 10 }, () => submit(alice)));
    expect(answers.filter((a) => a.data?.generateVideo)).toHaveLength(2);
    expect((await submit(bob)).data?.generateVideo.cost.amount).toBe('0.35');
    const overTenant = await submit(bob);
    expect(overTenant.errors?.[0]?.extensions?.code).toBe('BUDGET_EXCEEDED');
    expect(overTenant.errors?.[0]?.message).toMatch(/tenant/);
    expect(await usage(alice)).toMatchObject({ spent: { amount: '0.70' }, dailyBudget: { amount: '0.70' }, jobs: 2 });
    expect(await usage(bob)).toMatchObject({ spent: { amount: '0.35' }, jobs: 1 });
    expect(await usage(admin)).toMatchObject({ spent: { amount: '1.05' }, dailyBudget: { amount: '1.05' }, jobs: 3 });
  });
});

describe('spend on /metrics', () => {
  it('counts the cost of completed jobs per tenant', async () => {
    gateway.simulator.setTiming({ runMs: 100 });
    const job = (await submit(key('t5'))).data?.generateVideo;
    const follow = subscribeWs(wsClient(gateway.wsUrl, key('t5')), FOLLOW, { id: job.id });
    expect(await within(follow.done, 15_000, 'the job to complete')).toBe('complete');
    const metrics = await (await fetch(`${gateway.baseUrl}/metrics`)).text();
    expect(metrics).toMatch(/gateway_spend_usd_total\{tenant="t5"\} 0\.35/);
    expect(await usage(key('t5'))).toMatchObject({ spent: { amount: '0.35' }, completed: 1 });
  });
});

describe('with durable videos (MEDIA_STORE=local, a store decorator in front of the store)', () => {
  it("still holds the tenant's and a user's budget and counts a user's unfinished jobs as the user's", async () => {
    const media = await startTestGateway({
      env: {
        GATEWAY_API_KEYS: KEYS,
        AUTH_JWT_SECRET: TEST_JWT_SECRET,
        MEDIA_STORE: 'local',
        TENANT_DAILY_BUDGET_USD: '0.70',
        TENANT_SUBMITS_PER_MINUTE: '0',
        TENANT_MAX_ACTIVE_JOBS: '0',
        USER_MAX_ACTIVE_JOBS: '1',
      },
      simulator: { timing: { runMs: 60_000 } },
    });
    try {
      const send = (headers: Record<string, string>) => media.gql(SUBMIT_COST, { input: validInput() }, headers);
      const alice = bearer(await hsToken({ tenant: 't1', sub: 'alice' }));
      const bob = bearer(await hsToken({ tenant: 't1', sub: 'bob' }));
      expect((await send(alice)).data?.generateVideo.cost.amount).toBe('0.35');
      // Alice's one unfinished job is hers, not Bob's: he may still submit.
      expect((await send(bob)).data?.generateVideo.cost.amount).toBe('0.35');
      expect((await send(key('t1'))).errors?.[0]?.extensions?.code).toBe('BUDGET_EXCEEDED');
    } finally {
      await media.dispose();
    }
  });
});

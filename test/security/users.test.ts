/**
 * Users inside a tenant: a plain user sees only its own jobs by every path (job, jobs, jobUpdates over
 * WebSocket and SSE, cancelJob, usage); the tenant's admin and its API key see them all; another
 * tenant's admin sees none. Idempotency keys are per user; USER_* quotas count per user.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { subscribeSse, subscribeWs, wsClient } from '../helpers/clients.ts';
import { CANCEL, FOLLOW, GET_JOB, startTestGateway, submitJob, SUBMIT, validInput, type TestGateway } from '../helpers/start-gateway.ts';
import { bearer, hsToken, TEST_JWT_SECRET } from '../helpers/tokens.ts';
import { within } from '../helpers/wait-for.ts';

const API_KEY = 'acme-api-key-0123456789abcdef';
const LIST = 'query($status: JobStatus) { jobs(first: 50, status: $status) { nodes { id userId } } }';
const USAGE = 'query { usage { spent { amount currency } jobs completed failed cancelled } }';

let gateway: TestGateway;
const as: Record<string, Record<string, string>> = {};
beforeAll(async () => {
  gateway = await startTestGateway({ env: { AUTH_JWT_SECRET: TEST_JWT_SECRET, GATEWAY_API_KEYS: `acme:${API_KEY}` }, simulator: { timing: { runMs: 60_000 } } });
  as.alice = bearer(await hsToken({ tenant: 'acme', sub: 'alice' }));
  as.bob = bearer(await hsToken({ tenant: 'acme', sub: 'bob' }));
  as.admin = bearer(await hsToken({ tenant: 'acme', sub: 'carol', roles: ['admin'] }));
  as.outsider = bearer(await hsToken({ tenant: 'other', sub: 'dave', roles: 'admin' }));
  as.key = bearer(API_KEY);
});
afterAll(() => gateway.dispose());

const ids = async (who: string) => ((await gateway.gql(LIST, {}, as[who])).data?.jobs.nodes as Array<{ id: string }>).map((n) => n.id).sort();
const read = async (who: string, id: string) => (await gateway.gql(GET_JOB, { id }, as[who])).data?.job ?? null;

describe('a plain user sees only its own jobs', () => {
  let a: { id: string };
  let b: { id: string };
  beforeAll(async () => {
    a = await submitJob(gateway, {}, as.alice);
    b = await submitJob(gateway, {}, as.bob);
  });

  it('job and jobs: own jobs only; admin and API key see both; another tenant sees none', async () => {
    expect((await read('alice', a.id))?.id).toBe(a.id);
    expect(await read('alice', b.id)).toBeNull();
    expect(await read('bob', a.id)).toBeNull();
    expect(await ids('alice')).toEqual([a.id]);
    expect(await ids('bob')).toEqual([b.id]);
    expect(await ids('admin')).toEqual([a.id, b.id].sort());
    expect(await ids('key')).toEqual([a.id, b.id].sort());
    expect((await read('admin', b.id))?.id).toBe(b.id);
    expect(await read('outsider', a.id)).toBeNull();
    expect(await ids('outsider')).toEqual([]);
  });

  it('jobUpdates over WebSocket and SSE: NOT_FOUND for the other user, events for the owner and the admin', async () => {
    const denied = [subscribeWs(wsClient(gateway.wsUrl, as.alice), FOLLOW, { id: b.id }), subscribeSse(gateway.httpUrl, FOLLOW, { id: b.id }, as.alice)];
    for (const recording of denied) {
      const ended = await within(recording.done, 10_000, 'the refused subscription to end');
      const errors = ended === 'complete' ? recording.events.flatMap((e) => e.errors ?? []) : (ended.error as Array<{ extensions?: { code?: string } }>);
      expect(errors.map((e) => e.extensions?.code)).toEqual(['NOT_FOUND']);
      expect(recording.events.filter((e) => e.data)).toEqual([]);
    }
    for (const who of ['bob', 'admin']) {
      const ws = subscribeWs(wsClient(gateway.wsUrl, as[who]), FOLLOW, { id: b.id });
      const sse = subscribeSse(gateway.httpUrl, FOLLOW, { id: b.id }, as[who]);
      expect((await ws.waitForEvents(1))[0]?.data?.jobUpdates.id).toBe(b.id);
      expect((await sse.waitForEvents(1))[0]?.data?.jobUpdates.id).toBe(b.id);
      ws.stop();
      sse.stop();
    }
  });

  it("cancelJob: NOT_FOUND for another user's job; the admin may cancel it", async () => {
    const job = await submitJob(gateway, {}, as.bob);
    const refused = await gateway.gql(CANCEL, { id: job.id }, as.alice);
    expect(refused.errors?.[0]?.extensions?.code).toBe('NOT_FOUND');
    const cancelled = await gateway.gql(CANCEL, { id: job.id }, as.admin);
    expect(cancelled.data?.cancelJob.status).toBe('CANCELLED');
  });

  it("usage: a user's own jobs; the admin's and the key's whole tenant", async () => {
    const usage = async (who: string) => (await gateway.gql(USAGE, {}, as[who])).data?.usage;
    const mine = await usage('alice');
    const tenant = await usage('admin');
    expect(mine.jobs).toBe((await ids('alice')).length);
    expect(tenant.jobs).toBe((await ids('admin')).length);
    expect(await usage('key')).toEqual(tenant);
    expect(tenant.cancelled).toBeGreaterThanOrEqual(1);
    expect(mine.cancelled).toBe(0);
    expect((await usage('outsider')).jobs).toBe(0);
  });
});

describe('idempotency keys are per user', () => {
  it('the same key by two users makes two jobs; the same user gets its first job back', async () => {
    const input = validInput({ idempotencyKey: 'shared-key' });
    const first = (await gateway.gql(SUBMIT, { input }, as.alice)).data?.generateVideo;
    const other = (await gateway.gql(SUBMIT, { input }, as.bob)).data?.generateVideo;
    const again = (await gateway.gql(SUBMIT, { input }, as.alice)).data?.generateVideo;
    expect(other.id).not.toBe(first.id);
    expect(again.id).toBe(first.id);
    expect(other.requestId).not.toBe(first.requestId);
  });
});

describe('USER_MAX_ACTIVE_JOBS and USER_SUBMITS_PER_MINUTE', () => {
  it('count per user, inside the tenant quotas', async () => {
    const limited = await startTestGateway({
      env: { AUTH_JWT_SECRET: TEST_JWT_SECRET, USER_MAX_ACTIVE_JOBS: '1', USER_SUBMITS_PER_MINUTE: '2' },
      simulator: { timing: { runMs: 60_000 } },
    });
    const submit = (who: Record<string, string>) => limited.gql(SUBMIT, { input: validInput() }, who);
    expect((await submit(as.alice!)).data?.generateVideo.id).toBeDefined();
    const second = await submit(as.alice!);
    expect(second.errors?.[0]?.extensions?.code).toBe('RATE_LIMITED');
    expect((await submit(as.bob!)).data?.generateVideo.id).toBeDefined();
    const jobs = (await limited.gql(LIST, {}, as.bob)).data?.jobs.nodes as Array<{ id: string }>;
    await limited.gql(CANCEL, { id: jobs[0]?.id }, as.bob);
    expect((await submit(as.bob!)).data?.generateVideo.id).toBeDefined(); // a slot again, and bob's 3rd submit this minute…
    const third = await limited.gql(CANCEL, { id: (await limited.gql(LIST, { status: 'IN_QUEUE' }, as.bob)).data?.jobs.nodes[0]?.id }, as.bob);
    expect(third.data?.cancelJob.status).toBe('CANCELLED');
    const overRate = await submit(as.bob!);
    expect(overRate.errors?.[0]?.extensions?.code).toBe('RATE_LIMITED');
    expect(overRate.errors?.[0]?.extensions?.retryAfterSeconds).toBeGreaterThan(0);
    await limited.dispose();
  });
});

describe('node and jobEvents follow the same rule', () => {
  const EVENTS = 'subscription { jobEvents { cursor job { id userId } } }';
  const NODE = 'query($id: ID!) { node(id: $id) { id ... on Job { userId } } }';

  it("a user's jobEvents carry only its own jobs, the admin's both; node answers null for another user's job", async () => {
    const mine = subscribeWs(wsClient(gateway.wsUrl, as.alice), EVENTS);
    const all = subscribeWs(wsClient(gateway.wsUrl, as.admin), EVENTS);
    // Feeds start "from now": a warm-up job of alice's (its logs keep changing) shows both are live first.
    await submitJob(gateway, {}, as.alice);
    await mine.waitForEvents(1);
    await all.waitForEvents(1);
    const theirs = await submitJob(gateway, {}, as.bob);
    const own = await submitJob(gateway, {}, as.alice);
    await all.waitForEvents(2);
    await mine.waitForEvents(1);
    const seen = (recording: typeof mine) => new Set(recording.events.map((e) => e.data?.jobEvents.job.id));
    await within(
      (async () => {
        while (!(seen(all).has(own.id) && seen(all).has(theirs.id) && seen(mine).has(own.id))) await all.waitForEvents(all.events.length + 1);
      })(),
      15_000,
      'both jobs in the admin feed and her own in alice feed',
    );
    expect(seen(mine).has(theirs.id)).toBe(false);
    mine.stop();
    all.stop();
    expect((await gateway.gql(NODE, { id: theirs.id }, as.alice)).data?.node).toBeNull();
    expect((await gateway.gql(NODE, { id: own.id }, as.alice)).data?.node.userId).toBe('alice');
    expect((await gateway.gql(NODE, { id: theirs.id }, as.admin)).data?.node.userId).toBe('bob');
  });
});

/** Each quota trips with RATE_LIMITED (retryAfterSeconds) and nothing reaches the upstream. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { subscribeSse, subscribeWs, wsClient } from '../helpers/clients.ts';
import { waitFor } from '../helpers/wait-for.ts';
import { FOLLOW, startTestGateway, submitJob, SUBMIT, validInput, type TestGateway } from '../helpers/start-gateway.ts';

const KEYS = 'a:quota-key-a-123456,b:quota-key-b-123456,c:quota-key-c-123456,d:quota-key-d-123456';
const as = (t: 'a' | 'b' | 'c' | 'd') => ({ authorization: `Bearer quota-key-${t}-123456` });

function expectRateLimited(response: { errors?: Array<{ extensions?: Record<string, any> }> }) {
  expect(response.errors?.[0]?.extensions).toMatchObject({ code: 'RATE_LIMITED' });
  expect(response.errors![0]!.extensions!.retryAfterSeconds).toBeGreaterThan(0);
}

describe('job quotas', () => {
  let gateway: TestGateway;
  beforeAll(async () => {
    gateway = await startTestGateway({
      env: { GATEWAY_API_KEYS: KEYS, TENANT_MAX_ACTIVE_JOBS: '2', TENANT_SUBMITS_PER_MINUTE: '4', MAX_ACTIVE_JOBS: '3' },
    });
    gateway.simulator.pause(); // jobs stay unfinished
  });
  afterAll(() => gateway.dispose());

  it('unfinished jobs per tenant', async () => {
    await submitJob(gateway, {}, as('a'));
    await submitJob(gateway, {}, as('a'));
    const before = gateway.simulator.stats.submit;
    expectRateLimited(await gateway.gql(SUBMIT, { input: validInput() }, as('a')));
    expect(gateway.simulator.stats.submit).toBe(before);
    // A replay of an existing idempotent job is not a new submission: never limited.
  });

  it('global cap on unfinished jobs', async () => {
    await submitJob(gateway, {}, as('b')); // total 3
    const before = gateway.simulator.stats.submit;
    expectRateLimited(await gateway.gql(SUBMIT, { input: validInput() }, as('c')));
    expect(gateway.simulator.stats.submit).toBe(before);
  });

  it('submissions per minute per tenant', async () => {
    // Tenant a has used 3 of its 4 points (2 accepted, 1 refused by the active-jobs quota after counting).
    const limited = await startTestGateway({ env: { GATEWAY_API_KEYS: KEYS, TENANT_SUBMITS_PER_MINUTE: '2' } });
    try {
      await submitJob(limited, {}, as('a'));
      await submitJob(limited, {}, as('a'));
      const before = limited.simulator.stats.submit;
      const refused = await limited.gql(SUBMIT, { input: validInput() }, as('a'));
      expectRateLimited(refused);
      expect(refused.errors![0]!.extensions!.retryAfterSeconds).toBeLessThanOrEqual(60);
      expect(limited.simulator.stats.submit).toBe(before);
      // Another tenant is not affected.
      expect((await submitJob(limited, {}, as('b'))).status).toBe('IN_QUEUE');
    } finally {
      await limited.dispose();
    }
  });
});

describe('connection and subscription quotas', () => {
  let gateway: TestGateway;
  beforeAll(async () => {
    gateway = await startTestGateway({ env: { GATEWAY_API_KEYS: KEYS, TENANT_MAX_SUBSCRIPTIONS: '3', TENANT_MAX_WS_CONNECTIONS: '2' } });
    gateway.simulator.pause();
  });
  afterAll(() => gateway.dispose());

  it('open subscriptions per tenant, across WS and SSE', async () => {
    const job = await submitJob(gateway, {}, as('a'));
    const client = wsClient(gateway.wsUrl, as('a'));
    const first = subscribeWs(client, FOLLOW, { id: job.id });
    const second = subscribeSse(gateway.httpUrl, FOLLOW, { id: job.id }, as('a'));
    const third = subscribeSse(gateway.httpUrl, FOLLOW, { id: job.id }, as('a'));
    await first.waitForEvents(1);
    await second.waitForEvents(1);
    await third.waitForEvents(1);
    for (const extra of [subscribeWs(client, FOLLOW, { id: job.id }), subscribeSse(gateway.httpUrl, FOLLOW, { id: job.id }, as('a'))]) {
      const ended = await extra.done;
      const errors = ended === 'complete' ? extra.events.flatMap((e) => e.errors ?? []) : (ended.error as Array<{ extensions?: Record<string, any> }>);
      expect(errors[0]?.extensions).toMatchObject({ code: 'RATE_LIMITED' });
    }
    // Closing one frees its slot.
    first.stop();
    second.stop();
    third.stop();
    const again = subscribeWs(client, FOLLOW, { id: job.id });
    await again.waitForEvents(1);
    again.stop();
    await client.dispose();
  });

  it('a subscription Yoga serves itself (SSE asked for beside JSON, which the SSE route leaves to Yoga) holds a slot too, given back when the client leaves', async () => {
    const job = await submitJob(gateway, {}, as('c'));
    /** Opens the subscription and reads until its first event (the job's state, or the refusal). */
    const open = async () => {
      const abort = new AbortController();
      const response = await fetch(`${gateway.httpUrl}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', accept: 'text/event-stream, application/json', ...as('c') },
        body: JSON.stringify({ query: FOLLOW, variables: { id: job.id } }),
        signal: abort.signal,
      });
      const reader = response.body!.getReader();
      let text = '';
      while (!/"(jobUpdates|errors)"/.test(text)) {
        const { value, done } = await reader.read();
        if (done) break;
        text += new TextDecoder().decode(value);
      }
      return { text, leave: () => abort.abort() };
    };
    const held = [await open(), await open(), await open()];
    held.forEach((h) => expect(h.text).toContain('"jobUpdates"'));
    const refused = await open();
    expect(refused.text).toContain('RATE_LIMITED');
    refused.leave();
    held[0]!.leave();
    await waitFor(async () => {
      const next = await open();
      next.leave();
      return next.text.includes('"jobUpdates"');
    }, { message: 'the slot of the subscriber that left to be free again' });
    held.slice(1).forEach((h) => h.leave());
  });

  it('WebSocket connections per tenant: one more is closed with 4429', async () => {
    const job = await submitJob(gateway, {}, as('b'));
    const open = [wsClient(gateway.wsUrl, as('b')), wsClient(gateway.wsUrl, as('b'))];
    // Lazy clients stay connected while a subscription is open (the job is paused, so these stay open).
    const recs = open.map((c) => subscribeWs(c, FOLLOW, { id: job.id }));
    await Promise.all(recs.map((r) => r.waitForEvents(1)));
    const extra = wsClient(gateway.wsUrl, as('b'));
    await subscribeWs(extra, `{ job(id: "${job.id}") { id } }`).done;
    const closed = await extra.closed;
    expect(closed.code).toBe(4429);
    expect(closed.reason).toMatch(/RATE_LIMITED/);
    // Another tenant still connects.
    const other = wsClient(gateway.wsUrl, as('c'));
    expect(await subscribeWs(other, `{ jobs { edges { cursor } } }`).done).toBe('complete');
    recs.forEach((r) => r.stop());
    await Promise.all([...open, other].map((c) => c.dispose()));
  });

  it('a closed WebSocket connection gives its slot back', async () => {
    // Tenant d is this test's alone: the slots other tests' clients give back as the server sees them go count for nothing here.
    const job = await submitJob(gateway, {}, as('d'));
    const open = [wsClient(gateway.wsUrl, as('d')), wsClient(gateway.wsUrl, as('d'))];
    const recs = open.map((c) => subscribeWs(c, FOLLOW, { id: job.id }));
    await Promise.all(recs.map((r) => r.waitForEvents(1)));
    recs[0]!.stop();
    await open[0]!.dispose();
    // The server counts the close when it sees it: until then a third connection may still be refused.
    await waitFor(
      async () => {
        const client = wsClient(gateway.wsUrl, as('d'));
        const done = await subscribeWs(client, `{ jobs { edges { cursor } } }`).done;
        await client.dispose();
        return done === 'complete';
      },
      { message: "tenant d's connection slot to come back after one of its two sockets closed" },
    );
    recs[1]!.stop();
    await open[1]!.dispose();
  });
});

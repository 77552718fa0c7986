/**
 * SSE subscribers share cohorts like WebSocket ones (src/http/sse-subscriptions.ts): one execution
 * and one serialization per (visibility, document, variables), over graphql-sse's own client and raw
 * HTTP alike (GET and POST); each member gets the current state first, every change, then complete; a
 * reader that does not read gets the latest state when it reads again, not every frame it missed; a
 * jobEvents replay from a cursor keeps an execution of its own.
 */
import { connect } from 'node:net';
import { createClient } from 'graphql-sse';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { subscribeSse } from '../helpers/clients.ts';
import { metric, rawSse } from '../helpers/sse-raw.ts';
import { startTestGateway, submitJob, type TestGateway } from '../helpers/start-gateway.ts';
import { waitFor, within } from '../helpers/wait-for.ts';

const FOLLOW = 'subscription Follow($id: ID!) { jobUpdates(id: $id) { id status queuePosition } }';
const EVENTS = 'subscription { jobEvents { cursor job { id status } } }';
const REPLAY = 'subscription Replay($after: String) { jobEvents(after: $after) { cursor job { id status } } }';

/** graphql-sse's client (distinct connections mode), recording what it receives. */
function graphqlSse(httpUrl: string, query: string, variables: Record<string, unknown>) {
  const client = createClient({ url: httpUrl, retryAttempts: 0 });
  const events: any[] = [];
  const done = new Promise<'complete' | { error: unknown }>((resolve) => {
    client.subscribe({ query, variables }, { next: (value) => void events.push(value), error: (error) => resolve({ error }), complete: () => resolve('complete') });
  });
  return { events, done, dispose: () => client.dispose() };
}

const statuses = (events: any[]) => events.map((e) => `${e.data?.jobUpdates?.status}:${e.data?.jobUpdates?.queuePosition}`);

describe('SSE cohorts', () => {
  let gateway: TestGateway;
  beforeAll(async () => {
    gateway = await startTestGateway();
  });
  afterAll(() => gateway.dispose());

  it('subscribers of one job share one execution; each gets the current state, every change, then complete', async () => {
    gateway.simulator.pause();
    const job = await submitJob(gateway);
    const feedsBefore = await metric(gateway.baseUrl, 'gateway_job_feeds');
    const clients = Array.from({ length: 4 }, () => graphqlSse(gateway.httpUrl, FOLLOW, { id: job.id }));
    const raws = [rawSse(gateway.httpUrl, { body: { query: FOLLOW, variables: { id: job.id } } }), rawSse(gateway.httpUrl, { method: 'GET', query: { query: FOLLOW, variables: JSON.stringify({ id: job.id }) }, headers: { 'x-graphql-csrf': '1' } })];
    const helper = subscribeSse(gateway.httpUrl, FOLLOW, { id: job.id });
    await waitFor(() => clients.every((c) => c.events.length >= 1), { message: 'every graphql-sse client to get the current state' });
    await Promise.all([...raws.map((r) => r.waitForEvents(1)), helper.waitForEvents(1)]);
    for (const first of [...clients.map((c) => c.events[0]), ...raws.map((r) => r.events[0]), helper.events[0]]) {
      expect(first.data.jobUpdates).toMatchObject({ id: job.id, status: 'IN_QUEUE' });
    }
    // Seven subscribers, one execution (one job feed) and one cohort.
    expect(await metric(gateway.baseUrl, 'gateway_sse_cohorts')).toBe(1);
    expect(await metric(gateway.baseUrl, 'gateway_job_feeds')).toBe(feedsBefore + 1);
    expect(await metric(gateway.baseUrl, 'gateway_job_subscriptions')).toBe(7);
    gateway.simulator.resume();
    for (const c of clients) expect(await within(c.done, 15_000, 'the job to finish')).toBe('complete');
    await Promise.all(raws.map((r) => within(r.ended, 15_000, 'the raw streams to end')));
    expect(await helper.done).toBe('complete');
    const reference = statuses(clients[0]!.events);
    expect(reference.at(-1)).toBe('COMPLETED:null');
    expect(reference).toContain('IN_PROGRESS:null');
    for (const r of reference.slice(1).keys()) expect(reference[r + 1]).not.toBe(reference[r]); // never the same state twice in a row
    for (const events of [...clients.map((c) => c.events), ...raws.map((r) => r.events), helper.events]) expect(statuses(events)).toEqual(reference);
    for (const r of raws) expect(r.text()).toMatch(/event: complete\ndata:\n\n$/);
    await waitFor(async () => (await metric(gateway.baseUrl, 'gateway_sse_cohorts')) === 0, { message: 'the cohort to end' });
    clients.forEach((c) => c.dispose());
  });

  it('jobEvents without `after` is shared from the moment of subscribing; with `after` each replay is its own', async () => {
    const live = [rawSse(gateway.httpUrl, { body: { query: EVENTS } }), rawSse(gateway.httpUrl, { body: { query: EVENTS } })];
    await Promise.all(live.map((r) => r.status));
    await waitFor(async () => (await metric(gateway.baseUrl, 'gateway_sse_cohorts')) === 1, { message: 'one jobEvents cohort' });
    const job = await submitJob(gateway);
    const [event] = await live[0]!.waitForEvents(1);
    expect(event.data.jobEvents.job.id).toBe(job.id);
    await live[1]!.waitForEvents(1);
    expect(live[1]!.events[0]).toEqual(event);
    const cursor = event.data.jobEvents.cursor;
    const replays = [rawSse(gateway.httpUrl, { body: { query: REPLAY, variables: { after: cursor } } }), rawSse(gateway.httpUrl, { body: { query: REPLAY, variables: { after: cursor } } })];
    const sharedNull = rawSse(gateway.httpUrl, { body: { query: REPLAY, variables: { after: null } } });
    await Promise.all([...replays.map((r) => r.waitForEvents(1)), sharedNull.status]);
    for (const r of replays) expect(r.events[0].data.jobEvents.job.id).toBe(job.id); // the events after the cursor, replayed
    // The two live streams share one cohort, `after: null` another; the replays have none.
    await waitFor(async () => (await metric(gateway.baseUrl, 'gateway_sse_cohorts')) === 2, { message: 'two cohorts (no replay in one)' });
    expect(await metric(gateway.baseUrl, 'gateway_job_subscriptions')).toBe(5);
    [...live, ...replays, sharedNull].forEach((r) => r.close());
    await waitFor(async () => (await metric(gateway.baseUrl, 'gateway_job_subscriptions')) === 0, { message: 'every subscription to be released' });
    expect(await metric(gateway.baseUrl, 'gateway_sse_cohorts')).toBe(0);
  });
});

describe('a slow SSE reader', () => {
  let gateway: TestGateway;
  // Thousands of log lines, each frame carrying all of them 30 times over (aliases): megabytes per
  // frame, a frame per poll. The slow reader joins late, so that its first frame (the current state)
  // already fills its socket buffers: the frames after it find it congested.
  beforeAll(async () => {
    gateway = await startTestGateway({
      env: { GRAPHQL_MAX_ALIASES: '50', GRAPHQL_MAX_TOKENS: '5000', GRAPHQL_MAX_COST: '1000000' },
      simulator: { timing: { initialQueuePosition: 0, queueStepMs: 40, runMs: 6000, logEveryMs: 2, logWindowMs: 1000 } },
    });
  });
  afterAll(() => gateway.dispose());

  it('gets the latest state when it reads again, not every frame it missed', { timeout: 60_000 }, async () => {
    const logs = Array.from({ length: 30 }, (_, i) => `l${i}: logs { message level timestamp }`).join(' ');
    const query = `subscription Follow($id: ID!) { jobUpdates(id: $id) { id status logs { message } ${logs} } }`;
    gateway.simulator.pause();
    const job = await submitJob(gateway);
    const fast = rawSse(gateway.httpUrl, { body: { query, variables: { id: job.id } } });
    await fast.waitForEvents(1);
    gateway.simulator.resume();
    await waitFor(() => (fast.events.at(-1)?.data.jobUpdates.logs.length ?? 0) >= 800, { timeoutMs: 20_000, message: 'the job to have 800 log lines' });
    const slow = silentSse(gateway.httpUrl, { query, variables: { id: job.id } });
    await within(fast.ended, 45_000, 'the fast reader to see the job finish');
    const text = await within(slow.readAll(), 15_000, 'the slow reader to get the end');
    const events = [...text.matchAll(/^event: next\ndata: (.*)$/gm)].map((m) => JSON.parse(m[1]!));
    const last = fast.events.at(-1);
    expect(last.data.jobUpdates.status).toBe('COMPLETED');
    expect(events.at(-1)).toEqual(last); // the latest state, with every log line
    expect(text).toMatch(/event: complete\ndata:\n\n$/);
    // It missed frames rather than queueing them all: fewer events and fewer bytes, in order.
    expect(events.length).toBeLessThan(fast.events.length);
    expect(text.length).toBeLessThan(fast.text().length);
    const order = fast.events.map((e) => e.data.jobUpdates.logs.length);
    const seen = events.map((e) => e.data.jobUpdates.logs.length);
    expect(seen.every((n) => order.includes(n))).toBe(true);
    expect(seen[0]).toBeGreaterThanOrEqual(800); // it started from the current state
    expect([...seen].sort((a, b) => a - b)).toEqual(seen);
  });
});

/** A subscriber on a raw socket that reads nothing until asked (its receive buffer never grows); then the de-chunked body. */
function silentSse(httpUrl: string, body: unknown) {
  const url = new URL(httpUrl);
  const payload = JSON.stringify(body);
  const socket = connect(Number(url.port), url.hostname);
  socket.pause();
  socket.write(`POST ${url.pathname} HTTP/1.1\r\nHost: ${url.host}\r\nContent-Type: application/json\r\nAccept: text/event-stream\r\nContent-Length: ${Buffer.byteLength(payload)}\r\n\r\n${payload}`);
  return {
    readAll: () =>
      new Promise<string>((resolve, reject) => {
        const chunks: Buffer[] = [];
        const done = () => {
          const raw = Buffer.concat(chunks);
          let at = raw.indexOf('\r\n\r\n') + 4;
          const parts: Buffer[] = [];
          for (;;) {
            const eol = raw.indexOf('\r\n', at);
            const size = parseInt(raw.subarray(at, eol).toString(), 16);
            if (!(size > 0)) break;
            parts.push(raw.subarray(eol + 2, eol + 2 + size));
            at = eol + 2 + size + 2;
          }
          socket.destroy();
          resolve(Buffer.concat(parts).toString('utf8'));
        };
        socket.on('data', (chunk: Buffer) => {
          chunks.push(chunk);
          if (chunk.includes('\r\n0\r\n\r\n')) done();
        });
        socket.on('error', reject);
        socket.resume();
      }),
  };
}

/**
 * `jobEvents` with real clients (graphql-ws and SSE over fetch), by the contract's five rules: every
 * change of every visible job in order; resumption from a cursor across a restart (SQLite) and another
 * replica (Redis); CURSOR_EXPIRED; the status filter; no identical payloads in a row; tenancy.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, describe, expect, it } from 'vitest';
import { subscribeSse, subscribeWs, wsClient, type Recording } from '../helpers/clients.ts';
import { startSimulator, startTestGateway, submitJob, tempSqlitePath, type TestGateway } from '../helpers/start-gateway.ts';
import { waitFor } from '../helpers/wait-for.ts';

export const EVENTS = `subscription Events($after: String, $status: [JobStatus!]) {
  jobEvents(after: $after, status: $status) { cursor job { id status queuePosition logs { message } updatedAt } }
}`;

type Event = { cursor: string; job: { id: string; status: string; queuePosition: number | null; logs: unknown[]; updatedAt: string } };

const eventsOf = (recording: Recording): Event[] =>
  recording.events.map((e) => {
    expect(e.errors).toBeUndefined();
    return e.data!.jobEvents as Event;
  });

const completed = (recording: Recording, ids: string[]) => () =>
  ids.every((id) => eventsOf(recording).some((e) => e.job.id === id && e.job.status === 'COMPLETED'));

const ORDER = ['IN_QUEUE', 'IN_PROGRESS', 'COMPLETED'];

/** One job's events as a client sees them: created first, then its changes in order, ending COMPLETED. */
function expectLifecycle(events: Event[], id: string) {
  const mine = events.filter((e) => e.job.id === id).map((e) => e.job);
  expect(mine[0]?.status).toBe('IN_QUEUE');
  expect(mine.at(-1)?.status).toBe('COMPLETED');
  for (let i = 1; i < mine.length; i++) {
    expect(ORDER.indexOf(mine[i]!.status)).toBeGreaterThanOrEqual(ORDER.indexOf(mine[i - 1]!.status));
    expect(mine[i]!.logs.length).toBeGreaterThanOrEqual(mine[i - 1]!.logs.length);
    expect(mine[i]!.updatedAt >= mine[i - 1]!.updatedAt).toBe(true);
  }
  expect(mine.some((j) => j.status === 'IN_PROGRESS')).toBe(true);
}

const toDispose: Array<() => void> = [];
afterAll(() => toDispose.forEach((stop) => stop()));

describe('jobEvents', () => {
  it('delivers a new job and its every change, in order, alike over WebSocket and SSE', async () => {
    const gateway = await startTestGateway({ simulator: { timing: { initialQueuePosition: 3, queueStepMs: 250, runMs: 600, logEveryMs: 100, logWindowMs: 300 } } });
    const client = wsClient(gateway.wsUrl);
    toDispose.push(() => void client.dispose());
    const ws = subscribeWs(client, EVENTS);
    const sse = subscribeSse(gateway.httpUrl, EVENTS);
    expect(await sse.status).toBe(200);
    // Both are listening once a first, unrelated job shows up on both.
    const warmup = await submitJob(gateway);
    await waitFor(() => [ws, sse].every((r) => eventsOf(r).some((e) => e.job.id === warmup.id)), { message: 'both streams to see the warm-up job' });
    const job = await submitJob(gateway);
    await waitFor(() => completed(ws, [warmup.id, job.id])() && completed(sse, [warmup.id, job.id])(), { timeoutMs: 20_000, message: 'both jobs COMPLETED on both streams' });
    const fromWs = eventsOf(ws).filter((e) => e.job.id === job.id);
    const fromSse = eventsOf(sse).filter((e) => e.job.id === job.id);
    expectLifecycle(fromWs, job.id);
    expect(fromSse).toEqual(fromWs); // the same events, the same cursors, the same order
    expect(new Set(fromWs.map((e) => e.cursor)).size).toBe(fromWs.length);
    // Queue positions went down one by one while IN_QUEUE: the changes are all there.
    const positions = fromWs.filter((e) => e.job.status === 'IN_QUEUE' && e.job.queuePosition !== null).map((e) => e.job.queuePosition);
    expect(positions.length).toBeGreaterThan(1);
    expect([...positions].sort().reverse()).toEqual(positions);
    ws.stop();
    sse.stop();
    await gateway.dispose();
  });

  it('resumes from a cursor after a gateway restart on the same SQLite file: exactly the missed events, then live', async () => {
    const simulator = await startSimulator();
    const sqlitePath = tempSqlitePath();
    const first = await startTestGateway({ sharedSimulator: simulator, sqlitePath });
    const reference = subscribeSse(first.httpUrl, EVENTS);
    expect(await reference.status).toBe(200);
    const a = await submitJob(first);
    const early = (await reference.waitForEvents(2)).slice(0, 2);
    const cursor = (eventsOf(reference)[1] as Event).cursor; // the client "disconnects" here
    const b = await submitJob(first);
    await waitFor(completed(reference, [a.id, b.id]), { timeoutMs: 20_000, message: 'both jobs COMPLETED' });
    const all = eventsOf(reference);
    reference.stop();
    await first.dispose();

    const second = await startTestGateway({ sharedSimulator: simulator, sqlitePath });
    const client = wsClient(second.wsUrl);
    toDispose.push(() => void client.dispose());
    const resumed = subscribeWs(client, EVENTS, { after: cursor });
    const missed = all.slice(2);
    await resumed.waitForEvents(missed.length);
    expect(eventsOf(resumed)).toEqual(missed);
    expect(early.length).toBe(2);
    const c = await submitJob(second);
    await waitFor(completed(resumed, [c.id]), { timeoutMs: 20_000, message: 'the live job after the replay' });
    const live = eventsOf(resumed).slice(missed.length);
    expectLifecycle(live, c.id);
    const cursors = eventsOf(resumed).map((e) => e.cursor);
    expect(new Set(cursors).size).toBe(cursors.length);
    resumed.stop();
    await second.dispose();
  });

  it('resumes from a cursor on another replica (Redis): exactly the missed events, then live', async () => {
    const simulator = await startSimulator();
    const env = { REDIS_URL: process.env.REDIS_URL ?? 'redis://127.0.0.1:6379', REDIS_KEY_PREFIX: `test-${randomUUID()}:` };
    const [a, b] = await Promise.all([startTestGateway({ sharedSimulator: simulator, env }), startTestGateway({ sharedSimulator: simulator, env })]);
    const reference = subscribeSse(a!.httpUrl, EVENTS);
    expect(await reference.status).toBe(200);
    const first = await submitJob(b!); // submitted on B, seen on A
    await reference.waitForEvents(1);
    const cursor = (eventsOf(reference)[0] as Event).cursor;
    const second = await submitJob(a!);
    await waitFor(completed(reference, [first.id, second.id]), { timeoutMs: 20_000, message: 'both jobs COMPLETED on replica A' });
    const missed = eventsOf(reference).slice(1);

    const resumed = subscribeSse(b!.httpUrl, EVENTS, { after: cursor });
    await resumed.waitForEvents(missed.length);
    expect(eventsOf(resumed)).toEqual(missed);
    const third = await submitJob(a!);
    await waitFor(completed(resumed, [third.id]), { timeoutMs: 20_000, message: 'the live job on replica B' });
    expectLifecycle(eventsOf(resumed).slice(missed.length), third.id);
    expect(eventsOf(resumed).slice(missed.length).map((e) => e.cursor)).toEqual(eventsOf(reference).filter((e) => e.job.id === third.id).map((e) => e.cursor).slice(0, eventsOf(resumed).length - missed.length));
    reference.stop();
    resumed.stop();
    await Promise.all([a!.dispose(), b!.dispose()]);
  });

  it('answers CURSOR_EXPIRED for a cursor past JOB_EVENTS_RETENTION_MS and for a string that is not a cursor', async () => {
    const gateway = await startTestGateway({ env: { JOB_EVENTS_RETENTION_MS: '1000' } });
    const sse = subscribeSse(gateway.httpUrl, EVENTS);
    await submitJob(gateway);
    const [event] = await sse.waitForEvents(1);
    sse.stop();
    const cursor = (event!.data!.jobEvents as Event).cursor;
    const client = wsClient(gateway.wsUrl);
    toDispose.push(() => void client.dispose());
    const bogus = subscribeWs(client, EVENTS, { after: 'not-a-cursor' });
    await bogus.done;
    expect(bogus.events.map((e) => e.errors?.[0]?.extensions?.code)).toEqual(['CURSOR_EXPIRED']);
    // Fresh, the cursor is fine; past the retention it is not (retried until the second has passed).
    const code = await waitFor(async () => {
      const attempt = subscribeSse(gateway.httpUrl, EVENTS, { after: cursor });
      const first = await attempt.waitForEvents(1).catch(() => attempt.events);
      attempt.stop();
      return first[0]?.errors?.[0]?.extensions?.code as string | undefined;
    }, { timeoutMs: 10_000, intervalMs: 200, message: 'CURSOR_EXPIRED once the cursor is older than the retention' });
    expect(code).toBe('CURSOR_EXPIRED');
    await gateway.dispose();
  });

  it('filters by status', async () => {
    const gateway = await startTestGateway();
    const sse = subscribeSse(gateway.httpUrl, EVENTS, { status: ['COMPLETED', 'IN_PROGRESS'] });
    expect(await sse.status).toBe(200);
    const client = wsClient(gateway.wsUrl);
    toDispose.push(() => void client.dispose());
    const ws = subscribeWs(client, EVENTS, { status: ['COMPLETED'] });
    const job = await submitJob(gateway);
    await waitFor(() => completed(sse, [job.id])() && completed(ws, [job.id])(), { timeoutMs: 20_000, message: 'the job COMPLETED on both' });
    expect(eventsOf(ws).map((e) => e.job.status)).toEqual(['COMPLETED']);
    const statuses = eventsOf(sse).map((e) => e.job.status);
    expect(statuses.at(-1)).toBe('COMPLETED');
    expect(statuses.every((s) => s === 'IN_PROGRESS' || s === 'COMPLETED')).toBe(true);
    sse.stop();
    ws.stop();
    await gateway.dispose();
  });

  it('never sends two identical payloads in a row, on either subscription and either transport', async () => {
    const gateway = await startTestGateway({ simulator: { timing: { initialQueuePosition: 3, queueStepMs: 250, runMs: 600, logEveryMs: 60, logWindowMs: 200 } } });
    const client = wsClient(gateway.wsUrl);
    toDispose.push(() => void client.dispose());
    const narrowEvents = 'subscription { jobEvents { job { id status } } }';
    const recordings = [subscribeWs(client, narrowEvents), subscribeSse(gateway.httpUrl, narrowEvents)];
    const job = await submitJob(gateway);
    const narrowUpdates = `subscription { jobUpdates(id: "${job.id}") { id status } }`;
    const updates = [subscribeWs(client, narrowUpdates), subscribeSse(gateway.httpUrl, narrowUpdates)];
    await Promise.all(updates.map((u) => u.done));
    await waitFor(() => recordings.every((r) => r.events.some((e) => e.data?.jobEvents?.job.status === 'COMPLETED')), { timeoutMs: 20_000, message: 'COMPLETED on jobEvents' });
    for (const recording of [...recordings, ...updates]) {
      const payloads = recording.events.map((e) => JSON.stringify(e));
      payloads.forEach((payload, i) => expect(payload, `event ${i} repeats the one before`).not.toBe(payloads[i - 1]));
    }
    // Without logs in the selection, a job that only logged while running is three payloads.
    for (const u of updates) expect(u.events.map((e) => e.data!.jobUpdates.status)).toEqual(['IN_QUEUE', 'IN_PROGRESS', 'COMPLETED']);
    for (const r of recordings) expect(r.events.map((e) => e.data!.jobEvents.job.status)).toEqual(['IN_QUEUE', 'IN_PROGRESS', 'COMPLETED']);
    recordings.forEach((r) => r.stop());
    await gateway.dispose();
  });

  it("never shows another tenant's jobs", async () => {
    const gateway = await startTestGateway({ env: { GATEWAY_API_KEYS: 'acme:key-acme,globex:key-globex' } });
    const client = wsClient(gateway.wsUrl, { authorization: 'Bearer key-acme' });
    toDispose.push(() => void client.dispose());
    const acme = subscribeWs(client, EVENTS);
    const globex = subscribeSse(gateway.httpUrl, EVENTS, {}, { authorization: 'Bearer key-globex' });
    expect(await globex.status).toBe(200);
    const mine = await submitJob(gateway, {}, { authorization: 'Bearer key-acme' });
    const theirs = await submitJob(gateway, {}, { authorization: 'Bearer key-globex' });
    await waitFor(() => completed(acme, [mine.id])() && completed(globex, [theirs.id])(), { timeoutMs: 20_000, message: 'each tenant sees its job COMPLETED' });
    expect(new Set(eventsOf(acme).map((e) => e.job.id))).toEqual(new Set([mine.id]));
    expect(new Set(eventsOf(globex).map((e) => e.job.id))).toEqual(new Set([theirs.id]));
    const refused = subscribeSse(gateway.httpUrl, EVENTS);
    await refused.waitForEvents(1).catch(() => undefined);
    expect(refused.events[0]?.errors?.[0]?.extensions?.code).toBe('UNAUTHENTICATED');
    acme.stop();
    globex.stop();
    await gateway.dispose();
  });

  it('counts against the tenant\'s subscription quota, like jobUpdates, on both transports', async () => {
    const gateway = await startTestGateway({ env: { TENANT_MAX_SUBSCRIPTIONS: '1' } });
    const first = subscribeSse(gateway.httpUrl, EVENTS);
    expect(await first.status).toBe(200);
    await submitJob(gateway);
    await first.waitForEvents(1); // the first one holds the tenant's only slot
    const client = wsClient(gateway.wsUrl);
    toDispose.push(() => void client.dispose());
    const second = subscribeWs(client, EVENTS);
    const ended = await second.done;
    const codes = [...second.events.flatMap((e) => e.errors ?? []), ...(typeof ended === 'object' ? (ended.error as Array<{ extensions?: Record<string, unknown> }>) : [])].map((e) => e.extensions?.code);
    expect(codes).toContain('RATE_LIMITED');
    first.stop();
    await gateway.dispose();
  });

  it('logs a refused WebSocket at info, with its reason', async () => {
    const gateway = await startTestGateway({ env: { GATEWAY_API_KEYS: 'acme:key-acme', LOG_LEVEL: 'info' } });
    const client = wsClient(gateway.wsUrl, { authorization: 'Bearer wrong' });
    const refused = subscribeWs(client, EVENTS);
    expect((await client.closed).code).toBe(4403);
    await refused.done;
    const line = await waitFor(() => gateway.logs.map((l) => JSON.parse(l)).find((l) => /credential refused/.test(l.msg)), { message: 'the refusal in the log' });
    expect(line).toMatchObject({ level: 30, reason: 'unknown key' });
    await gateway.dispose();
  });

  it('WebSocket subscribers share one execution, and a late joiner gets only what happens after it joined', async () => {
    const gateway = await startTestGateway();
    const clients = [wsClient(gateway.wsUrl), wsClient(gateway.wsUrl)];
    toDispose.push(() => clients.forEach((c) => void c.dispose()));
    const early = subscribeWs(clients[0]!, EVENTS);
    const a = await submitJob(gateway);
    await waitFor(completed(early, [a.id]), { timeoutMs: 20_000, message: 'the first job COMPLETED' });
    const late = subscribeWs(clients[1]!, EVENTS);
    await waitFor(async () => {
      const text = await (await fetch(`${gateway.baseUrl}/metrics`)).text();
      return /^gateway_websocket_cohorts 1$/m.test(text) && /^gateway_job_subscriptions 2$/m.test(text);
    }, { message: 'two subscribers in one cohort' });
    const b = await submitJob(gateway);
    await waitFor(() => completed(early, [b.id])() && completed(late, [b.id])(), { timeoutMs: 20_000, message: 'the second job COMPLETED on both' });
    expect(new Set(eventsOf(late).map((e) => e.job.id))).toEqual(new Set([b.id]));
    expect(eventsOf(late)).toEqual(eventsOf(early).filter((e) => e.job.id === b.id));
    early.stop();
    late.stop();
    await gateway.dispose();
  });

  it('a submission refused at once (quota) shows up as created, then deleted', async () => {
    const gateway = await startTestGateway({ env: { TENANT_MAX_ACTIVE_JOBS: '1' }, simulator: { timing: { initialQueuePosition: 3, queueStepMs: 2_000 } } });
    const sse = subscribeSse(gateway.httpUrl, 'subscription { jobEvents { cursor deleted job { id status } } }');
    expect(await sse.status).toBe(200);
    const kept = await submitJob(gateway);
    const refused = await gateway.gql(`mutation { generateVideo(input: { prompt: "one too many", imageUrl: "https://images.example.com/x.png" }) { id } }`);
    expect(refused.errors?.[0]?.extensions?.code).toBe('RATE_LIMITED');
    const gone = await waitFor(() => sse.events.map((e) => e.data!.jobEvents).find((e) => e.deleted), { message: 'the deletion event' });
    expect(gone.job.id).not.toBe(kept.id);
    const ofRefused = sse.events.map((e) => e.data!.jobEvents).filter((e) => e.job.id === gone.job.id);
    expect(ofRefused.map((e) => e.deleted)).toEqual([false, true]);
    sse.stop();
    await gateway.dispose();
  });
});

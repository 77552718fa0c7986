/**
 * Contract rule 4 and the release of resources: many subscribers cost the upstream no more status
 * calls than none, and disconnecting clients leave nothing behind.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { subscribeSse, subscribeWs, wsClient } from '../helpers/clients.ts';
import { FOLLOW, startTestGateway, submitJob, type TestGateway } from '../helpers/start-gateway.ts';
import { waitFor } from '../helpers/wait-for.ts';

let gateway: TestGateway;
beforeAll(async () => {
  gateway = await startTestGateway({ simulator: { timing: { initialQueuePosition: 2, queueStepMs: 60, runMs: 300 } } });
});
afterAll(() => gateway.dispose());

async function metric(name: string): Promise<number> {
  const text = await (await fetch(`${gateway.baseUrl}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(`${name} `));
  return line ? Number(line.split(' ')[1]) : Number.NaN;
}

it('100 subscribers on one job: as many upstream status calls as a job nobody watches', async () => {
  const [watched, unwatched] = await Promise.all([submitJob(gateway), submitJob(gateway)]);
  const ws = wsClient(gateway.wsUrl);
  const recordings = [
    ...Array.from({ length: 50 }, () => subscribeWs(ws, FOLLOW, { id: watched.id })),
    ...Array.from({ length: 50 }, () => subscribeSse(gateway.httpUrl, FOLLOW, { id: watched.id })),
  ];
  const ends = await Promise.all(recordings.map((r) => r.done));
  expect(ends.every((e) => e === 'complete')).toBe(true);
  for (const r of recordings) expect(r.events.at(-1)!.data!.jobUpdates.status).toBe('COMPLETED');
  await waitFor(async () => (await gateway.gql(`query($id: ID!) { job(id: $id) { status } }`, { id: unwatched.id })).data?.job.status === 'COMPLETED');

  const watchedCalls = gateway.simulator.statusCalls(watched.requestId);
  const unwatchedCalls = gateway.simulator.statusCalls(unwatched.requestId);
  expect(watchedCalls).toBeGreaterThan(0);
  // Same schedule for both (jitter aside): subscribers add no polls.
  expect(Math.abs(watchedCalls - unwatchedCalls)).toBeLessThanOrEqual(Math.max(2, unwatchedCalls * 0.2));
  await ws.dispose();
});

it('WebSocket subscribers with the same document share one execution (a cohort); other documents get their own', async () => {
  gateway.simulator.pause();
  try {
    const job = await submitJob(gateway);
    const clients = Array.from({ length: 5 }, () => wsClient(gateway.wsUrl));
    const same = clients.flatMap((c) => Array.from({ length: 10 }, () => subscribeWs(c, FOLLOW, { id: job.id })));
    const other = subscribeWs(clients[0]!, `subscription($id: ID!) { jobUpdates(id: $id) { id status } }`, { id: job.id });
    await Promise.all([...same, other].map((r) => r.waitForEvents(1)));
    expect(await metric('gateway_websocket_cohorts')).toBe(2);
    expect(await metric('gateway_job_feeds')).toBe(2);
    expect(await metric('gateway_job_subscriptions')).toBe(51);
    gateway.simulator.resume();
    const ends = await Promise.all([...same, other].map((r) => r.done));
    expect(ends.every((e) => e === 'complete')).toBe(true);
    // Every member of the cohort saw exactly the same payloads.
    const transcriptOf = (r: (typeof same)[number]) => JSON.stringify(r.events);
    expect(new Set(same.map(transcriptOf)).size).toBe(1);
    expect(other.events.at(-1)!.data!.jobUpdates).toEqual({ id: job.id, status: 'COMPLETED' });
    await Promise.all(clients.map((c) => c.dispose()));
    await waitFor(async () => (await metric('gateway_websocket_cohorts')) === 0, { message: 'cohorts gone' });
  } finally {
    gateway.simulator.resume();
  }
});

it('1,000 WebSocket and 200 SSE subscribe/disconnect cycles leave no listener, socket or poll behind', async () => {
  gateway.simulator.pause();
  try {
    const job = await submitJob(gateway);
    const cycle = async () => {
      const client = wsClient(gateway.wsUrl);
      const recording = subscribeWs(client, FOLLOW, { id: job.id });
      await recording.waitForEvents(1);
      recording.stop();
      await client.dispose();
    };
    for (let batch = 0; batch < 20; batch++) await Promise.all(Array.from({ length: 50 }, cycle));
    for (let batch = 0; batch < 4; batch++) {
      await Promise.all(
        Array.from({ length: 50 }, async () => {
          const recording = subscribeSse(gateway.httpUrl, FOLLOW, { id: job.id });
          await recording.waitForEvents(1);
          recording.stop();
        }),
      );
    }
    await waitFor(async () => (await metric('gateway_job_subscriptions')) === 0, { message: 'no open job feeds', timeoutMs: 10_000 });
    await waitFor(async () => (await metric('gateway_websocket_connections')) === 0, { message: 'no open sockets', timeoutMs: 10_000 });
    // One job, one poll loop, whatever happened above.
    expect(await metric('gateway_polled_jobs')).toBeLessThanOrEqual(1);
  } finally {
    gateway.simulator.resume();
  }
});

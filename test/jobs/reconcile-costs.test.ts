/**
 * The cost reconciler against a fake billing port (fal's platform client is another branch's work): a
 * real SQLite store and job writer; batched calls by request id; the billed figure replaces the estimate
 * and moves the day's spend; requests not billed yet are asked again, then left; a failing API is retried.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { createJobEvents } from '../../src/jobs/events.ts';
import { createJobWriter } from '../../src/jobs/job-writer.ts';
import { createCostReconciler, type BillingEventsPort } from '../../src/jobs/reconcile-costs.ts';
import { createSqliteJobStore } from '../../src/store/sqlite-job-store.ts';
import { makeJob } from '../helpers/job-store-contract.ts';
import { subscribeWs, wsClient } from '../helpers/clients.ts';
import { FOLLOW, startTestGateway, submitJob } from '../helpers/start-gateway.ts';
import { waitFor, within } from '../helpers/wait-for.ts';

const ESTIMATE = 350_000_000;

async function setUp(billing: BillingEventsPort, options: { maxAttempts?: number; intervalMs?: number } = {}) {
  const store = createSqliteJobStore({ path: join(mkdtempSync(join(tmpdir(), 'reconcile-')), 'jobs.db') });
  const writer = createJobWriter({ store, events: createJobEvents(new EventTarget()), now: () => new Date() });
  const reconciler = createCostReconciler({ billing, writer, endpointId: 'fal-ai/model', logger: pino({ level: 'silent' }), batchSize: 50, ...options });
  const jobs = await Promise.all(
    Array.from({ length: 120 }, async (_, i) => {
      const job = makeJob({ requestId: `req-${i}`, status: 'COMPLETED', completedAt: '2025-01-01T00:05:00.000Z', costNanoUsd: ESTIMATE });
      await store.create(job);
      return job;
    }),
  );
  return { store, reconciler, jobs };
}

describe('cost reconciliation', () => {
  it('batches request ids, replaces the estimate with the billed cost, and moves the day spend', async () => {
    const calls: string[][] = [];
    const billing: BillingEventsPort = {
      async billingEvents({ requestIds, endpointId, start }) {
        expect(endpointId).toBe('fal-ai/model');
        expect(Date.parse(start)).toBeLessThan(Date.parse('2025-01-01T00:00:00.000Z'));
        calls.push(requestIds);
        // Two events for even requests (summed); odd requests are not billed yet.
        return requestIds.filter((id) => Number(id.slice(4)) % 2 === 0).flatMap((requestId) => [
          { requestId, costNanoUsd: 200_000_000, timestamp: '2025-01-01T00:05:00Z' },
          { requestId, costNanoUsd: 100_000_000, timestamp: '2025-01-01T00:05:01Z' },
        ]);
      },
    };
    const { store, reconciler, jobs } = await setUp(billing, { maxAttempts: 2 });
    for (const job of jobs) reconciler.enqueue(job);
    reconciler.enqueue(makeJob({ status: 'IN_PROGRESS', requestId: 'x' })); // not finished: ignored
    expect(reconciler.pendingCount()).toBe(120);
    let reconciled = 0;
    while (reconciler.pendingCount() > 0) reconciled += await reconciler.tick();
    expect(reconciled).toBe(60);
    expect(calls.map((c) => c.length)).toEqual([50, 50, 50, 30]); // 120 ids, then the 60 unbilled ones once more, then left
    const even = await store.get(jobs[0]!.id);
    const odd = await store.get(jobs[1]!.id);
    expect(even).toMatchObject({ costNanoUsd: 300_000_000, costBilled: true });
    expect(odd).toMatchObject({ costNanoUsd: ESTIMATE });
    expect(await store.spentOn('2025-01-01', 'tenant-a')).toBe(60 * 300_000_000 + 60 * ESTIMATE);
  });

  it('retries a batch when the billing API fails, and runs on its own timer (off the request path)', async () => {
    let failures = 1;
    const billing: BillingEventsPort = {
      async billingEvents({ requestIds }) {
        if (failures-- > 0) throw new Error('503 from the platform API');
        return requestIds.map((requestId) => ({ requestId, costNanoUsd: 1, timestamp: '2025-01-01T00:05:00Z' }));
      },
    };
    const { store, reconciler, jobs } = await setUp(billing, { intervalMs: 10 });
    for (const job of jobs.slice(0, 3)) reconciler.enqueue(job);
    reconciler.start();
    await waitFor(() => reconciler.pendingCount() === 0, { timeoutMs: 5_000, message: 'the reconciler to work through its queue' });
    await reconciler.stop();
    for (const job of jobs.slice(0, 3)) expect((await store.get(job.id))?.costNanoUsd).toBe(1);
  });
});

describe('in the gateway', () => {
  it("replaces a completed job's estimate with the billed cost, seen in job.cost and usage", async () => {
    const asked: string[] = [];
    const billing: BillingEventsPort = {
      async billingEvents({ requestIds }) {
        asked.push(...requestIds);
        return requestIds.map((requestId) => ({ requestId, costNanoUsd: 123_456_789, timestamp: new Date().toISOString() }));
      },
    };
    const gateway = await startTestGateway({ app: { billing, reconcileIntervalMs: 50 } });
    const job = await submitJob(gateway);
    const follow = subscribeWs(wsClient(gateway.wsUrl), FOLLOW, { id: job.id });
    expect(await within(follow.done, 15_000, 'the job to complete')).toBe('complete');
    const read = () => gateway.gql('query($id: ID!) { job(id: $id) { requestId cost { amount } } usage { spent { amount } } }', { id: job.id });
    const reconciled = await waitFor(async () => ((await read()).data?.job.cost.amount === '0.123456789' ? (await read()).data : null), {
      timeoutMs: 10_000,
      message: 'the billed cost to replace the estimate',
    });
    expect(asked).toEqual([reconciled.job.requestId]);
    expect(reconciled.usage.spent.amount).toBe('0.123456789');
    await gateway.dispose();
  });
});

/**
 * The second part of the JobStore conformance suite: users inside tenants (per-user listings, counts
 * and idempotency keys) and money (budgets reserved atomically with the insert, charges given back,
 * usage totals). Every store runs it beside describeJobStoreContract.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Job } from '../../src/domain/job.ts';
import type { JobStore } from '../../src/store/job-store.ts';
import { makeJob } from './job-store-contract.ts';

const DAY = '2025-01-01';
const COST = 350_000_000; // $0.35
const priced = (overrides: Partial<Job> & { minute?: number } = {}) => makeJob({ costNanoUsd: COST, ...overrides });
const next = (job: Job, changes: Partial<Job>): Job => ({ ...job, ...changes, version: job.version + 1 });

export function describeJobStoreMoneyContract(name: string, makeStore: () => Promise<{ store: JobStore; cleanup: () => Promise<void> }>): void {
  describe(`JobStore contract (users and money): ${name}`, () => {
    let store: JobStore;
    let cleanup: () => Promise<void>;
    beforeEach(async () => {
      ({ store, cleanup } = await makeStore());
    });
    afterEach(async () => {
      await store.close();
      await cleanup();
    });

    it("lists and counts one user's jobs from its own index, with status filter and cursor", async () => {
      const alice = [0, 1, 2].map((minute) => makeJob({ userId: 'alice', minute }));
      const bob = [3, 4].map((minute) => makeJob({ userId: 'bob', minute }));
      const key = makeJob({ minute: 5 });
      for (const job of [...alice, ...bob, key]) await store.create(job);
      const ids = async (userId: string | null) => (await store.list({ tenant: 'tenant-a', userId, limit: 10, after: null, status: null })).map((j) => j.id);
      expect(await ids('alice')).toEqual(alice.map((j) => j.id).reverse());
      expect(await ids('bob')).toEqual(bob.map((j) => j.id).reverse());
      expect(await ids(null)).toHaveLength(6);
      const [newest] = alice.slice(-1) as [Job];
      expect(await store.update(next(newest, { status: 'IN_PROGRESS' }))).toBe(true);
      expect((await store.list({ tenant: 'tenant-a', userId: 'alice', limit: 10, after: null, status: 'IN_PROGRESS' })).map((j) => j.id)).toEqual([newest.id]);
      const after = { createdAt: newest.createdAt, id: newest.id };
      expect((await store.list({ tenant: 'tenant-a', userId: 'alice', limit: 10, after, status: null })).map((j) => j.id)).toEqual([alice[1]?.id, alice[0]?.id]);
      expect(await store.countUnfinished('tenant-a', 10, 'alice')).toBe(3);
      expect(await store.countUnfinished('tenant-a', 10, 'bob')).toBe(2);
      expect(await store.countUnfinished('tenant-a', 10)).toBe(6);
      await store.delete(bob[0]?.id as string);
      expect(await ids('bob')).toEqual([bob[1]?.id]);
    });

    it('keeps idempotency keys per user: the same key of two users makes two jobs', async () => {
      const a = makeJob({ userId: 'alice', idempotencyKey: 'k' });
      const b = makeJob({ userId: 'bob', idempotencyKey: 'k' });
      const apiKey = makeJob({ idempotencyKey: 'k' });
      expect((await store.create(a)).created).toBe(true);
      expect((await store.create(b)).created).toBe(true);
      expect((await store.create(apiKey)).created).toBe(true);
      const again = await store.create(makeJob({ userId: 'alice', idempotencyKey: 'k' }));
      expect(again).toEqual({ job: a, created: false });
    });

    it('reserves budgets atomically: 20 concurrent creates, exactly what the budget allows', async () => {
      const budget = { tenantNanos: 3 * COST, userNanos: 0 };
      const outcomes = await Promise.all(Array.from({ length: 20 }, (_, i) => store.create(priced({ userId: `u${i}` }), budget)));
      expect(outcomes.filter((o) => o.created)).toHaveLength(3);
      expect(outcomes.filter((o) => o.overBudget === 'tenant')).toHaveLength(17);
      expect(await store.spentOn(DAY, 'tenant-a')).toBe(3 * COST);
      expect((await store.list({ tenant: 'tenant-a', limit: 100, after: null, status: null }))).toHaveLength(3);
    });

    it("checks a user's budget apart from the tenant's", async () => {
      const budget = { tenantNanos: 10 * COST, userNanos: 2 * COST };
      const outcomes = await Promise.all(Array.from({ length: 5 }, () => store.create(priced({ userId: 'alice' }), budget)));
      expect(outcomes.filter((o) => o.created)).toHaveLength(2);
      expect(outcomes.filter((o) => o.overBudget === 'user')).toHaveLength(3);
      expect((await store.create(priced({ userId: 'bob' }), budget)).created).toBe(true);
      expect((await store.create(priced(), budget)).created).toBe(true); // an API key has no user budget
      expect(await store.spentOn(DAY, 'tenant-a', 'alice')).toBe(2 * COST);
      expect(await store.spentOn(DAY, 'tenant-a')).toBe(4 * COST);
    });

    it('gives a charge back when a job ends FAILED or CANCELLED or is deleted, but not for an unknown submit outcome or a purge', async () => {
      const budget = { tenantNanos: 0, userNanos: 0 };
      const [failed, cancelled, unknown, deleted, done] = [0, 1, 2, 3, 4].map((minute) => priced({ userId: 'alice', minute })) as [Job, Job, Job, Job, Job];
      for (const job of [failed, cancelled, unknown, deleted, done]) await store.create(job, budget);
      expect(await store.spentOn(DAY, 'tenant-a', 'alice')).toBe(5 * COST);
      const end = '2025-01-01T01:00:00.000Z';
      await store.update(next(failed, { status: 'FAILED', error: { code: 'MODEL_ERROR', message: 'x' }, completedAt: end }));
      await store.update(next(cancelled, { status: 'CANCELLED', completedAt: end }));
      await store.update(next(unknown, { status: 'FAILED', error: { code: 'SUBMIT_OUTCOME_UNKNOWN', message: 'x' }, completedAt: end }));
      await store.delete(deleted.id);
      await store.update(next(done, { status: 'COMPLETED', completedAt: end, costNanoUsd: COST + 1 }));
      expect(await store.spentOn(DAY, 'tenant-a', 'alice')).toBe(2 * COST + 1);
      expect(await store.spentOn(DAY, 'tenant-a')).toBe(2 * COST + 1);
      expect(await store.purgeFinished('2025-01-02T00:00:00.000Z', 10)).toHaveLength(4);
      expect(await store.spentOn(DAY, 'tenant-a')).toBe(2 * COST + 1);
    });

    it('sums usage over a createdAt range, for a tenant or one user', async () => {
      const jobs = [
        priced({ userId: 'alice', minute: 0 }),
        priced({ userId: 'alice', minute: 1, status: 'CANCELLED', completedAt: '2025-01-01T00:02:00.000Z' }),
        priced({ userId: 'bob', minute: 2, status: 'COMPLETED', completedAt: '2025-01-01T00:03:00.000Z' }),
        priced({ userId: 'bob', minute: 60 * 24 }),
      ];
      for (const job of jobs) await store.create(job);
      const day = { from: '2025-01-01T00:00:00.000Z', to: '2025-01-02T00:00:00.000Z' };
      expect(await store.usage({ tenant: 'tenant-a', ...day })).toEqual({ spentNanos: 2 * COST, jobs: 3, byStatus: { IN_QUEUE: 1, CANCELLED: 1, COMPLETED: 1 } });
      expect(await store.usage({ tenant: 'tenant-a', userId: 'alice', ...day })).toEqual({ spentNanos: COST, jobs: 2, byStatus: { IN_QUEUE: 1, CANCELLED: 1 } });
      expect(await store.usage({ tenant: 'tenant-b', ...day })).toEqual({ spentNanos: 0, jobs: 0, byStatus: {} });
    });
  });
}

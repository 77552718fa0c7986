/**
 * The one conformance suite for `JobStore`: every implementation runs it (test/store/*.test.ts), so
 * SQLite and Redis cannot drift apart. Each test gets a fresh, empty store.
 */
import { randomUUID } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Job, JobStatus } from '../../src/domain/job.ts';
import type { JobStore, ListQuery } from '../../src/store/job-store.ts';

const BASE_TIME = Date.parse('2025-01-01T00:00:00.000Z');

/** A complete job; `minute` spaces createdAt so that a higher number is newer. */
export function makeJob(overrides: Partial<Job> & { minute?: number } = {}): Job {
  const { minute = 0, ...rest } = overrides;
  const at = new Date(BASE_TIME + minute * 60_000).toISOString();
  return {
    id: randomUUID(),
    tenant: 'tenant-a',
    requestId: null,
    model: 'fal-ai/kling-video/v2.1/standard/image-to-video',
    status: 'IN_QUEUE',
    queuePosition: null,
    logs: [],
    video: null,
    error: null,
    input: { prompt: 'a cat surfing', imageUrl: 'https://example.com/cat.png', duration: '5', negativePrompt: null, cfgScale: null },
    idempotencyKey: null,
    cancelRequested: false,
    createdAt: at,
    updatedAt: at,
    completedAt: null,
    version: 1,
    ...rest,
  };
}

/** The next stored version of `job` with `changes` applied. */
function next(job: Job, changes: Partial<Job>): Job {
  return { ...job, ...changes, version: job.version + 1, updatedAt: new Date(Date.parse(job.updatedAt) + 1000).toISOString() };
}

/** Newest first, as the store must order them. */
function newestFirst(jobs: Job[]): Job[] {
  return [...jobs].sort((a, b) => (a.createdAt !== b.createdAt ? (a.createdAt < b.createdAt ? 1 : -1) : a.id < b.id ? 1 : -1));
}

/** Walks every page of a listing and returns the ids in order. */
async function listAll(store: JobStore, query: Omit<ListQuery, 'after' | 'limit'>, pageSize: number): Promise<{ ids: string[]; pages: number[] }> {
  const ids: string[] = [];
  const pages: number[] = [];
  let after: ListQuery['after'] = null;
  for (;;) {
    const page = await store.list({ ...query, limit: pageSize, after });
    if (page.length === 0) return { ids, pages };
    pages.push(page.length);
    ids.push(...page.map((job) => job.id));
    const last = page[page.length - 1] as Job;
    after = { createdAt: last.createdAt, id: last.id };
    if (pages.length > 100) throw new Error('listing does not end');
  }
}

export function describeJobStoreContract(name: string, makeStore: () => Promise<{ store: JobStore; cleanup: () => Promise<void> }>): void {
  describe(`JobStore contract: ${name}`, () => {
    let store: JobStore;
    let cleanup: () => Promise<void>;

    beforeEach(async () => {
      ({ store, cleanup } = await makeStore());
    });
    afterEach(async () => {
      await store.close();
      await cleanup();
    });

    it('stores a job and gives it back unchanged', async () => {
      const job = makeJob({
        requestId: 'req-1',
        status: 'IN_PROGRESS',
        queuePosition: 3,
        logs: [{ message: 'starting', level: 'INFO', timestamp: '2025-01-01T00:00:01.000Z' }],
        input: { prompt: 'über ☕ "quoted"', imageUrl: 'https://example.com/a.png', duration: '10', negativePrompt: 'blur', cfgScale: 0.5 },
        idempotencyKey: 'key-1',
        cancelRequested: true,
      });
      expect(await store.create(job)).toEqual({ job, created: true });
      expect(await store.get(job.id)).toEqual(job);
      expect(await store.get('no-such-job')).toBeNull();
    });

    it('refuses a second job with the same id', async () => {
      const job = makeJob();
      await store.create(job);
      await expect(store.create({ ...job, input: { ...job.input, prompt: 'other' } })).rejects.toThrow();
      await expect(store.create({ ...job, idempotencyKey: 'fresh-key' })).rejects.toThrow();
      expect(await store.get(job.id)).toEqual(job);
    });

    it('returns the existing job for a repeated idempotency key, per tenant', async () => {
      const first = makeJob({ idempotencyKey: 'same' });
      await store.create(first);
      const again = await store.create(makeJob({ idempotencyKey: 'same', minute: 1 }));
      expect(again).toEqual({ job: first, created: false });

      const otherTenant = makeJob({ tenant: 'tenant-b', idempotencyKey: 'same' });
      expect(await store.create(otherTenant)).toEqual({ job: otherTenant, created: true });
      // Tenant and key are kept apart: ('a:b', 'c') is not ('a', 'b:c').
      const x = makeJob({ tenant: 'x:y', idempotencyKey: 'z' });
      const y = makeJob({ tenant: 'x', idempotencyKey: 'y:z' });
      expect((await store.create(x)).created).toBe(true);
      expect((await store.create(y)).created).toBe(true);
    });

    it('creates exactly one job for 20 concurrent creates with one tenant and key', async () => {
      const jobs = Array.from({ length: 20 }, () => makeJob({ idempotencyKey: 'race' }));
      const outcomes = await Promise.all(jobs.map((job) => store.create(job)));
      const created = outcomes.filter((outcome) => outcome.created);
      expect(created).toHaveLength(1);
      const winner = created[0]?.job as Job;
      for (const outcome of outcomes) expect(outcome.job).toEqual(winner);
      expect(await store.list({ tenant: 'tenant-a', limit: 100, after: null, status: null })).toEqual([winner]);
    });

    it('updates by compare-and-set on the version', async () => {
      const job = makeJob();
      await store.create(job);
      const v2 = next(job, { status: 'IN_PROGRESS', requestId: 'req-1' });
      expect(await store.update(v2)).toBe(true);
      expect(await store.get(job.id)).toEqual(v2);

      const stale = next(job, { status: 'CANCELLED', cancelRequested: true });
      expect(await store.update(stale)).toBe(false);
      expect(await store.update({ ...next(v2, {}), version: 4 })).toBe(false);
      expect(await store.get(job.id)).toEqual(v2);

      const v3 = next(v2, { status: 'COMPLETED', video: { url: 'https://example.com/v.mp4', contentType: 'video/mp4', fileName: 'v.mp4', fileSize: 1 } });
      expect(await store.update(v3)).toBe(true);
      expect(await store.get(job.id)).toEqual(v3);
    });

    it('does not update a missing job', async () => {
      expect(await store.update(next(makeJob(), {}))).toBe(false);
      expect(await store.get('missing')).toBeNull();
    });

    it('lists newest first and pages by cursor without gaps or duplicates', async () => {
      const mine = Array.from({ length: 25 }, (_, i) => makeJob({ minute: (i * 7) % 25 }));
      const theirs = Array.from({ length: 5 }, (_, i) => makeJob({ tenant: 'tenant-b', minute: i * 5 }));
      for (const job of [...mine, ...theirs]) await store.create(job);

      const expected = newestFirst(mine).map((job) => job.id);
      const { ids, pages } = await listAll(store, { tenant: 'tenant-a', status: null }, 10);
      expect(pages).toEqual([10, 10, 5]);
      expect(ids).toEqual(expected);

      const firstPage = await store.list({ tenant: 'tenant-a', limit: 10, after: null, status: null });
      expect(firstPage).toEqual(newestFirst(mine).slice(0, 10));
      // The cursor is a position, not a row: it still works once its job is gone.
      const cursorJob = firstPage[9] as Job;
      await store.delete(cursorJob.id);
      const afterGone = await store.list({ tenant: 'tenant-a', limit: 10, after: { createdAt: cursorJob.createdAt, id: cursorJob.id }, status: null });
      expect(afterGone.map((job) => job.id)).toEqual(expected.slice(10, 20));

      const other = await store.list({ tenant: 'tenant-b', limit: 100, after: null, status: null });
      expect(other).toEqual(newestFirst(theirs));
      expect(await store.list({ tenant: 'tenant-c', limit: 10, after: null, status: null })).toEqual([]);
    });

    it('orders jobs sharing a createdAt by id, descending, across pages', async () => {
      const ids = ['job-03', 'job-10', 'job-01', 'job-07', 'job-05'];
      for (const id of ids) await store.create(makeJob({ id, minute: 3 }));
      await store.create(makeJob({ id: 'job-99', minute: 2 }));
      await store.create(makeJob({ id: 'job-00', minute: 4 }));

      const { ids: listed, pages } = await listAll(store, { tenant: 'tenant-a', status: null }, 2);
      expect(listed).toEqual(['job-00', 'job-10', 'job-07', 'job-05', 'job-03', 'job-01', 'job-99']);
      expect(pages).toEqual([2, 2, 2, 1]);
    });

    it('compares the cursor as text, like (createdAt, id) string order', async () => {
      const early = makeJob({ id: 'b', minute: 2 });
      const late = makeJob({ id: 'a', minute: 3 });
      await store.create(early);
      await store.create(late);
      // A truncated createdAt sorts before every full one that starts with it.
      const truncated = late.createdAt.slice(0, 16);
      expect(await store.list({ tenant: 'tenant-a', limit: 10, after: { createdAt: truncated, id: 'zzz' }, status: null })).toEqual([early]);
      expect(await store.list({ tenant: 'tenant-a', limit: 10, after: { createdAt: late.createdAt, id: 'b' }, status: null })).toEqual([late, early]);
      expect(await store.list({ tenant: 'tenant-a', limit: 10, after: { createdAt: late.createdAt, id: 'a' }, status: null })).toEqual([early]);
    });

    it('filters by status, also across pages, and follows status changes', async () => {
      const statuses: JobStatus[] = ['IN_QUEUE', 'COMPLETED', 'IN_PROGRESS', 'COMPLETED', 'FAILED', 'COMPLETED'];
      const jobs = Array.from({ length: 24 }, (_, i) => makeJob({ minute: i, status: statuses[i % statuses.length] as JobStatus }));
      for (const job of jobs) await store.create(job);
      await store.create(makeJob({ tenant: 'tenant-b', status: 'COMPLETED', minute: 30 }));

      const completed = newestFirst(jobs.filter((job) => job.status === 'COMPLETED'));
      expect(completed).toHaveLength(12);
      const page = await store.list({ tenant: 'tenant-a', limit: 5, after: null, status: 'COMPLETED' });
      expect(page).toEqual(completed.slice(0, 5));
      const { ids, pages } = await listAll(store, { tenant: 'tenant-a', status: 'COMPLETED' }, 5);
      expect(ids).toEqual(completed.map((job) => job.id));
      expect(pages).toEqual([5, 5, 2]);

      const queued = jobs.find((job) => job.status === 'IN_QUEUE') as Job;
      expect(await store.update(next(queued, { status: 'COMPLETED' }))).toBe(true);
      const nowCompleted = await listAll(store, { tenant: 'tenant-a', status: 'COMPLETED' }, 5);
      expect(nowCompleted.ids).toContain(queued.id);
      expect(nowCompleted.ids).toHaveLength(13);
      const stillQueued = await listAll(store, { tenant: 'tenant-a', status: 'IN_QUEUE' }, 5);
      expect(stillQueued.ids).not.toContain(queued.id);
      expect(stillQueued.ids).toHaveLength(3);
      expect((await store.list({ tenant: 'tenant-a', limit: 100, after: null, status: null })).find((job) => job.id === queued.id)?.status).toBe('COMPLETED');
    });

    it('lists exactly the unfinished jobs, oldest first, following updates', async () => {
      const queued = makeJob({ minute: 3 });
      const running = makeJob({ minute: 1, status: 'IN_PROGRESS', tenant: 'tenant-b' });
      const done = makeJob({ minute: 2, status: 'COMPLETED' });
      const failed = makeJob({ minute: 0, status: 'FAILED' });
      for (const job of [queued, running, done, failed]) await store.create(job);
      expect(await store.listUnfinished()).toEqual([running, queued]);
      expect(await store.countUnfinished(null)).toBe(2);
      expect(await store.countUnfinished('tenant-b')).toBe(1);
      expect(await store.countUnfinished('nobody')).toBe(0);

      const cancelled = next(queued, { status: 'CANCELLED', cancelRequested: true });
      expect(await store.update(cancelled)).toBe(true);
      expect(await store.listUnfinished()).toEqual([running]);
      expect(await store.countUnfinished(null)).toBe(1);
      const progressed = next(running, { queuePosition: 0 });
      expect(await store.update(progressed)).toBe(true);
      expect(await store.listUnfinished()).toEqual([progressed]);
    });

    it('deletes a job, its listings and its idempotency key', async () => {
      const job = makeJob({ idempotencyKey: 'retry-me' });
      const keep = makeJob({ minute: 1 });
      await store.create(job);
      await store.create(keep);
      await store.delete(job.id);
      expect(await store.get(job.id)).toBeNull();
      expect(await store.list({ tenant: 'tenant-a', limit: 10, after: null, status: null })).toEqual([keep]);
      expect(await store.list({ tenant: 'tenant-a', limit: 10, after: null, status: 'IN_QUEUE' })).toEqual([keep]);
      expect(await store.listUnfinished()).toEqual([keep]);
      expect(await store.update(next(job, {}))).toBe(false);

      const retry = makeJob({ idempotencyKey: 'retry-me', minute: 2 });
      expect(await store.create(retry)).toEqual({ job: retry, created: true });
      await store.delete('no-such-job');
      expect(await store.get(retry.id)).toEqual(retry);
    });

    it('answers ping', async () => {
      await expect(store.ping()).resolves.toBeUndefined();
    });
  });
}

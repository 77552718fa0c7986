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
    userId: null,
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
      expect(await store.countUnfinished(null, 1)).toBe(1); // counting may stop at upTo
      expect(await store.countUnfinished('tenant-b', 5)).toBe(1);

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

    describe('purgeFinished', () => {
      /** `minute` minutes after BASE_TIME, as an ISO string. */
      const at = (minute: number) => new Date(BASE_TIME + minute * 60_000).toISOString();
      const everything = (tenant = 'tenant-a') => store.list({ tenant, limit: 1000, after: null, status: null });

      it('deletes only finished jobs completed before the cutoff, oldest first, up to the limit', async () => {
        // createdAt order deliberately differs from completedAt order: age is when a job finished.
        const a = makeJob({ id: 'job-a', minute: 50, status: 'COMPLETED', completedAt: at(100) });
        const b = makeJob({ id: 'job-b', minute: 10, status: 'FAILED', completedAt: at(101), tenant: 'tenant-b' });
        const c2 = makeJob({ id: 'job-c2', minute: 30, status: 'CANCELLED', completedAt: at(102) });
        const c1 = makeJob({ id: 'job-c1', minute: 40, status: 'COMPLETED', completedAt: at(102) });
        const d = makeJob({ id: 'job-d', minute: 0, status: 'COMPLETED', completedAt: at(103) });
        const atCutoff = makeJob({ id: 'job-e', minute: 1, status: 'COMPLETED', completedAt: at(110) });
        const recent = makeJob({ id: 'job-f', minute: 2, status: 'FAILED', completedAt: at(500) });
        const noCompletedAt = makeJob({ id: 'job-g', minute: 3, status: 'COMPLETED', completedAt: null });
        const ancientQueued = makeJob({ id: 'job-h', minute: -1_000_000, status: 'IN_QUEUE' });
        // An unfinished job never has a completedAt, but even a bogus one must not make it purgeable.
        const ancientRunning = makeJob({ id: 'job-i', minute: -900_000, status: 'IN_PROGRESS', completedAt: at(-900_000) });
        const all = [a, b, c2, c1, d, atCutoff, recent, noCompletedAt, ancientQueued, ancientRunning];
        for (const job of all) await store.create(job);
        const cutoff = at(110);

        expect(await store.purgeFinished(cutoff, 2)).toEqual(['job-a', 'job-b']);
        // Equal completedAt: ordered by id.
        expect(await store.purgeFinished(cutoff, 2)).toEqual(['job-c1', 'job-c2']);
        expect(await store.purgeFinished(cutoff, 100)).toEqual(['job-d']);
        expect(await store.purgeFinished(cutoff, 100)).toEqual([]);

        const kept = [atCutoff, recent, noCompletedAt, ancientQueued, ancientRunning];
        for (const job of [a, b, c1, c2, d]) expect(await store.get(job.id)).toBeNull();
        for (const job of kept) expect(await store.get(job.id)).toEqual(job);
        expect(await everything()).toEqual(newestFirst(kept));
        expect(await everything('tenant-b')).toEqual([]);
        expect(await store.listUnfinished()).toEqual([ancientQueued, ancientRunning]);
        expect(await store.countUnfinished(null)).toBe(2);

        // Far in the future: every finished job with a completedAt goes, unfinished ones stay.
        expect(await store.purgeFinished('9999-12-31T23:59:59.999Z', 100)).toEqual(['job-e', 'job-f']);
        expect(await everything()).toEqual(newestFirst([noCompletedAt, ancientQueued, ancientRunning]));
        expect(await store.listUnfinished()).toEqual([ancientQueued, ancientRunning]);
      });

      it('frees the idempotency keys of purged jobs and keeps every listing consistent', async () => {
        const done = makeJob({ minute: 5, status: 'COMPLETED', completedAt: at(6), idempotencyKey: 'again' });
        const failed = makeJob({ minute: 4, status: 'FAILED', completedAt: at(7), idempotencyKey: 'other' });
        const keep = Array.from({ length: 6 }, (_, i) => makeJob({ minute: i * 2, status: i % 2 ? 'COMPLETED' : 'IN_QUEUE', completedAt: i % 2 ? at(60) : null }));
        for (const job of [done, failed, ...keep]) await store.create(job);

        expect(new Set(await store.purgeFinished(at(8), 10))).toEqual(new Set([done.id, failed.id]));
        expect(await store.get(done.id)).toBeNull();
        expect(await store.update(next(done, {}))).toBe(false);
        const { ids, pages } = await listAll(store, { tenant: 'tenant-a', status: null }, 4);
        expect(ids).toEqual(newestFirst(keep).map((job) => job.id));
        expect(pages).toEqual([4, 2]);
        expect(await store.list({ tenant: 'tenant-a', limit: 10, after: null, status: 'COMPLETED' })).toEqual(newestFirst(keep.filter((job) => job.status === 'COMPLETED')));
        expect(await store.list({ tenant: 'tenant-a', limit: 10, after: null, status: 'FAILED' })).toEqual([]);

        const retry = makeJob({ minute: 20, idempotencyKey: 'again' });
        expect(await store.create(retry)).toEqual({ job: retry, created: true });
        const retried = await store.create(makeJob({ minute: 21, idempotencyKey: 'again' }));
        expect(retried).toEqual({ job: retry, created: false });
      });

      it('purges a job that became terminal by update, and no unfinished job however old', async () => {
        const job = makeJob({ minute: -5_000_000, idempotencyKey: 'slow' });
        await store.create(job);
        expect(await store.purgeFinished('9999-12-31T23:59:59.999Z', 10)).toEqual([]);

        const running = next(job, { status: 'IN_PROGRESS', requestId: 'req-1' });
        expect(await store.update(running)).toBe(true);
        expect(await store.purgeFinished('9999-12-31T23:59:59.999Z', 10)).toEqual([]);
        expect(await store.get(job.id)).toEqual(running);

        const completed = next(running, { status: 'COMPLETED', completedAt: at(30) });
        expect(await store.update(completed)).toBe(true);
        expect(await store.purgeFinished(at(30), 10)).toEqual([]);
        expect(await store.get(job.id)).toEqual(completed);
        expect(await store.purgeFinished(at(31), 10)).toEqual([job.id]);
        expect(await store.get(job.id)).toBeNull();
        expect(await everything()).toEqual([]);
        expect(await store.list({ tenant: 'tenant-a', limit: 10, after: null, status: 'COMPLETED' })).toEqual([]);
        expect((await store.create(makeJob({ idempotencyKey: 'slow' }))).created).toBe(true);
      });

      it('is harmless to repeat, also concurrently: each job is deleted once', async () => {
        const finished = Array.from({ length: 30 }, (_, i) => makeJob({ minute: i, status: 'CANCELLED', completedAt: at(i) }));
        for (const job of finished) await store.create(job);
        const rounds = await Promise.all(Array.from({ length: 6 }, () => store.purgeFinished(at(1000), 7)));
        const purged = rounds.flat();
        expect(purged).toHaveLength(30);
        expect(new Set(purged)).toEqual(new Set(finished.map((job) => job.id)));
        for (const round of rounds) expect(round.length).toBeLessThanOrEqual(7);
        expect(await store.purgeFinished(at(1000), 7)).toEqual([]);
        expect(await everything()).toEqual([]);
        await store.delete(finished[0]?.id as string);
      });

      it('compares instants, not spellings, of the cutoff', async () => {
        const job = makeJob({ status: 'COMPLETED', completedAt: '2025-01-01T01:00:00.000Z' });
        await store.create(job);
        expect(await store.purgeFinished('2025-01-01T01:00:00Z', 10)).toEqual([]);
        expect(await store.purgeFinished('2025-01-01T02:00:00.000+01:00', 10)).toEqual([]);
        expect(await store.purgeFinished('2025-01-01T02:00:00.001+01:00', 10)).toEqual([job.id]);
      });

      it('deletes nothing for limit 0 and rejects bad arguments', async () => {
        const job = makeJob({ status: 'COMPLETED', completedAt: at(1) });
        await store.create(job);
        expect(await store.purgeFinished(at(2), 0)).toEqual([]);
        await expect(store.purgeFinished('not a date', 10)).rejects.toThrow(RangeError);
        await expect(store.purgeFinished(at(2), -1)).rejects.toThrow(RangeError);
        await expect(store.purgeFinished(at(2), 1.5)).rejects.toThrow(RangeError);
        expect(await store.get(job.id)).toEqual(job);
      });

      it('deletes a finished job with `delete` so that purge no longer sees it', async () => {
        const gone = makeJob({ status: 'FAILED', completedAt: at(1) });
        const stays = makeJob({ minute: 1, status: 'FAILED', completedAt: at(2) });
        await store.create(gone);
        await store.create(stays);
        await store.delete(gone.id);
        expect(await store.purgeFinished(at(3), 10)).toEqual([stays.id]);
      });
    });

    it('event log: every create and update appends the stored job, in order, and replays from any cursor', async () => {
      const start = await store.lastEventSeq();
      expect(await store.eventsAfter(start, 10)).toEqual([]);
      const a = makeJob({ minute: 1 });
      const b = makeJob({ minute: 2, tenant: 'tenant-b' });
      await store.create(a);
      await store.create(b);
      const a2 = next(a, { status: 'IN_PROGRESS' });
      expect(await store.update(a2)).toBe(true);
      expect(await store.update(a2)).toBe(false); // a lost compare-and-set appends nothing
      await store.create({ ...makeJob({ idempotencyKey: 'k' }) });
      await store.create({ ...makeJob({ idempotencyKey: 'k' }) }); // the existing job: nothing appended
      const all = (await store.eventsAfter(start, 100)) ?? [];
      expect(all.every((e) => !e.deleted)).toBe(true);
      expect(all.map((e) => [e.job.id, e.job.version])).toEqual([[a.id, 1], [b.id, 1], [a.id, 2], [all[3]?.job.id, 1]]);
      expect(all[2]?.job).toEqual(a2);
      expect(await store.lastEventSeq()).toBe(all[3]?.seq);
      const rest = await store.eventsAfter(all[1]?.seq as string, 100);
      expect(rest?.map((e) => e.seq)).toEqual([all[2]?.seq, all[3]?.seq]);
      expect((await store.eventsAfter(start, 2))?.map((e) => e.seq)).toEqual([all[0]?.seq, all[1]?.seq]);
      expect(await store.eventsAfter(all[3]?.seq as string, 100)).toEqual([]);
    });

    it('event log: a delete and a purge append the job\'s last state, marked deleted', async () => {
      const start = await store.lastEventSeq();
      const refused = makeJob({ minute: 1 });
      const done = makeJob({ minute: 2, status: 'COMPLETED', completedAt: '2025-01-01T00:03:00.000Z' });
      await store.create(refused);
      await store.create(done);
      await store.delete(refused.id);
      expect(await store.purgeFinished('2030-01-01T00:00:00.000Z', 10)).toEqual([done.id]);
      const events = (await store.eventsAfter(start, 10)) ?? [];
      expect(events.map((e) => [e.job.id, e.deleted])).toEqual([[refused.id, false], [done.id, false], [refused.id, true], [done.id, true]]);
      expect(events[3]?.job).toEqual(done);
      await store.delete(refused.id); // already gone: nothing appended
      expect(await store.lastEventSeq()).toBe(events[3]?.seq);
    });

    it('event log: a sequence it never issued, or not a sequence at all, cannot be continued', async () => {
      const job = makeJob();
      await store.create(job);
      const head = await store.lastEventSeq();
      expect(await store.eventsAfter('not-a-cursor', 10)).toBeNull();
      expect(await store.eventsAfter('', 10)).toBeNull();
      expect(await store.eventsAfter(head.replace(/\d$/, (d) => String(Number(d) + 1)) + '9', 10)).toBeNull();
    });

    it('event log: trims the oldest entries by their job time, as a prefix; trimmed cursors are refused', async () => {
      const old = makeJob({ minute: 0 });
      const recent = makeJob({ minute: 0, updatedAt: new Date(Date.parse(old.updatedAt) + 3_600_000).toISOString() });
      const start = await store.lastEventSeq();
      await store.create(old);
      await store.create(recent);
      const [first, second] = (await store.eventsAfter(start, 10)) ?? [];
      expect(await store.trimEvents('2000-01-01T00:00:00.000Z')).toBe(0);
      expect(await store.trimEvents(new Date(Date.parse(old.updatedAt) + 60_000).toISOString())).toBe(1);
      expect(await store.eventsAfter(start, 10)).toBeNull();
      expect((await store.eventsAfter(first?.seq as string, 10))?.map((e) => e.job.id)).toEqual([recent.id]);
      expect(await store.trimEvents('2100-01-01T00:00:00.000Z')).toBe(1);
      expect(await store.eventsAfter(first?.seq as string, 10)).toBeNull();
      expect(await store.lastEventSeq()).toBe(second?.seq); // an emptied log still knows where it stands
      expect(await store.eventsAfter(second?.seq as string, 10)).toEqual([]);
      const later = makeJob({ minute: 5 });
      await store.create(later);
      expect((await store.eventsAfter(second?.seq as string, 10))?.map((e) => e.job.id)).toEqual([later.id]);
      await expect(store.trimEvents('yesterday')).rejects.toThrow(RangeError);
    });

    it('answers ping', async () => {
      await expect(store.ping()).resolves.toBeUndefined();
    });
  });
}

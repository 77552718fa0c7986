import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { describe, expect, it } from 'vitest';
import { createSqliteJobStore } from '../../src/store/sqlite-job-store.ts';
import { USAGE_SQL } from '../../src/store/sqlite-usage.ts';
import type { Job } from '../../src/domain/job.ts';
import { describeJobStoreContract, makeJob } from '../helpers/job-store-contract.ts';
import type { UsageTotals } from '../../src/store/job-store.ts';
import { describeJobStoreMoneyContract } from '../helpers/job-store-money-contract.ts';

function tempDir(): { dir: string; remove: () => Promise<void> } {
  const dir = mkdtempSync(join(tmpdir(), 'sqlite-job-store-'));
  return { dir, remove: async () => rmSync(dir, { recursive: true, force: true }) };
}

describeJobStoreContract('sqlite', async () => {
  const { dir, remove } = tempDir();
  return { store: createSqliteJobStore({ path: join(dir, 'jobs.db') }), cleanup: remove };
});

describe('SQLite job store', () => {
  it('keeps its data across closing and reopening the file', async () => {
    const { dir, remove } = tempDir();
    try {
      const path = join(dir, 'nested', 'jobs.db');
      const first = createSqliteJobStore({ path });
      const job = makeJob({ idempotencyKey: 'durable' });
      await first.create(job);
      const updated = { ...job, status: 'IN_PROGRESS' as const, requestId: 'req-1', version: 2 };
      expect(await first.update(updated)).toBe(true);
      await first.close();

      const second = createSqliteJobStore({ path });
      try {
        expect(await second.get(job.id)).toEqual(updated);
        expect(await second.listUnfinished()).toEqual([updated]);
        expect(await second.create(makeJob({ idempotencyKey: 'durable' }))).toEqual({ job: updated, created: false });
      } finally {
        await second.close();
      }
    } finally {
      await remove();
    }
  });

  it('migrates a database created before completed_at existed', async () => {
    const { dir, remove } = tempDir();
    try {
      const path = join(dir, 'jobs.db');
      // The schema and insert of the previous version, verbatim.
      const old = new DatabaseSync(path);
      old.exec(`
        CREATE TABLE IF NOT EXISTS jobs (
          id TEXT PRIMARY KEY, tenant TEXT NOT NULL, idem_key TEXT, status TEXT NOT NULL,
          finished INTEGER NOT NULL DEFAULT 0, created_at TEXT NOT NULL, version INTEGER NOT NULL, data TEXT NOT NULL
        );
        CREATE UNIQUE INDEX IF NOT EXISTS jobs_idem ON jobs (tenant, idem_key) WHERE idem_key IS NOT NULL;
        CREATE INDEX IF NOT EXISTS jobs_tenant_created ON jobs (tenant, created_at DESC, id DESC);
        CREATE INDEX IF NOT EXISTS jobs_unfinished ON jobs (finished) WHERE finished = 0;`);
      const insert = old.prepare(
        `INSERT INTO jobs (id, tenant, idem_key, status, finished, created_at, version, data)
         VALUES (:id, :tenant, :idem, :status, :finished, :createdAt, :version, :data)`,
      );
      const put = (job: Job) =>
        insert.run({
          id: job.id,
          tenant: job.tenant,
          idem: job.idempotencyKey,
          status: job.status,
          finished: ['COMPLETED', 'FAILED', 'CANCELLED'].includes(job.status) ? 1 : 0,
          createdAt: job.createdAt,
          version: job.version,
          data: JSON.stringify(job),
        });
      const done = makeJob({ id: 'done', status: 'COMPLETED', completedAt: '2025-01-02T00:00:00.000Z', idempotencyKey: 'k' });
      // Not in toISOString() form: the backfill normalises it to UTC (2025-01-01T23:30:00.000Z).
      const offset = makeJob({ id: 'offset', minute: 1, status: 'FAILED', completedAt: '2025-01-02T00:30:00+01:00' });
      const noDate = makeJob({ id: 'no-date', minute: 2, status: 'CANCELLED', completedAt: null });
      const queued = makeJob({ id: 'queued', minute: 3 });
      for (const job of [done, offset, noDate, queued]) put(job);
      old.close();

      const store = createSqliteJobStore({ path });
      try {
        expect(await store.get('offset')).toEqual(offset);
        expect(await store.purgeFinished('2025-01-01T23:30:00.000Z', 10)).toEqual([]);
        expect(await store.purgeFinished('2025-01-03T00:00:00.000Z', 10)).toEqual(['offset', 'done']);
        expect(await store.listUnfinished()).toEqual([queued]);
        expect((await store.create(makeJob({ idempotencyKey: 'k' }))).created).toBe(true);
        // Jobs written after the migration are kept in sync as usual.
        const finished = { ...queued, status: 'COMPLETED' as const, completedAt: '2025-01-04T00:00:00.000Z', version: 2 };
        expect(await store.update(finished)).toBe(true);
        expect(await store.purgeFinished('2025-01-05T00:00:00.000Z', 10)).toEqual(['queued']);
        expect(await store.get('no-date')).toEqual(noDate);
      } finally {
        await store.close();
      }

      // Opening again (already migrated) changes nothing; the column and index are there.
      const again = createSqliteJobStore({ path });
      await again.close();
      const check = new DatabaseSync(path);
      try {
        const columns = (check.prepare('PRAGMA table_info(jobs)').all() as { name: string }[]).map((column) => column.name);
        expect(columns.filter((name) => name === 'completed_at')).toHaveLength(1);
        const indexColumns = (check.prepare('PRAGMA index_info(jobs_finished_by_completion)').all() as { name: string }[]).map((column) => column.name);
        expect(indexColumns).toEqual(['completed_at', 'id']);
        // The old file's indexes that cost writes for nothing are dropped (see LATER_INDEXES).
        expect(check.prepare("SELECT name FROM sqlite_master WHERE type = 'index' AND name IN ('jobs_unfinished', 'jobs_finished_completed', 'jobs_user_created')").all()).toEqual([]);
        expect(check.prepare("SELECT completed_at FROM jobs WHERE id = 'no-date'").get()).toEqual({ completed_at: null });
      } finally {
        check.close();
      }
    } finally {
      await remove();
    }
  });

  it('serves a database that another open store has just migrated', async () => {
    const { dir, remove } = tempDir();
    try {
      const path = join(dir, 'jobs.db');
      const old = new DatabaseSync(path);
      old.exec(`CREATE TABLE jobs (
        id TEXT PRIMARY KEY, tenant TEXT NOT NULL, idem_key TEXT, status TEXT NOT NULL,
        finished INTEGER NOT NULL DEFAULT 0, created_at TEXT NOT NULL, version INTEGER NOT NULL, data TEXT NOT NULL)`);
      old.close();
      const stores = [createSqliteJobStore({ path }), createSqliteJobStore({ path })];
      try {
        const job = makeJob({ status: 'COMPLETED', completedAt: '2025-01-02T00:00:00.000Z' });
        await stores[0]?.create(job);
        expect(await stores[1]?.purgeFinished('2025-01-03T00:00:00.000Z', 10)).toEqual([job.id]);
      } finally {
        await Promise.all(stores.map((store) => store.close()));
      }
    } finally {
      await remove();
    }
  });

  it('keeps only the indexes its reads use, and finds unfinished and finished jobs through them', async () => {
    const { dir, remove } = tempDir();
    try {
      const path = join(dir, 'jobs.db');
      await createSqliteJobStore({ path }).close();
      const db = new DatabaseSync(path);
      try {
        // Each index is a page every insert dirties; a new one must be worth its writes.
        const indexes = (db.prepare("SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'jobs' AND sql IS NOT NULL ORDER BY name").all() as { name: string }[]).map((row) => row.name);
        expect(indexes).toEqual(['jobs_finished_by_completion', 'jobs_idem_user', 'jobs_of_user', 'jobs_tenant_created', 'jobs_user_unfinished']);
        const plan = (sql: string) => (db.prepare(`EXPLAIN QUERY PLAN ${sql}`).all() as { detail: string }[]).map((row) => row.detail).join('; ');
        const unfinished = [
          'SELECT data FROM jobs WHERE finished = 0 ORDER BY created_at',
          'SELECT count(*) AS n FROM (SELECT 1 FROM jobs WHERE finished = 0 LIMIT 10)',
          "SELECT count(*) AS n FROM (SELECT 1 FROM jobs WHERE finished = 0 AND tenant = 't' LIMIT 10)",
          "SELECT count(*) AS n FROM (SELECT 1 FROM jobs WHERE finished = 0 AND tenant = 't' AND user_id = 'u' LIMIT 10)",
        ];
        for (const sql of unfinished) expect(plan(sql), sql).toMatch(/jobs USING (COVERING )?INDEX jobs_user_unfinished/);
        const ofUser = [
          "SELECT data FROM jobs WHERE tenant = 't' AND user_id = :u ORDER BY created_at DESC, id DESC LIMIT 10",
          "SELECT data FROM jobs WHERE tenant = 't' AND user_id = :u AND status = 'IN_QUEUE' AND (created_at < 'x' OR (created_at = 'x' AND id < 'y')) ORDER BY created_at DESC, id DESC LIMIT 10",
          USAGE_SQL.user,
        ];
        for (const sql of ofUser) expect(plan(sql), sql).toMatch(/SEARCH jobs USING INDEX jobs_of_user \(tenant=\? AND user_id=\?/);
        expect(plan("SELECT id FROM jobs WHERE finished = 1 AND completed_at < '2025' ORDER BY completed_at, id LIMIT 10")).toMatch(
          /SEARCH jobs USING COVERING INDEX jobs_finished_by_completion \(completed_at<\?\)$/,
        );
      } finally {
        db.close();
      }
    } finally {
      await remove();
    }
  });

  it('refuses a stale update that would finish a job or move its charge, and moves nothing', async () => {
    const { dir, remove } = tempDir();
    const store = createSqliteJobStore({ path: join(dir, 'jobs.db') });
    try {
      const job = makeJob({ costNanoUsd: 350_000_000 });
      await store.create(job);
      const day = job.createdAt.slice(0, 10);
      expect(await store.update({ ...job, queuePosition: 2, version: 2 })).toBe(true); // in place
      const cancelled = { ...job, status: 'CANCELLED' as const, completedAt: '2025-01-02T00:00:00.000Z' };
      expect(await store.update({ ...cancelled, version: 2 })).toBe(false); // stale: version 2 is stored
      expect(await store.spentOn(day, job.tenant)).toBe(350_000_000);
      expect(await store.purgeFinished('2025-01-03T00:00:00.000Z', 10)).toEqual([]);
      expect(await store.update({ ...cancelled, version: 3 })).toBe(true);
      expect(await store.spentOn(day, job.tenant)).toBe(0);
      expect(await store.purgeFinished('2025-01-03T00:00:00.000Z', 10)).toEqual([job.id]);
    } finally {
      await store.close();
      await remove();
    }
  });

  it('answers usage of whole days from the day counters, without reading job rows', async () => {
    const { dir, remove } = tempDir();
    try {
      const path = join(dir, 'jobs.db');
      await createSqliteJobStore({ path }).close();
      const db = new DatabaseSync(path);
      try {
        const plan = (sql: string, ...params: string[]) => (db.prepare(`EXPLAIN QUERY PLAN ${sql}`).all(...params) as { detail: string }[]).map((row) => row.detail).join('; ');
        for (const text of [plan(USAGE_SQL.tenantDays, 't', '2025-01-01', '2025-01-02'), plan(USAGE_SQL.userDays, 't', '2025-01-01', '2025-01-02', 'u')]) {
          expect(text).toMatch(/SEARCH usage_days USING PRIMARY KEY/);
          expect(text).not.toMatch(/\bjobs\b/);
        }
      } finally {
        db.close();
      }
    } finally {
      await remove();
    }
  });

  it('keeps usage counters per UTC day (whole days read them, partial days the jobs), equal to counting the jobs for any range, also after changes, deletes and purges', async () => {
    const { dir, remove } = tempDir();
    const path = join(dir, 'jobs.db');
    const store = createSqliteJobStore({ path });
    const db = new DatabaseSync(path);
    try {
      const cost = 350_000_000;
      const jobs: Job[] = [];
      // Three days from BASE_TIME (2025-01-01T00:00Z), two users and API-key jobs, several statuses.
      for (let i = 0; i < 30; i++) {
        const status = (['IN_QUEUE', 'COMPLETED', 'FAILED', 'CANCELLED', 'IN_PROGRESS'] as const)[i % 5];
        const job = makeJob({ minute: i * 137, status, userId: i % 3 === 0 ? null : i % 3 === 1 ? 'alice' : 'bob', costNanoUsd: cost, completedAt: status === 'COMPLETED' || status === 'FAILED' || status === 'CANCELLED' ? '2025-01-04T00:00:00.000Z' : null });
        await store.create(job);
        jobs.push(job);
      }
      // Changes: a status (and with it the charge), a status alone (updated in place), a reconciled cost, a delete, a purge.
      await store.update({ ...jobs[0]!, status: 'COMPLETED', completedAt: '2025-01-04T00:00:00.000Z', version: 2 });
      await store.update({ ...jobs[5]!, status: 'IN_PROGRESS', version: 2 });
      await store.update({ ...jobs[1]!, costNanoUsd: cost + 7, version: 2 });
      await store.delete(jobs[2]!.id);
      expect(await store.purgeFinished('2025-01-05T00:00:00.000Z', 3)).toHaveLength(3);

      const counted = (tenant: string, userId: string | null, from: string, to: string): UsageTotals => {
        const rows = (userId
          ? db.prepare('SELECT status, count(*) AS n, sum(charge) AS spent FROM jobs NOT INDEXED WHERE tenant = ? AND user_id = ? AND created_at >= ? AND created_at < ? GROUP BY status').all(tenant, userId, from, to)
          : db.prepare('SELECT status, count(*) AS n, sum(charge) AS spent FROM jobs NOT INDEXED WHERE tenant = ? AND created_at >= ? AND created_at < ? GROUP BY status').all(tenant, from, to)) as { status: Job['status']; n: number; spent: number }[];
        const totals: UsageTotals = { spentNanos: 0, jobs: 0, byStatus: {} };
        for (const row of rows) {
          totals.jobs += Number(row.n);
          totals.spentNanos += Number(row.spent);
          totals.byStatus[row.status] = Number(row.n);
        }
        return totals;
      };
      const ranges = [
        ['2025-01-01T00:00:00.000Z', '2025-01-02T00:00:00.000Z'], // one whole day
        ['2025-01-01T00:00:00.000Z', '2025-01-04T00:00:00.000Z'], // three whole days
        ['2025-01-01T05:00:00.000Z', '2025-01-03T07:30:00.000Z'], // partial, whole, partial
        ['2025-01-02T03:00:00.000Z', '2025-01-02T20:00:00.000Z'], // inside one day
        ['2025-01-01T10:00:00.000Z', '2025-01-02T00:00:00.000Z'], // partial then midnight
        ['2024-12-31T00:00:00.000Z', '2025-01-01T00:00:00.000Z'], // before everything
      ];
      for (const [from, to] of ranges) {
        for (const userId of [null, 'alice', 'bob']) {
          expect(await store.usage({ tenant: 'tenant-a', userId, from: from!, to: to! }), `${userId} ${from} ${to}`).toEqual(counted('tenant-a', userId, from!, to!));
        }
      }
      // The counters themselves: one row per tenant, user, day and status.
      const day = db.prepare("SELECT sum(n) AS n FROM usage_days WHERE tenant = 'tenant-a' AND day = '2025-01-01'").get() as { n: number };
      expect(Number(day.n)).toBe(counted('tenant-a', null, '2025-01-01T00:00:00.000Z', '2025-01-02T00:00:00.000Z').jobs);
    } finally {
      db.close();
      await store.close();
      await remove();
    }
  });

  it('fills the usage counters in from the stored jobs when it opens a file that has none', async () => {
    const { dir, remove } = tempDir();
    try {
      const path = join(dir, 'jobs.db');
      const first = createSqliteJobStore({ path });
      for (let i = 0; i < 6; i++) await first.create(makeJob({ minute: i * 500, status: i % 2 ? 'COMPLETED' : 'IN_QUEUE', costNanoUsd: 350_000_000 }));
      await first.close();
      const older = new DatabaseSync(path); // as a file written by a version without the counters
      older.exec('DROP TRIGGER usage_days_insert; DROP TRIGGER usage_days_update; DROP TRIGGER usage_days_delete; DROP TABLE usage_days;');
      older.close();
      const store = createSqliteJobStore({ path });
      try {
        expect(await store.usage({ tenant: 'tenant-a', from: '2025-01-01T00:00:00.000Z', to: '2025-01-03T00:00:00.000Z' })).toEqual({
          spentNanos: 6 * 350_000_000,
          jobs: 6,
          byStatus: { IN_QUEUE: 3, COMPLETED: 3 },
        });
      } finally {
        await store.close();
      }
    } finally {
      await remove();
    }
  });
});

describeJobStoreMoneyContract('sqlite', async () => {
  const { dir, remove } = tempDir();
  return { store: createSqliteJobStore({ path: join(dir, 'jobs.db') }), cleanup: remove };
});

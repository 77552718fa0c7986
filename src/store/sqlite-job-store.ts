/**
 * The embedded default store: one SQLite file through Node's built-in `node:sqlite`. A job row keeps
 * the few columns that are queried plus the whole job as JSON. Writes are synchronous and therefore
 * atomic within the process; WAL keeps readers off writers' backs.
 *
 * `completed_at` is the job's completedAt, normalised to `toISOString()` form (UTC, milliseconds) so
 * that text order is time order; NULL while the job is unfinished (or has no valid completedAt).
 * Databases created before the column existed get it on open (see `migrate`).
 */
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { DatabaseSync, type StatementSync } from 'node:sqlite';
import { isTerminal, type Job } from '../domain/job.ts';
import { EVENT_LOG_SCHEMA, sqliteEventLog } from './sqlite-job-event-log.ts';
import { completionTime, purgeCutoff, type CreateOutcome, type JobStore, type ListQuery } from './job-store.ts';

const SCHEMA = `
CREATE TABLE IF NOT EXISTS jobs (
  id          TEXT PRIMARY KEY,
  tenant      TEXT NOT NULL,
  idem_key    TEXT,
  status      TEXT NOT NULL,
  finished    INTEGER NOT NULL DEFAULT 0,
  created_at  TEXT NOT NULL,
  version     INTEGER NOT NULL,
  data        TEXT NOT NULL,
  completed_at TEXT
);
CREATE UNIQUE INDEX IF NOT EXISTS jobs_idem ON jobs (tenant, idem_key) WHERE idem_key IS NOT NULL;
CREATE INDEX IF NOT EXISTS jobs_tenant_created ON jobs (tenant, created_at DESC, id DESC);
CREATE INDEX IF NOT EXISTS jobs_unfinished ON jobs (finished) WHERE finished = 0;
`;

/** Created after `migrate`, since an older table has no completed_at until then. */
const FINISHED_INDEX = 'CREATE INDEX IF NOT EXISTS jobs_finished_completed ON jobs (finished, completed_at);';

/**
 * Brings a table created by an older version up to date: adds completed_at and fills it in for the
 * finished rows, with the same normalisation as `completedAtColumn` (strftime gives NULL for a value
 * that is not a date). Runs inside the opening transaction, so two processes opening one old file at
 * once cannot both add the column.
 */
function migrate(db: DatabaseSync): void {
  const columns = db.prepare('PRAGMA table_info(jobs)').all() as { name: string }[];
  if (columns.some((column) => column.name === 'completed_at')) return;
  db.exec(`ALTER TABLE jobs ADD COLUMN completed_at TEXT;
UPDATE jobs SET completed_at = strftime('%Y-%m-%dT%H:%M:%fZ', json_extract(data, '$.completedAt')) WHERE finished = 1;`);
}

/** The completed_at column for `job`: its completedAt in toISOString() form, or null (see `completionTime`). */
function completedAtColumn(job: Job): string | null {
  const ms = completionTime(job);
  return ms === null ? null : new Date(ms).toISOString();
}

/** Runs `body` in one write transaction (BEGIN IMMEDIATE waits for other writers up to busy_timeout). */
function inTransaction<T>(db: DatabaseSync, body: () => T): T {
  db.exec('BEGIN IMMEDIATE');
  try {
    const result = body();
    db.exec('COMMIT');
    return result;
  } catch (error) {
    if (db.isTransaction) db.exec('ROLLBACK');
    throw error;
  }
}

export interface SqliteJobStoreOptions {
  /** File path, or ':memory:'. The folder is created when missing. */
  path: string;
}

export function createSqliteJobStore({ path }: SqliteJobStoreOptions): JobStore {
  if (path !== ':memory:') mkdirSync(dirname(path), { recursive: true });
  const db = new DatabaseSync(path);
  db.exec('PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA busy_timeout = 5000;');
  inTransaction(db, () => {
    db.exec(SCHEMA);
    migrate(db);
    db.exec(FINISHED_INDEX);
    db.exec(EVENT_LOG_SCHEMA); // the event log, appended by triggers on jobs (sqlite-job-event-log.ts)
  });

  const statements = {
    insert: db.prepare(
      `INSERT INTO jobs (id, tenant, idem_key, status, finished, created_at, version, data, completed_at)
       VALUES (:id, :tenant, :idem, :status, :finished, :createdAt, :version, :data, :completedAt) ON CONFLICT DO NOTHING`,
    ),
    byIdem: db.prepare('SELECT data FROM jobs WHERE tenant = ? AND idem_key = ?'),
    byId: db.prepare('SELECT data FROM jobs WHERE id = ?'),
    update: db.prepare(
      `UPDATE jobs SET status = :status, finished = :finished, version = :version, data = :data, completed_at = :completedAt
       WHERE id = :id AND version = :expected`,
    ),
    unfinished: db.prepare('SELECT data FROM jobs WHERE finished = 0 ORDER BY created_at'),
    remove: db.prepare('DELETE FROM jobs WHERE id = ?'),
    purgeable: db.prepare(
      'SELECT id FROM jobs WHERE finished = 1 AND completed_at < :before ORDER BY completed_at, id LIMIT :limit',
    ),
    removeMany: db.prepare('DELETE FROM jobs WHERE id IN (SELECT value FROM json_each(:ids))'),
    countAll: db.prepare('SELECT count(*) AS n FROM (SELECT 1 FROM jobs WHERE finished = 0 LIMIT ?)'),
    countTenant: db.prepare('SELECT count(*) AS n FROM (SELECT 1 FROM jobs WHERE finished = 0 AND tenant = ? LIMIT ?)'),
    ping: db.prepare('SELECT 1 AS ok'),
  };
  const listStatements = new Map<string, StatementSync>();

  function listStatement(withCursor: boolean, withStatus: boolean): StatementSync {
    const key = `${withCursor}:${withStatus}`;
    let statement = listStatements.get(key);
    if (!statement) {
      const where = ['tenant = :tenant'];
      if (withStatus) where.push('status = :status');
      if (withCursor) where.push('(created_at < :createdAt OR (created_at = :createdAt AND id < :id))');
      statement = db.prepare(`SELECT data FROM jobs WHERE ${where.join(' AND ')} ORDER BY created_at DESC, id DESC LIMIT :limit`);
      listStatements.set(key, statement);
    }
    return statement;
  }

  const parse = (row: unknown): Job | null => (row ? (JSON.parse((row as { data: string }).data) as Job) : null);

  return {
    ...sqliteEventLog(db),

    async create(job: Job): Promise<CreateOutcome> {
      const result = statements.insert.run({
        id: job.id,
        tenant: job.tenant,
        idem: job.idempotencyKey,
        status: job.status,
        finished: isTerminal(job.status) ? 1 : 0,
        createdAt: job.createdAt,
        version: job.version,
        data: JSON.stringify(job),
        completedAt: completedAtColumn(job),
      });
      if (result.changes === 1) return { job, created: true };
      const existing = job.idempotencyKey === null ? null : parse(statements.byIdem.get(job.tenant, job.idempotencyKey));
      if (!existing) throw new Error(`job ${job.id} already exists`);
      return { job: existing, created: false };
    },

    async get(id: string) {
      return parse(statements.byId.get(id));
    },

    async update(job: Job) {
      const result = statements.update.run({
        id: job.id,
        status: job.status,
        finished: isTerminal(job.status) ? 1 : 0,
        version: job.version,
        expected: job.version - 1,
        data: JSON.stringify(job),
        completedAt: completedAtColumn(job),
      });
      return result.changes === 1;
    },

    async list(query: ListQuery) {
      const params: Record<string, string | number> = { tenant: query.tenant, limit: query.limit };
      if (query.status) params.status = query.status;
      if (query.after) {
        params.createdAt = query.after.createdAt;
        params.id = query.after.id;
      }
      const rows = listStatement(query.after !== null, query.status !== null).all(params);
      return rows.map((row) => parse(row) as Job);
    },

    async listUnfinished() {
      return statements.unfinished.all().map((row) => parse(row) as Job);
    },

    async countUnfinished(tenant: string | null, upTo = -1) {
      const row = (tenant === null ? statements.countAll.get(upTo) : statements.countTenant.get(tenant, upTo)) as { n: number };
      return Number(row.n);
    },

    async delete(id: string) {
      statements.remove.run(id);
    },

    async purgeFinished(completedBefore: string, limit: number) {
      const before = new Date(purgeCutoff(completedBefore, limit)).toISOString();
      if (limit === 0) return [];
      // Pick and delete in one transaction: the ids returned are exactly the rows deleted, oldest first.
      return inTransaction(db, () => {
        const ids = statements.purgeable.all({ before, limit }).map((row) => (row as { id: string }).id);
        if (ids.length > 0) statements.removeMany.run({ ids: JSON.stringify(ids) });
        return ids;
      });
    },

    async ping() {
      statements.ping.get();
    },

    async close() {
      if (db.isOpen) db.close();
    },
  };
}

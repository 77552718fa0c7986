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
import { describeOpenError } from './store-file.ts';
import { chargeOf, dayOf } from '../domain/money.ts';
import { completionTime, purgeCutoff, type CreateOutcome, type DailyBudget, type JobStore, type ListQuery, type UsageQuery } from './job-store.ts';
import { createSqliteSpend } from './sqlite-spend.ts';
import { createSqliteUsage, installUsageDays } from './sqlite-usage.ts';
import { EVENT_LOG_SCHEMA, sqliteEventLog } from './sqlite-job-event-log.ts';

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
  completed_at TEXT,
  user_id     TEXT,
  charge      INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS spend (
  scope TEXT NOT NULL,
  day   TEXT NOT NULL,
  nanos INTEGER NOT NULL,
  PRIMARY KEY (scope, day)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS jobs_tenant_created ON jobs (tenant, created_at DESC, id DESC);
`;

/**
 * Created after `migrate`, since an older table has no completed_at, user_id or charge until then.
 * Every index is a page a write dirties (a WAL frame at commit), so there are no more than the reads
 * need: unfinished jobs are found through jobs_user_unfinished (its WHERE covers `finished = 0` scans
 * too), finished ones through a partial index that a job enters only when it finishes, and a user's
 * listing through one that jobs without a user (API keys) never enter. The indexes they replace are
 * dropped from older files.
 */
const LATER_INDEXES = `DROP INDEX IF EXISTS jobs_unfinished;
DROP INDEX IF EXISTS jobs_finished_completed;
CREATE INDEX IF NOT EXISTS jobs_finished_by_completion ON jobs (completed_at, id) WHERE finished = 1;
DROP INDEX IF EXISTS jobs_idem;
CREATE UNIQUE INDEX IF NOT EXISTS jobs_idem_user ON jobs (tenant, ifnull(user_id, ''), idem_key) WHERE idem_key IS NOT NULL;
DROP INDEX IF EXISTS jobs_user_created;
CREATE INDEX IF NOT EXISTS jobs_of_user ON jobs (tenant, user_id, created_at DESC, id DESC) WHERE user_id IS NOT NULL;
CREATE INDEX IF NOT EXISTS jobs_user_unfinished ON jobs (tenant, user_id) WHERE finished = 0;`;

/**
 * Brings a table created by an older version up to date: adds completed_at and fills it in for the
 * finished rows, with the same normalisation as `completedAtColumn` (strftime gives NULL for a value
 * that is not a date). Runs inside the opening transaction, so two processes opening one old file at
 * once cannot both add the column.
 */
function migrate(db: DatabaseSync): void {
  const columns = db.prepare('PRAGMA table_info(jobs)').all() as { name: string }[];
  const has = (name: string) => columns.some((column) => column.name === name);
  if (!has('completed_at')) {
    db.exec(`ALTER TABLE jobs ADD COLUMN completed_at TEXT;
UPDATE jobs SET completed_at = strftime('%Y-%m-%dT%H:%M:%fZ', json_extract(data, '$.completedAt')) WHERE finished = 1;`);
  }
  if (!has('user_id')) db.exec(`ALTER TABLE jobs ADD COLUMN user_id TEXT; UPDATE jobs SET user_id = json_extract(data, '$.userId');`);
  if (!has('charge')) db.exec('ALTER TABLE jobs ADD COLUMN charge INTEGER NOT NULL DEFAULT 0;');
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

/** inTransaction with BEGIN/COMMIT/ROLLBACK prepared once, for the per-request writes (exec parses them every time). */
function preparedTransactions(db: DatabaseSync): <T>(body: () => T) => T {
  const begin = db.prepare('BEGIN IMMEDIATE');
  const commit = db.prepare('COMMIT');
  const rollback = db.prepare('ROLLBACK');
  return (body) => {
    begin.run();
    try {
      const result = body();
      commit.run();
      return result;
    } catch (error) {
      if (db.isTransaction) rollback.run();
      throw error;
    }
  };
}

function openDatabase(path: string): DatabaseSync {
  const db = new DatabaseSync(path);
  try {
    db.exec('PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA busy_timeout = 5000;');
    inTransaction(db, () => {
      db.exec(SCHEMA);
      migrate(db);
      db.exec(LATER_INDEXES);
      installUsageDays(db); // usage counters per day, kept by triggers on jobs (sqlite-usage.ts)
      db.exec(EVENT_LOG_SCHEMA); // the event log, appended by triggers on jobs (sqlite-job-event-log.ts)
    });
  } catch (error) {
    db.close();
    throw error;
  }
  return db;
}

export interface SqliteJobStoreOptions {
  /** File path, or ':memory:'. The folder is created when missing. */
  path: string;
}

export function createSqliteJobStore({ path }: SqliteJobStoreOptions): JobStore {
  if (path !== ':memory:') mkdirSync(dirname(path), { recursive: true });
  let db: DatabaseSync;
  try {
    db = openDatabase(path);
  } catch (error) {
    throw describeOpenError(path, error);
  }

  const spend = createSqliteSpend(db);
  const transaction = preparedTransactions(db);
  const usage = createSqliteUsage(db);
  const statements = {
    insert: db.prepare(
      `INSERT INTO jobs (id, tenant, user_id, idem_key, status, finished, created_at, version, data, completed_at, charge)
       VALUES (:id, :tenant, :userId, :idem, :status, :finished, :createdAt, :version, :data, :completedAt, :charge) ON CONFLICT DO NOTHING`,
    ),
    byIdem: db.prepare("SELECT data FROM jobs WHERE tenant = ? AND ifnull(user_id, '') = ? AND idem_key = ?"),
    byId: db.prepare('SELECT data FROM jobs WHERE id = ?'),
    chargeOf: db.prepare('SELECT charge FROM jobs WHERE id = ?'),
    /** The usual change (a status, a position, logs): nothing indexed or counted moves, so no index is touched and no transaction is needed. */
    updateInPlace: db.prepare(
      `UPDATE jobs SET status = :status, version = :version, data = :data
       WHERE id = :id AND version = :expected AND finished = :finished AND completed_at IS :completedAt AND charge = :charge`,
    ),
    update: db.prepare(
      `UPDATE jobs SET status = :status, finished = :finished, version = :version, data = :data, completed_at = :completedAt, charge = :charge
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
    countUser: db.prepare('SELECT count(*) AS n FROM (SELECT 1 FROM jobs WHERE finished = 0 AND tenant = ? AND user_id = ? LIMIT ?)'),
    ping: db.prepare('SELECT 1 AS ok'),
  };
  const listStatements = new Map<string, StatementSync>();

  function listStatement(withCursor: boolean, withStatus: boolean, withUser: boolean): StatementSync {
    const key = `${withCursor}:${withStatus}:${withUser}`;
    let statement = listStatements.get(key);
    if (!statement) {
      const where = ['tenant = :tenant'];
      if (withUser) where.push('user_id = :userId');
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

    async create(job: Job, budget?: DailyBudget): Promise<CreateOutcome> {
      const charge = chargeOf(job);
      return transaction(() => {
        const existing = job.idempotencyKey === null ? null : parse(statements.byIdem.get(job.tenant, job.userId ?? '', job.idempotencyKey));
        if (existing) return { job: existing, created: false };
        const day = charge === 0 ? '' : dayOf(job.createdAt); // a charge of 0 moves no counter
        const over = budget ? spend.exceeded(job.tenant, job.userId, day, charge, budget) : null;
        if (over) return { job, created: false, overBudget: over };
        const result = statements.insert.run({
          id: job.id,
          tenant: job.tenant,
          userId: job.userId,
          idem: job.idempotencyKey,
          status: job.status,
          finished: isTerminal(job.status) ? 1 : 0,
          createdAt: job.createdAt,
          version: job.version,
          data: JSON.stringify(job),
          completedAt: completedAtColumn(job),
          charge,
        });
        if (result.changes !== 1) throw new Error(`job ${job.id} already exists`);
        spend.add(job.tenant, job.userId, day, charge);
        return { job, created: true };
      });
    },

    async get(id: string) {
      return parse(statements.byId.get(id));
    },

    /**
     * One statement when the job stays as unfinished (or finished), as complete and as charged as it was;
     * otherwise (it finishes, its charge moves, or the compare-and-set fails) the full update, with the
     * spend counters moved in the same transaction.
     */
    async update(job: Job) {
      const params = {
        id: job.id,
        status: job.status,
        finished: isTerminal(job.status) ? 1 : 0,
        version: job.version,
        expected: job.version - 1,
        data: JSON.stringify(job),
        completedAt: completedAtColumn(job),
        charge: chargeOf(job),
      };
      if (statements.updateInPlace.run(params).changes === 1) return true;
      const { charge } = params;
      return transaction(() => {
        const before = statements.chargeOf.get(job.id) as { charge: number } | undefined;
        const result = statements.update.run(params);
        if (result.changes !== 1) return false;
        spend.add(job.tenant, job.userId, dayOf(job.createdAt), charge - Number(before?.charge ?? 0));
        return true;
      });
    },

    async list(query: ListQuery) {
      const params: Record<string, string | number> = { tenant: query.tenant, limit: query.limit };
      if (query.status) params.status = query.status;
      if (query.userId) params.userId = query.userId;
      if (query.after) {
        params.createdAt = query.after.createdAt;
        params.id = query.after.id;
      }
      const rows = listStatement(query.after !== null, query.status !== null, Boolean(query.userId)).all(params);
      return rows.map((row) => parse(row) as Job);
    },

    async listUnfinished() {
      return statements.unfinished.all().map((row) => parse(row) as Job);
    },

    async countUnfinished(tenant: string | null, upTo = -1, userId?: string | null) {
      const row = (tenant === null
        ? statements.countAll.get(upTo)
        : userId
          ? statements.countUser.get(tenant, userId, upTo)
          : statements.countTenant.get(tenant, upTo)) as { n: number };
      return Number(row.n);
    },

    async usage(query: UsageQuery) {
      return usage.usage(query);
    },

    async spentOn(day: string, tenant: string, userId?: string | null) {
      return spend.spentOn(day, tenant, userId);
    },

    /** Gives the job's charge back to its day's counters, in the same transaction as the delete. */
    async delete(id: string) {
      transaction(() => {
        const job = parse(statements.byId.get(id));
        if (!job) return;
        const before = statements.chargeOf.get(id) as { charge: number } | undefined;
        statements.remove.run(id);
        spend.add(job.tenant, job.userId, dayOf(job.createdAt), -Number(before?.charge ?? 0));
      });
    },

    async purgeFinished(completedBefore: string, limit: number) {
      const before = new Date(purgeCutoff(completedBefore, limit)).toISOString();
      if (limit === 0) return [];
      // Pick and delete in one transaction: the ids returned are exactly the rows deleted, oldest first.
      return transaction(() => {
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

/**
 * The embedded default store: one SQLite file through Node's built-in `node:sqlite`. A job row keeps
 * the few columns that are queried plus the whole job as JSON. Writes are synchronous and therefore
 * atomic within the process; WAL keeps readers off writers' backs.
 */
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { DatabaseSync, type StatementSync } from 'node:sqlite';
import { isTerminal, type Job } from '../domain/job.ts';
import type { CreateOutcome, JobStore, ListQuery } from './job-store.ts';

const SCHEMA = `
CREATE TABLE IF NOT EXISTS jobs (
  id          TEXT PRIMARY KEY,
  tenant      TEXT NOT NULL,
  idem_key    TEXT,
  status      TEXT NOT NULL,
  finished    INTEGER NOT NULL DEFAULT 0,
  created_at  TEXT NOT NULL,
  version     INTEGER NOT NULL,
  data        TEXT NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS jobs_idem ON jobs (tenant, idem_key) WHERE idem_key IS NOT NULL;
CREATE INDEX IF NOT EXISTS jobs_tenant_created ON jobs (tenant, created_at DESC, id DESC);
CREATE INDEX IF NOT EXISTS jobs_unfinished ON jobs (finished) WHERE finished = 0;
`;

export interface SqliteJobStoreOptions {
  /** File path, or ':memory:'. The folder is created when missing. */
  path: string;
}

export function createSqliteJobStore({ path }: SqliteJobStoreOptions): JobStore {
  if (path !== ':memory:') mkdirSync(dirname(path), { recursive: true });
  const db = new DatabaseSync(path);
  db.exec('PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA busy_timeout = 5000;');
  db.exec(SCHEMA);

  const statements = {
    insert: db.prepare(
      `INSERT INTO jobs (id, tenant, idem_key, status, finished, created_at, version, data)
       VALUES (:id, :tenant, :idem, :status, :finished, :createdAt, :version, :data) ON CONFLICT DO NOTHING`,
    ),
    byIdem: db.prepare('SELECT data FROM jobs WHERE tenant = ? AND idem_key = ?'),
    byId: db.prepare('SELECT data FROM jobs WHERE id = ?'),
    update: db.prepare(
      'UPDATE jobs SET status = :status, finished = :finished, version = :version, data = :data WHERE id = :id AND version = :expected',
    ),
    unfinished: db.prepare('SELECT data FROM jobs WHERE finished = 0 ORDER BY created_at'),
    remove: db.prepare('DELETE FROM jobs WHERE id = ?'),
    countAll: db.prepare('SELECT count(*) AS n FROM jobs WHERE finished = 0'),
    countTenant: db.prepare('SELECT count(*) AS n FROM jobs WHERE finished = 0 AND tenant = ?'),
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

    async countUnfinished(tenant: string | null) {
      const row = (tenant === null ? statements.countAll.get() : statements.countTenant.get(tenant)) as { n: number };
      return Number(row.n);
    },

    async delete(id: string) {
      statements.remove.run(id);
    },

    async ping() {
      statements.ping.get();
    },

    async close() {
      if (db.isOpen) db.close();
    },
  };
}

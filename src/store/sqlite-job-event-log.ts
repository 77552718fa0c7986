/**
 * The SQLite store's event log (job-event-log.ts): a table appended to by triggers on `jobs`, so an
 * entry is written by the very statement that creates, changes or deletes the job (same transaction, whatever
 * else the store's create/update do). AUTOINCREMENT never reuses a sequence, also after a trim or a
 * restart; the trim point is kept in `job_events_trim` so an emptied log still knows where it stands.
 */
import type { DatabaseSync } from 'node:sqlite';
import type { Job } from '../domain/job.ts';
import type { JobEventLog, StoredJobEvent } from './job-event-log.ts';

/** `at` is the job's updatedAt in epoch ms (what retention counts from). */
const AT = `CAST(round((julianday(json_extract(NEW.data, '$.updatedAt')) - 2440587.5) * 86400000) AS INTEGER)`;

export const EVENT_LOG_SCHEMA = `
CREATE TABLE IF NOT EXISTS job_events (
  seq  INTEGER PRIMARY KEY AUTOINCREMENT,
  at   INTEGER,
  data TEXT NOT NULL,
  deleted INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS job_events_at ON job_events (at);
CREATE TABLE IF NOT EXISTS job_events_trim (id INTEGER PRIMARY KEY CHECK (id = 1), through INTEGER NOT NULL);
INSERT OR IGNORE INTO job_events_trim (id, through) VALUES (1, 0);
CREATE TRIGGER IF NOT EXISTS job_events_on_insert AFTER INSERT ON jobs
BEGIN INSERT INTO job_events (at, data) VALUES (${AT}, NEW.data); END;
CREATE TRIGGER IF NOT EXISTS job_events_on_update AFTER UPDATE ON jobs WHEN NEW.version <> OLD.version
BEGIN INSERT INTO job_events (at, data) VALUES (${AT}, NEW.data); END;
CREATE TRIGGER IF NOT EXISTS job_events_on_delete AFTER DELETE ON jobs
BEGIN INSERT INTO job_events (at, data, deleted) VALUES (CAST(round((julianday('now') - 2440587.5) * 86400000) AS INTEGER), OLD.data, 1); END;
`;

const toSeq = (value: string): number | null => (/^(0|[1-9]\d{0,15})$/.test(value) ? Number(value) : null);

/** The log's reads and trim over an open database whose schema includes EVENT_LOG_SCHEMA. */
export function sqliteEventLog(db: DatabaseSync): JobEventLog {
  const statements = {
    after: db.prepare('SELECT seq, data, deleted FROM job_events WHERE seq > ? ORDER BY seq LIMIT ?'),
    bounds: db.prepare(
      `SELECT (SELECT through FROM job_events_trim WHERE id = 1) AS trimmed,
              coalesce((SELECT max(seq) FROM job_events), (SELECT seq FROM sqlite_sequence WHERE name = 'job_events'), 0) AS head`,
    ),
    trimPoint: db.prepare('SELECT max(seq) AS seq FROM job_events WHERE at < ?'),
    trim: db.prepare('DELETE FROM job_events WHERE seq <= ?'),
    setTrimmed: db.prepare('UPDATE job_events_trim SET through = max(through, ?) WHERE id = 1'),
  };
  const bounds = () => {
    const row = statements.bounds.get() as { trimmed: number; head: number };
    return { trimmed: Number(row.trimmed), head: Number(row.head) };
  };

  return {
    async eventsAfter(after, limit) {
      const seq = toSeq(after);
      if (seq === null) return null;
      const { trimmed, head } = bounds();
      if (seq < trimmed || seq > head) return null;
      return statements.after.all(seq, limit).map((row) => {
        const { seq: n, data, deleted } = row as { seq: number; data: string; deleted: number };
        return { seq: String(n), job: JSON.parse(data) as Job, deleted: deleted === 1 } satisfies StoredJobEvent;
      });
    },
    async lastEventSeq() {
      return String(bounds().head);
    },
    async trimEvents(before) {
      const cutoff = Date.parse(before);
      if (Number.isNaN(cutoff)) throw new RangeError(`trimEvents: before is not a date: ${JSON.stringify(before)}`);
      const point = (statements.trimPoint.get(cutoff) as { seq: number | null }).seq;
      if (point === null) return 0;
      db.exec('BEGIN IMMEDIATE');
      try {
        const removed = Number(statements.trim.run(point).changes);
        statements.setTrimmed.run(point);
        db.exec('COMMIT');
        return removed;
      } catch (error) {
        if (db.isTransaction) db.exec('ROLLBACK');
        throw error;
      }
    },
  };
}

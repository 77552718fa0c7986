/**
 * The event log port (part of `JobStore`): every stored change of a job (its creation, each update)
 * appends one entry, in the same transaction (SQLite) or the same script (Redis) as the change itself,
 * so the log and the jobs can never disagree. `jobEvents` replays it from a cursor and tails it live.
 *
 * A deletion (`delete`, `purgeFinished`) appends an entry too, marked `deleted`, so a feed can drop the job.
 *
 * Sequences are opaque strings, totally ordered by the store; a store never reuses one, also after a
 * trim or a restart. The log is trimmed from its oldest end only (a prefix), so every sequence at or
 * after the trim point still has all its successors.
 */
import type { Job } from '../domain/job.ts';

export interface StoredJobEvent {
  /** This entry's position in the log. */
  seq: string;
  /** The job as stored by the change (a snapshot, not the job's current state); for a deletion, its last state. */
  job: Job;
  /** The change removed the job (a submission refused at once, or a finished job purged by retention). */
  deleted: boolean;
}

export interface JobEventLog {
  /**
   * Entries strictly after `after`, oldest first, at most `limit`. Resolves with null when `after`
   * is not a position this log can continue from: trimmed away, not yet issued, or not a sequence.
   */
  eventsAfter(after: string, limit: number): Promise<StoredJobEvent[] | null>;
  /** The newest entry's sequence (after a full trim: the last one trimmed; a new log: its start). */
  lastEventSeq(): Promise<string>;
  /**
   * Removes the oldest entries whose job's updatedAt is before `before` (ISO), as a prefix: it stops at
   * the newest such entry and takes everything older with it. Resolves with how many were removed.
   */
  trimEvents(before: string): Promise<number>;
}

/** The time an entry counts from for retention: its job's updatedAt in epoch ms (0 when not a date). */
export function eventTime(job: Job): number {
  const ms = Date.parse(job.updatedAt);
  return Number.isNaN(ms) ? 0 : ms;
}

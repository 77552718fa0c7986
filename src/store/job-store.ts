/**
 * The storage port: what the jobs layer needs from a store, and nothing more. SQLite (default) and
 * Redis (replicas) implement it; `test/helpers/job-store-contract.ts` is the one conformance suite.
 *
 * Not in it: leases and poll scheduling (the poller's job), pub/sub (jobs/events.ts), the retention
 * policy (when and how much to purge); `purgeFinished` is only the mechanism.
 */
import { isTerminal, type Job, type JobStatus } from '../domain/job.ts';
import type { JobEventLog } from './job-event-log.ts';

export interface CreateOutcome {
  /** The job now stored: the one given, or the tenant's existing job for the same idempotency key. */
  job: Job;
  created: boolean;
}

export interface JobCursor {
  createdAt: string;
  id: string;
}

export interface ListQuery {
  tenant: string;
  /** How many to return (the store may be asked for one more to learn whether a next page exists). */
  limit: number;
  /** Start strictly after this job in newest-first order. */
  after: JobCursor | null;
  status: JobStatus | null;
}

/** The event log (`eventsAfter`, `lastEventSeq`, `trimEvents`) is specified in job-event-log.ts. */
export interface JobStore extends JobEventLog {
  /** Inserts a new job. With an idempotency key, atomically (across replicas) returns the existing one instead. */
  create(job: Job): Promise<CreateOutcome>;
  get(id: string): Promise<Job | null>;
  /**
   * Stores `job` only if the stored version is `job.version - 1` (compare-and-set). Returns false when
   * the job changed meanwhile or is gone: re-read and decide again.
   */
  update(job: Job): Promise<boolean>;
  /** A tenant's jobs, newest first (createdAt desc, id desc). */
  list(query: ListQuery): Promise<Job[]>;
  /** Every job not in a terminal state, for the poller to resume after a restart. */
  listUnfinished(): Promise<Job[]>;
  /**
   * How many jobs are not in a terminal state: one tenant's, or everyone's when `tenant` is null
   * (quotas). With `upTo`, counting may stop there (the answer is then min(count, upTo)), so a quota
   * check costs the size of the quota, not of the backlog.
   */
  countUnfinished(tenant: string | null, upTo?: number): Promise<number>;
  /** Removes a job (a submission the upstream refused for certain), with its idempotency key. */
  delete(id: string): Promise<void>;
  /**
   * Deletes up to `limit` finished jobs (terminal status) whose completedAt is before `completedBefore`
   * (ISO string), oldest first, with their listings and idempotency keys. Resolves with the ids deleted.
   * Unfinished jobs are never deleted, whatever their age.
   *
   * "Oldest first" is by completedAt, then id (so both stores pick the same jobs); the ids come back in
   * that order, and fewer than `limit` ids means no eligible job is left. Times are compared as instants,
   * to the millisecond. A terminal job without a valid completedAt is never purged. Atomic: a job is
   * deleted whole or not at all, and concurrent purges never delete (or report) one job twice. Rejects
   * with a RangeError when `completedBefore` is not a date or `limit` is not a non-negative integer;
   * `limit` 0 deletes nothing. Purge a large backlog in batches of a modest `limit` (hundreds).
   */
  purgeFinished(completedBefore: string, limit: number): Promise<string[]>;
  /** Resolves when the store answers; rejects with the reason otherwise (readiness). */
  ping(): Promise<void>;
  close(): Promise<void>;
}

/**
 * When a job finished, in epoch ms: null while it is unfinished, or when a terminal job has no valid
 * completedAt (such a job is never purged). The one rule both stores index finished jobs by.
 */
export function completionTime(job: Job): number | null {
  if (!isTerminal(job.status) || job.completedAt === null) return null;
  const ms = Date.parse(job.completedAt);
  return Number.isNaN(ms) ? null : ms;
}

/** Checks `purgeFinished`'s arguments; returns the cutoff in epoch ms. Throws a RangeError when invalid. */
export function purgeCutoff(completedBefore: string, limit: number): number {
  const ms = Date.parse(completedBefore);
  if (Number.isNaN(ms)) throw new RangeError(`purgeFinished: completedBefore is not a date: ${JSON.stringify(completedBefore)}`);
  if (!Number.isSafeInteger(limit) || limit < 0) throw new RangeError(`purgeFinished: limit must be a non-negative integer, got ${limit}`);
  return ms;
}

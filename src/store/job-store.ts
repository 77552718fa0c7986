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
  /** Set when the job was not stored because it would exceed that daily budget (nothing was written). */
  overBudget?: 'tenant' | 'user';
}

/**
 * Daily budgets checked by `create` in the same atomic step as the insert, in nano-dollars (0 = none).
 * The day's spend of a tenant (or user) is the sum of `chargeOf(job)` over its jobs created that UTC day
 * (`dayOf`), kept as a counter that create, update and delete move in the same step as the job.
 */
export interface DailyBudget {
  tenantNanos: number;
  userNanos: number;
}

export interface UsageQuery {
  tenant: string;
  /** Only this user's jobs; null/undefined: the whole tenant. */
  userId?: string | null;
  /** createdAt range, ISO strings: from inclusive, to exclusive. */
  from: string;
  to: string;
}

export interface UsageTotals {
  /** Sum of `chargeOf` over the jobs, nano-dollars. */
  spentNanos: number;
  jobs: number;
  byStatus: Partial<Record<JobStatus, number>>;
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
  /** Only this user's jobs (from an index, not a filtered page); null/undefined: the whole tenant. */
  userId?: string | null;
}

/** The event log (`eventsAfter`, `lastEventSeq`, `trimEvents`) is specified in job-event-log.ts. */
export interface JobStore extends JobEventLog {
  /**
   * Inserts a new job. With an idempotency key, atomically (across replicas) returns the existing one
   * instead: keys are unique per (tenant, userId, key). With `budget`, the job's charge is reserved
   * against its day's tenant and user spend in the same atomic step, or nothing is written (`overBudget`).
   */
  create(job: Job, budget?: DailyBudget): Promise<CreateOutcome>;
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
  countUnfinished(tenant: string | null, upTo?: number, userId?: string | null): Promise<number>;
  /** A tenant's (or one user's) spend and job counts by status over a createdAt range. */
  usage(query: UsageQuery): Promise<UsageTotals>;
  /** The day's spend counter (`YYYY-MM-DD`, nano-dollars) of a tenant, or of one of its users. */
  spentOn(day: string, tenant: string, userId?: string | null): Promise<number>;
  /** Removes a job (a submission the upstream refused for certain), with its idempotency key; its charge is given back. */
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

/**
 * The storage port: what the jobs layer needs from a store, and nothing more. SQLite (default) and
 * Redis (replicas) implement it; `test/helpers/job-store-contract.ts` is the one conformance suite.
 *
 * Not in it: leases and poll scheduling (the poller's job), pub/sub (jobs/events.ts), retention.
 */
import type { Job, JobStatus } from '../domain/job.ts';

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

export interface JobStore {
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
  /** How many jobs are not in a terminal state: one tenant's, or everyone's when `tenant` is null (quotas). */
  countUnfinished(tenant: string | null): Promise<number>;
  /** Removes a job (a submission the upstream refused for certain), with its idempotency key. */
  delete(id: string): Promise<void>;
  /** Resolves when the store answers; rejects with the reason otherwise (readiness). */
  ping(): Promise<void>;
  close(): Promise<void>;
}

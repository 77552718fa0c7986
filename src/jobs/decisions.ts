/**
 * The poller's decisions, pure: given a job, what we know of its tracking and one upstream answer
 * (from a poll, a status stream event or a webhook, alike), the new tracking and the effects to carry
 * out. No I/O, no clock, no randomness of its own: everything comes in through the arguments, so
 * tests drive it with plain values.
 */
import { canTransition, isTerminal, mergeLogs, visibleState, type Job, type JobError } from '../domain/job.ts';
import { jobFailure } from '../domain/job-failures.ts';
import { backoffDelayMs } from '../upstream/retry.ts';
import type { UpstreamFailureKind, UpstreamResult, UpstreamStatus } from '../upstream/upstream-queue.ts';

export interface PollPolicy {
  /** Base interval between two polls of one job. */
  intervalMs: number;
  /** Longest wait after repeated upstream failures. */
  maxBackoffMs: number;
  /** Consecutive "unknown request" answers after which a job ends FAILED. */
  notFoundLimit: number;
  /** A job without a request id this long after creation ends FAILED (SUBMIT_OUTCOME_UNKNOWN). */
  submitGraceMs: number;
  /** Deadlines (0 = none). */
  maxQueueMs: number;
  maxTotalMs: number;
  /** Poll interval while a status stream follows the job (the safety net). */
  safetyNetMs: number;
}

/** What the poller remembers of a tracked job between answers. */
export interface Tracking {
  failures: number;
  notFound: number;
  /** True while a status stream follows the job: polls drop to the safety net. */
  streaming: boolean;
}

export const NEW_TRACKING: Tracking = Object.freeze({ failures: 0, notFound: 0, streaming: false });

export type UpstreamAnswer =
  | { kind: 'status'; status: UpstreamStatus; result: UpstreamResult | null }
  | { kind: 'failure'; failure: { kind: UpstreamFailureKind; retryAfterSeconds: number | null } };

export type Effect =
  /** Fetch the result now and decide again with it (fal keeps results briefly). */
  | { type: 'fetch-result' }
  /** Compare-and-set the stored job through `change` (null = nothing to do), then publish. */
  | { type: 'write'; change: (job: Job) => Job | null }
  /** Best effort: stop the run upstream so it costs nothing more. */
  | { type: 'cancel-upstream' }
  | { type: 'warn'; message: string; details: Record<string, unknown> }
  | { type: 'poll-in'; delayMs: number }
  /** The job needs no more polling here (terminal, or gone). */
  | { type: 'stop' };

export interface Decision {
  tracking: Tracking;
  effects: Effect[];
}

export interface DecisionContext {
  policy: PollPolicy;
  now: Date;
  random: () => number;
}

/** One upstream answer about a job that has a request id. */
export function decide(job: Job, tracking: Tracking, answer: UpstreamAnswer, ctx: DecisionContext): Decision {
  if (isTerminal(job.status)) return { tracking, effects: [{ type: 'stop' }] };
  if (answer.kind === 'failure') return decideFailure(job, tracking, answer.failure, ctx);
  const { status, result } = answer;
  const fresh = { ...tracking, failures: 0, notFound: 0 };
  const overdue = deadlineMissed(job, status, ctx);
  if (overdue) {
    return {
      tracking: fresh,
      effects: [{ type: 'cancel-upstream' }, { type: 'warn', message: 'job missed its deadline', details: { code: overdue.code } }, { type: 'write', change: failWith(overdue, ctx.now) }, { type: 'stop' }],
    };
  }
  if (status.status === 'COMPLETED' && status.error === null && result === null) return { tracking: fresh, effects: [{ type: 'fetch-result' }] };
  const at = ctx.now;
  const next = advance(job, status, result, at) ?? job;
  const after: Effect = isTerminal(next.status) ? { type: 'stop' } : { type: 'poll-in', delayMs: pollDelay(next, fresh, ctx.policy) };
  return { tracking: fresh, effects: [{ type: 'write', change: (current) => advance(current, status, result, at) }, after] };
}

function decideFailure(job: Job, tracking: Tracking, failure: { kind: UpstreamFailureKind; retryAfterSeconds: number | null }, ctx: DecisionContext): Decision {
  const notFound = failure.kind === 'not_found' ? tracking.notFound + 1 : tracking.notFound;
  if (failure.kind === 'not_found' && notFound >= ctx.policy.notFoundLimit) {
    return {
      tracking: { ...tracking, notFound },
      effects: [
        { type: 'warn', message: 'upstream no longer knows the request; failing the job', details: { requestId: job.requestId } },
        { type: 'write', change: failWith(jobFailure.upstreamLost(), ctx.now) },
        { type: 'stop' },
      ],
    };
  }
  const failures = tracking.failures + 1;
  const { intervalMs, maxBackoffMs } = ctx.policy;
  const delayMs = backoffDelayMs(failures, { maxRetries: 0, baseDelayMs: intervalMs, maxDelayMs: maxBackoffMs }, failure.retryAfterSeconds, ctx.random);
  return {
    tracking: { ...tracking, failures, notFound },
    effects: [
      { type: 'warn', message: 'upstream poll failed; will retry', details: { requestId: job.requestId, kind: failure.kind, retryInMs: delayMs } },
      { type: 'poll-in', delayMs },
    ],
  };
}

/** Still no request id: a submission in flight (wait), or one a dead process left unconfirmed (end it). */
export function decideUnconfirmed(job: Job, tracking: Tracking, ctx: DecisionContext): Decision {
  const { submitGraceMs, intervalMs } = ctx.policy;
  const age = ctx.now.getTime() - Date.parse(job.createdAt);
  if (age < submitGraceMs) return { tracking, effects: [{ type: 'poll-in', delayMs: Math.max(intervalMs, submitGraceMs - age) }] };
  const at = ctx.now.toISOString();
  return {
    tracking,
    effects: [
      { type: 'warn', message: 'submission was never confirmed (the process died during it); not re-submitting', details: {} },
      { type: 'write', change: (current) => (current.requestId !== null || isTerminal(current.status) ? null : { ...current, status: 'FAILED', completedAt: at, error: jobFailure.submitOutcomeUnknown() }) },
      { type: 'stop' },
    ],
  };
}

function failWith(error: JobError, now: Date): (job: Job) => Job | null {
  const at = now.toISOString();
  return (current) => (isTerminal(current.status) ? null : { ...current, status: 'FAILED', queuePosition: null, completedAt: at, error });
}

function deadlineMissed(job: Job, status: UpstreamStatus, { policy, now }: DecisionContext): JobError | null {
  if (status.status === 'COMPLETED') return null;
  const age = now.getTime() - Date.parse(job.createdAt);
  if (policy.maxTotalMs > 0 && age > policy.maxTotalMs) return jobFailure.deadlineExceeded(policy.maxTotalMs);
  if (policy.maxQueueMs > 0 && status.status === 'IN_QUEUE' && age > policy.maxQueueMs) return jobFailure.queueDeadlineExceeded(policy.maxQueueMs);
  return null;
}

/**
 * Adaptive interval: 0.75 x the base while running or next in line (where changes happen and users
 * watch), the base a few places from the head, rarer deep in the queue (up to 5 x). Steady polls
 * keep an exact period; the spread that keeps polls from bunching comes from each job's random
 * first phase (see `firstPollDelay`). While a stream follows the job: the slow safety net.
 */
export function pollDelay(job: Job, tracking: Tracking, policy: PollPolicy): number {
  if (tracking.streaming) return policy.safetyNetMs;
  const position = job.status === 'IN_QUEUE' ? (job.queuePosition ?? 0) : 0;
  const factor = position === 0 ? 0.75 : position <= 2 ? 1 : Math.min(1 + (position - 2) * 0.25, 5);
  return Math.max(1, Math.round(policy.intervalMs * factor));
}

/** A random phase within the interval: jobs submitted or resumed together do not poll together. */
export function firstPollDelay(job: Job, tracking: Tracking, policy: PollPolicy, random: () => number): number {
  return Math.round(pollDelay(job, tracking, policy) * (0.25 + random() * 0.75));
}

/**
 * The job after an upstream answer, or null when nothing a client can see changed (or the answer
 * would be an illegal move, e.g. an out-of-order IN_QUEUE after IN_PROGRESS).
 */
export function advance(job: Job, status: UpstreamStatus, result: UpstreamResult | null, at: Date): Job | null {
  if (isTerminal(job.status)) return null;
  const logs = mergeLogs(job.logs, status.logs);
  let next: Job;
  if (status.status === 'IN_QUEUE') {
    next = { ...job, status: 'IN_QUEUE', queuePosition: status.queuePosition, logs };
  } else if (status.status === 'IN_PROGRESS') {
    next = { ...job, status: 'IN_PROGRESS', queuePosition: null, logs };
  } else {
    const finished = { ...job, queuePosition: null, logs, completedAt: at.toISOString() };
    if (status.error) {
      const cancelled = job.cancelRequested || status.error.code === 'cancelled';
      next = cancelled ? { ...finished, status: 'CANCELLED' } : { ...finished, status: 'FAILED', error: status.error };
    } else if (result?.ok) {
      next = { ...finished, status: 'COMPLETED', video: result.video };
    } else if (result) {
      next = { ...finished, status: 'FAILED', error: result.error };
    } else {
      return null;
    }
  }
  if (!canTransition(job.status, next.status)) return null;
  return visibleState(next) === visibleState(job) ? null : next;
}

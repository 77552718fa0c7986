/**
 * The server-side poller: one poll loop per unfinished job, however many clients watch it.
 *
 * Each tracked job has one timer. A poll reads the job, asks the upstream for its status (with
 * logs), fetches and stores the result as soon as the run completed (fal keeps results briefly),
 * writes the new state if anything visible changed, and schedules the next poll: sooner near the
 * head of the queue and while running, later deep in the queue; each job starts at a random phase so
 * polls do not bunch.
 * Upstream errors only delay the next poll (capped backoff, Retry-After honoured); they never end a
 * job, except an upstream that keeps saying it does not know the request.
 */
import type { Logger } from 'pino';
import { canTransition, isTerminal, mergeLogs, visibleState, type Job } from '../domain/job.ts';
import { createLocalLeases, type JobLeases } from '../store/job-leases.ts';
import type { JobStore } from '../store/job-store.ts';
import { backoffDelayMs } from '../upstream/retry.ts';
import { UpstreamError, type UpstreamQueue, type UpstreamResult, type UpstreamStatus } from '../upstream/upstream-queue.ts';
import type { JobEvents } from './events.ts';
import { createJobWriter } from './job-writer.ts';
import type { PollScheduler } from './service.ts';

export interface PollerDeps {
  store: JobStore;
  upstream: UpstreamQueue;
  events: JobEvents;
  logger: Logger;
  /** Base interval between two polls of one job. */
  intervalMs: number;
  /** Most polls in flight at once. */
  concurrency?: number;
  /** Longest wait after repeated upstream failures. */
  maxBackoffMs?: number;
  /** Consecutive "unknown request" answers after which a job ends FAILED. */
  notFoundLimit?: number;
  now?: () => Date;
  random?: () => number;
  /** Called after every poll (metrics). */
  onPoll?: (outcome: 'changed' | 'unchanged' | 'error') => void;
  /** How late a poll started against its schedule, in seconds (metrics). */
  onPollLag?: (seconds: number) => void;
  /** Which jobs this process may poll (default: all of them, one process). */
  leases?: JobLeases;
  /**
   * A job still without an upstream request id this long after creation was being submitted when a
   * process died: it ends FAILED (SUBMIT_OUTCOME_UNKNOWN), never re-submitted. Longer than a submit can take.
   */
  submitGraceMs?: number;
  /** Longest wait IN_QUEUE, and longest life before a terminal state (0 = none); then FAILED and cancelled upstream. */
  maxQueueMs?: number;
  maxTotalMs?: number;
  /** Looks upstream for a job whose submit outcome is unknown (adopt-orphans.ts); next delay, or null once it ended. */
  adoptOrphan?: (job: Job) => Promise<number | null>;
}

export interface Poller extends PollScheduler {
  /** Resumes every unfinished job in the store. */
  start(): Promise<void>;
  /** Stops scheduling and waits for the polls in flight. */
  stop(): Promise<void>;
  trackedCount(): number;
}

interface Entry {
  timer: NodeJS.Timeout | null;
  /** When the scheduled poll is due (ms since epoch). */
  dueAt?: number;
  running: Promise<void> | null;
  failures: number;
  notFound: number;
}

export function createPoller(deps: PollerDeps): Poller {
  const { store, upstream, events, logger, intervalMs, concurrency = 32, maxBackoffMs = 30_000, notFoundLimit = 5 } = deps;
  const { submitGraceMs = 60_000, maxQueueMs = 0, maxTotalMs = 0 } = deps;
  const now = deps.now ?? (() => new Date());
  const random = deps.random ?? Math.random;
  const { save } = createJobWriter({ store, events, now });
  const leases = deps.leases ?? createLocalLeases();
  const entries = new Map<string, Entry>();
  let stopped = false;
  let sweepTimer: NodeJS.Timeout | null = null;
  let sweeping: Promise<void> | null = null;
  let active = 0;
  const slots: Array<() => void> = [];

  async function acquire() {
    if (active < concurrency) {
      active++;
      return;
    }
    await new Promise<void>((resolve) => slots.push(resolve));
  }
  function releaseSlot() {
    const nextWaiter = slots.shift();
    if (nextWaiter) nextWaiter();
    else active--;
  }

  function schedule(id: string, delayMs: number) {
    const entry = entries.get(id);
    if (!entry || stopped) return;
    if (entry.timer) clearTimeout(entry.timer);
    entry.dueAt = Date.now() + delayMs;
    entry.timer = setTimeout(() => void run(id), delayMs);
  }

  function untrack(id: string, { release = true } = {}) {
    const entry = entries.get(id);
    if (!entry) return;
    if (entry.timer) clearTimeout(entry.timer);
    entries.delete(id);
    if (release) leases.release([id]).catch((error: unknown) => logger.warn({ err: error, jobId: id }, 'could not release a lease'));
  }

  /** Starts polling jobs whose lease this process now holds. */
  function add(job: Job) {
    if (stopped || entries.has(job.id) || isTerminal(job.status)) return;
    entries.set(job.id, { timer: null, running: null, failures: 0, notFound: 0 });
    schedule(job.id, firstDelay(job));
  }

  async function claimAndAdd(jobs: Job[]) {
    const candidates = jobs.filter((job) => !entries.has(job.id) && !isTerminal(job.status));
    if (candidates.length === 0) return;
    const held = new Set(await leases.claim(candidates.map((job) => job.id)));
    for (const job of candidates) if (held.has(job.id)) add(job);
  }

  /**
   * Replicas only: renew this process's leases (dropping the jobs it lost), then take over unfinished
   * jobs nobody holds (a replica died, or shut down and handed its leases back).
   */
  async function sweep() {
    const mine = [...entries.keys()];
    const kept = new Set(await leases.renew(mine));
    for (const id of mine) {
      if (!kept.has(id)) {
        logger.warn({ jobId: id }, 'lost the lease of a job; another replica polls it now');
        untrack(id, { release: false });
      }
    }
    await claimAndAdd(await store.listUnfinished());
  }

  function scheduleSweep() {
    if (stopped || !leases.shared) return;
    sweepTimer = setTimeout(() => {
      sweeping = sweep()
        .catch((error: unknown) => logger.warn({ err: error }, 'lease sweep failed; retrying'))
        .finally(() => {
          sweeping = null;
          scheduleSweep();
        });
    }, Math.round(Math.max(50, leases.ttlMs / 3) * (0.9 + random() * 0.2)));
  }

  function run(id: string): Promise<void> {
    const entry = entries.get(id);
    if (!entry || stopped) return Promise.resolve();
    if (entry.running) return entry.running;
    if (entry.timer) clearTimeout(entry.timer);
    entry.timer = null;
    entry.running = (async () => {
      await acquire();
      if (entry.dueAt !== undefined) deps.onPollLag?.(Math.max(0, Date.now() - entry.dueAt) / 1000);
      entry.dueAt = undefined;
      let nextDelay: number | null;
      try {
        nextDelay = await pollOnce(id, entry);
      } catch (error) {
        logger.error({ err: error, jobId: id }, 'poll failed unexpectedly');
        nextDelay = failureDelay(entry, null);
      } finally {
        releaseSlot();
        entry.running = null;
      }
      if (nextDelay === null) untrack(id);
      else schedule(id, nextDelay);
    })();
    return entry.running;
  }

  /**
   * Adaptive interval: 0.75 x the base while running or next in line (where changes happen and users
   * watch), the base a few places from the head, rarer deep in the queue (up to 5 x). Steady polls
   * keep an exact period (so a change waits at most one interval); the spread that keeps polls from
   * bunching comes from each job's random first phase (see `firstDelay`).
   */
  function intervalFor(job: Job): number {
    const position = job.status === 'IN_QUEUE' ? (job.queuePosition ?? 0) : 0;
    const factor = position === 0 ? 0.75 : position <= 2 ? 1 : Math.min(1 + (position - 2) * 0.25, 5);
    return Math.max(1, Math.round(intervalMs * factor));
  }

  /** A random phase within the interval: jobs submitted or resumed together do not poll together. */
  function firstDelay(job: Job): number {
    return Math.round(intervalFor(job) * (0.25 + random() * 0.75));
  }

  function failureDelay(entry: Entry, error: UpstreamError | null): number {
    entry.failures++;
    return backoffDelayMs(entry.failures, { maxRetries: 0, baseDelayMs: intervalMs, maxDelayMs: maxBackoffMs }, error?.retryAfterSeconds ?? null, random);
  }

  async function pollOnce(id: string, entry: Entry): Promise<number | null> {
    const job = await store.get(id);
    if (!job || isTerminal(job.status)) return null;
    if (job.requestId === null) return checkUnconfirmedSubmit(job);
    let status: UpstreamStatus;
    let result: UpstreamResult | null = null;
    try {
      status = await upstream.status(job.requestId);
      if (status.status === 'COMPLETED' && status.error === null) result = await upstream.result(job.requestId);
    } catch (error) {
      if (!(error instanceof UpstreamError)) throw error;
      deps.onPoll?.('error');
      return handleUpstreamFailure(job, entry, error);
    }
    entry.failures = 0;
    entry.notFound = 0;
    const overdue = deadlineMissed(job, status);
    if (overdue) return endOverdue(job, overdue);
    const saved = await save(id, (current) => advance(current, status, result, now()), job);
    deps.onPoll?.(saved && saved.version !== job.version ? 'changed' : 'unchanged');
    if (!saved || isTerminal(saved.status)) return null;
    return intervalFor(saved);
  }

  /** Still no request id: a submission in flight (wait), or one a dead process left unconfirmed (end it). */
  async function checkUnconfirmedSubmit(job: Job): Promise<number | null> {
    const age = now().getTime() - Date.parse(job.createdAt);
    if (deps.adoptOrphan && (job.submitOutcomeUnknownSince || age >= submitGraceMs)) return deps.adoptOrphan(job);
    // Re-read soon: the submitter stores the request id any moment, and whoever holds the lease
    // (maybe another replica's sweep, which claimed the job while it was being submitted) polls it then.
    if (age < submitGraceMs) return Math.max(1, Math.min(intervalMs, submitGraceMs - age));
    logger.warn({ jobId: job.id }, 'submission was never confirmed (the process died during it); not re-submitting');
    await save(job.id, (current) =>
      current.requestId !== null || isTerminal(current.status)
        ? null
        : {
            ...current,
            status: 'FAILED',
            completedAt: now().toISOString(),
            error: { code: 'SUBMIT_OUTCOME_UNKNOWN', message: 'The gateway stopped while submitting this job; the upstream may or may not have accepted it, so it was not repeated.' },
          },
    );
    return null;
  }

  function deadlineMissed(job: Job, status: UpstreamStatus): { code: string; message: string } | null {
    if (status.status === 'COMPLETED') return null;
    const age = now().getTime() - Date.parse(job.createdAt);
    if (maxTotalMs > 0 && age > maxTotalMs) return { code: 'DEADLINE_EXCEEDED', message: `The job did not finish within ${Math.round(maxTotalMs / 1000)} s.` };
    if (maxQueueMs > 0 && status.status === 'IN_QUEUE' && age > maxQueueMs) {
      return { code: 'QUEUE_DEADLINE_EXCEEDED', message: `The job waited in the upstream queue for more than ${Math.round(maxQueueMs / 1000)} s.` };
    }
    return null;
  }

  /** Past its deadline: cancelled upstream (best effort, so it costs nothing more) and FAILED with a clear code. */
  async function endOverdue(job: Job, error: { code: string; message: string }): Promise<null> {
    try {
      if (job.requestId) await upstream.cancel(job.requestId);
    } catch (cancelError) {
      logger.warn({ jobId: job.id, err: (cancelError as Error).message }, 'could not cancel an overdue job upstream');
    }
    logger.warn({ jobId: job.id, code: error.code }, 'job missed its deadline');
    await save(job.id, (current) => (isTerminal(current.status) ? null : { ...current, status: 'FAILED', queuePosition: null, completedAt: now().toISOString(), error }));
    return null;
  }

  async function handleUpstreamFailure(job: Job, entry: Entry, error: UpstreamError): Promise<number | null> {
    if (error.kind === 'not_found' && ++entry.notFound >= notFoundLimit) {
      logger.warn({ jobId: job.id, requestId: job.requestId }, 'upstream no longer knows the request; failing the job');
      await save(job.id, (current) =>
        isTerminal(current.status)
          ? null
          : { ...current, status: 'FAILED', queuePosition: null, completedAt: now().toISOString(), error: { code: 'UPSTREAM_LOST', message: 'The upstream no longer knows this request.' } },
      );
      return null;
    }
    const delay = failureDelay(entry, error);
    logger.warn({ jobId: job.id, requestId: job.requestId, kind: error.kind, err: error.message, retryInMs: delay }, 'upstream poll failed; will retry');
    return delay;
  }

  return {
    async start() {
      stopped = false;
      await claimAndAdd(await store.listUnfinished());
      if (entries.size > 0) logger.info({ jobs: entries.size }, 'resumed polling unfinished jobs');
      scheduleSweep();
    },
    track(job: Job) {
      claimAndAdd([job]).catch((error: unknown) => logger.warn({ err: error, jobId: job.id }, 'could not claim a job; a sweep will retry'));
    },
    async pollNow(id: string) {
      if (entries.has(id)) return run(id);
      // Another replica polls it: one poll here, outside any schedule.
      await pollOnce(id, { timer: null, running: null, failures: 0, notFound: 0 }).catch((error: unknown) =>
        logger.warn({ err: error, jobId: id }, 'one-off poll failed'),
      );
    },
    async stop() {
      stopped = true;
      if (sweepTimer) clearTimeout(sweepTimer);
      await sweeping;
      for (const entry of entries.values()) if (entry.timer) clearTimeout(entry.timer);
      await Promise.allSettled([...entries.values()].map((e) => e.running));
      // Hand the leases back so another replica takes the jobs over at once.
      await leases.release([...entries.keys()]).catch((error: unknown) => logger.warn({ err: error }, 'could not release leases'));
      entries.clear();
    },
    trackedCount: () => entries.size,
  };
}

/**
 * The pure part: the job after an upstream answer, or null when nothing a client can see changed
 * (or the answer would be an illegal move, e.g. an out-of-order IN_QUEUE after IN_PROGRESS).
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

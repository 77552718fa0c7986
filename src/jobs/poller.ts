/**
 * The server-side poller: follows every unfinished job this process holds the lease of, however many
 * clients watch it. Three upstream sources feed one set of pure decisions (decisions.ts): status
 * polls (scheduler.ts, injected clock), fal's status stream (stream-follower.ts, in `stream` mode)
 * and completion webhooks (`webhookCompleted`). This file only carries out the decisions' effects:
 * fetch the result, write and publish (job-writer), cancel upstream, schedule the next poll, stop.
 * With a stream open, polling drops to a slow safety net; without one, jobs are polled as before.
 */
import type { Logger } from 'pino';
import { isTerminal, type Job } from '../domain/job.ts';
import { createLocalLeases, type JobLeases } from '../store/job-leases.ts';
import type { JobStore } from '../store/job-store.ts';
import type { StreamEnd, UpstreamQueue, UpstreamStreams } from '../upstream/upstream-queue.ts';
import { decide, decideUnconfirmed, firstPollDelay, NEW_TRACKING, type PollPolicy, type Tracking, type UpstreamAnswer } from './decisions.ts';
import { createEffects } from './effects.ts';
import type { JobEvents } from './events.ts';
import { createJobWriter } from './job-writer.ts';
import { createLeaseSweeper } from './lease-sweeper.ts';
import { createScheduler, systemClock, type Clock } from './scheduler.ts';
import type { PollScheduler } from './service.ts';
import { createStreamFollower, type StreamSettings } from './stream-follower.ts';

export { advance } from './decisions.ts';

export interface PollerDeps {
  store: JobStore;
  upstream: UpstreamQueue;
  events: JobEvents;
  logger: Logger;
  /** Base interval between two polls of one job. */
  intervalMs: number;
  /** Most polls in flight at once. */
  concurrency?: number;
  maxBackoffMs?: number;
  notFoundLimit?: number;
  clock?: Clock;
  now?: () => Date;
  random?: () => number;
  onPoll?: (outcome: 'changed' | 'unchanged' | 'error') => void;
  onPollLag?: (seconds: number) => void;
  /** Which jobs this process may poll (default: all of them, one process). */
  leases?: JobLeases;
  /** A job still without a request id this long after creation ends FAILED (SUBMIT_OUTCOME_UNKNOWN), never re-submitted. */
  submitGraceMs?: number;
  /** Longest wait IN_QUEUE, and longest life before a terminal state (0 = none); then FAILED and cancelled upstream. */
  maxQueueMs?: number;
  maxTotalMs?: number;
  /** Set: follow jobs over fal's status stream (FAL_UPDATES=stream). */
  streams?: UpstreamStreams | null;
  stream?: Partial<StreamSettings> & { safetyNetMs?: number };
  /** Stream lifecycle, for metrics: 'open', or how it ended. */
  onStream?: (event: 'open' | 'event' | StreamEnd['reason']) => void;
  /** Looks upstream for a job whose submit outcome is unknown (adopt-orphans.ts); next delay, or null once it ended. */
  adoptOrphan?: (job: Job) => Promise<number | null>;
}

export interface Poller extends PollScheduler {
  /** Resumes every unfinished job in the store. */
  start(): Promise<void>;
  /** Stops scheduling, closes streams and waits for the polls in flight. */
  stop(): Promise<void>;
  trackedCount(): number;
  openStreams(): number;
  /**
   * A verified completion webhook: the result is fetched and stored (the payload is only a hint).
   * `ok` false (fal's ERROR): one poll tells why. Works on any replica; idempotent.
   */
  webhookCompleted(jobId: string, requestId: string, ok: boolean): Promise<'updated' | 'finished' | 'unknown'>;
}

export function createPoller(deps: PollerDeps): Poller {
  const { store, upstream, events, logger, intervalMs, concurrency = 32 } = deps;
  const clock = deps.clock ?? systemClock();
  const now = deps.now ?? (() => new Date(clock.now()));
  const random = deps.random ?? Math.random;
  const policy: PollPolicy = {
    intervalMs,
    maxBackoffMs: deps.maxBackoffMs ?? 30_000,
    notFoundLimit: deps.notFoundLimit ?? 5,
    submitGraceMs: deps.submitGraceMs ?? 60_000,
    maxQueueMs: deps.maxQueueMs ?? 0,
    maxTotalMs: deps.maxTotalMs ?? 0,
    safetyNetMs: deps.stream?.safetyNetMs ?? 30_000,
  };
  const { save } = createJobWriter({ store, events, now });
  const leases = deps.leases ?? createLocalLeases();
  const tracking = new Map<string, Tracking>();
  const chains = new Map<string, Promise<void>>();
  let stopped = false;
  const ctx = () => ({ policy, now: now(), random });
  const trackingOf = (id: string) => tracking.get(id) ?? NEW_TRACKING;

  const scheduler = createScheduler({
    clock,
    concurrency,
    run: (id) => pollOnce(id),
    onError: (id, error) => {
      logger.error({ err: error, jobId: id }, 'poll failed unexpectedly');
      if (tracking.has(id)) scheduler.schedule(id, policy.intervalMs);
    },
    ...(deps.onPollLag ? { onLag: deps.onPollLag } : {}),
  });

  const follower = deps.streams
    ? createStreamFollower({
        streams: deps.streams,
        clock,
        random,
        logger,
        maxStreams: deps.stream?.maxStreams ?? 256,
        stallMs: deps.stream?.stallMs ?? 20_000,
        reconnectBaseMs: deps.stream?.reconnectBaseMs ?? 500,
        reconnectMaxMs: deps.stream?.reconnectMaxMs ?? 30_000,
        onStatus: (id, status) => {
          deps.onStream?.('event');
          push(id, { kind: 'status', status, result: null });
        },
        onOpen: (id, reconnect) => {
          logger.debug({ jobId: id, reconnect }, 'status stream open');
          deps.onStream?.('open');
          setStreaming(id, true);
          // Poll once on every reconnect, so nothing that happened while it was down is missed.
          if (reconnect) void scheduler.runNow(id);
        },
        onDown: (id, end) => {
          deps.onStream?.(end.reason);
          // After COMPLETED only the result is left to fetch (events still queued must not speed polls up).
          if (end.reason === 'completed') return;
          setStreaming(id, false);
          if (tracking.has(id)) scheduler.schedule(id, Math.round(policy.intervalMs * 0.75));
        },
      })
    : null;

  const sweeper = createLeaseSweeper({
    leases,
    store,
    clock,
    random,
    logger,
    held: () => [...tracking.keys()],
    onLost: (id) => untrack(id, { release: false }),
    // A job still being submitted belongs to its submitter (it tracks it once fal answers); only
    // past the grace period is it an orphan another replica adopts.
    adopt: (jobs) => claimAndAdd(jobs.filter((job) => job.requestId !== null || now().getTime() - Date.parse(job.createdAt) >= policy.submitGraceMs), { reread: true }),
  });

  const { execute, pollStatus } = createEffects({
    upstream,
    save,
    logger,
    decideAgain: (job, answer) => decide(job, trackingOf(job.id), answer, ctx()),
    remember: (id, decision) => {
      const current = tracking.get(id);
      if (current) tracking.set(id, { ...decision.tracking, streaming: current.streaming });
    },
    schedule: (id, delayMs) => {
      if (tracking.has(id)) scheduler.schedule(id, delayMs);
    },
    stop: (id) => untrack(id),
  });

  function setStreaming(id: string, streaming: boolean) {
    const current = tracking.get(id);
    if (current) tracking.set(id, { ...current, streaming });
  }

  function untrack(id: string, { release = true } = {}) {
    if (!tracking.delete(id)) return;
    scheduler.remove(id);
    follower?.unfollow(id);
    if (release) leases.release([id]).catch((error: unknown) => logger.warn({ err: error, jobId: id }, 'could not release a lease'));
  }

  /** Starts following a job whose lease this process now holds. */
  function add(job: Job) {
    if (stopped || tracking.has(job.id) || isTerminal(job.status)) return;
    tracking.set(job.id, { ...NEW_TRACKING });
    scheduler.schedule(job.id, firstPollDelay(job, { ...NEW_TRACKING, streaming: follow(job) }, policy, random));
  }

  /** Holds the job's status stream (stream mode, once it has a request id); false when none can be held now. */
  function follow(job: Job): boolean {
    return job.requestId !== null && follower !== null && tracking.has(job.id) && follower.follow(job.id, job.requestId);
  }

  /** `reread`: the listing may be older than the lease just won (its holder may have finished the job and let go). */
  async function claimAndAdd(jobs: Job[], { reread = false } = {}) {
    const candidates = jobs.filter((job) => !tracking.has(job.id) && !isTerminal(job.status));
    if (candidates.length === 0) return;
    const held = new Set(await leases.claim(candidates.map((job) => job.id)));
    for (const listed of candidates) {
      if (!held.has(listed.id)) continue;
      const job = reread ? await store.get(listed.id) : listed;
      if (job && !isTerminal(job.status)) add(job);
      else await leases.release([listed.id]);
    }
  }

  async function pollOnce(id: string): Promise<void> {
    const job = await store.get(id);
    if (!job || isTerminal(job.status)) return untrack(id);
    if (job.requestId === null && deps.adoptOrphan && (job.submitOutcomeUnknownSince || now().getTime() - Date.parse(job.createdAt) >= policy.submitGraceMs)) {
      const next = await deps.adoptOrphan(job);
      return next === null ? untrack(id) : scheduler.schedule(id, next);
    }
    if (job.requestId === null) return void (await execute(job, decideUnconfirmed(job, trackingOf(id), ctx()), null));
    follow(job);
    const answer = await pollStatus(job.requestId);
    const changed = await execute(job, decide(job, trackingOf(id), answer, ctx()), answer);
    deps.onPoll?.(answer.kind === 'failure' ? 'error' : changed ? 'changed' : 'unchanged');
  }

  /** A pushed answer (stream event, webhook): applied in arrival order, one at a time per job. */
  function push(id: string, answer: UpstreamAnswer): Promise<void> {
    const run = (chains.get(id) ?? Promise.resolve())
      .then(async () => {
        const job = await store.get(id);
        if (!job || isTerminal(job.status)) return untrack(id);
        await execute(job, decide(job, trackingOf(id), answer, ctx()), answer);
      })
      .catch((error: unknown) => logger.error({ err: error, jobId: id }, 'applying an upstream update failed'));
    chains.set(id, run);
    void run.finally(() => chains.get(id) === run && chains.delete(id));
    return run;
  }

  async function pollNow(id: string): Promise<void> {
    if (tracking.has(id)) return scheduler.runNow(id);
    // Another replica polls it: one poll here, outside any schedule.
    await pollOnce(id).catch((error: unknown) => logger.warn({ err: error, jobId: id }, 'one-off poll failed'));
  }

  return {
    async start() {
      stopped = false;
      await claimAndAdd(await store.listUnfinished());
      if (tracking.size > 0) logger.info({ jobs: tracking.size }, 'resumed polling unfinished jobs');
      sweeper.start();
    },
    track(job: Job) {
      // One process (no shared leases): every lease is granted, so the job is followed at once.
      if (!leases.shared) return add(job);
      claimAndAdd([job]).catch((error: unknown) => logger.warn({ err: error, jobId: job.id }, 'could not claim a job; a sweep will retry'));
    },
    pollNow,
    async webhookCompleted(jobId, requestId, ok) {
      const job = await store.get(jobId);
      if (!job || job.requestId !== requestId) return 'unknown';
      if (isTerminal(job.status)) return 'finished';
      if (!ok) await pollNow(jobId);
      else await push(jobId, { kind: 'status', status: { status: 'COMPLETED', queuePosition: null, logs: [], error: null }, result: null });
      return 'updated';
    },
    async stop() {
      stopped = true;
      await sweeper.stop();
      await follower?.stop();
      const held = [...tracking.keys()];
      await scheduler.stop();
      await Promise.allSettled([...chains.values()]);
      // Hand the leases back so another replica takes the jobs over at once.
      await leases.release(held).catch((error: unknown) => logger.warn({ err: error }, 'could not release leases'));
      tracking.clear();
    },
    trackedCount: () => tracking.size,
    openStreams: () => follower?.openCount() ?? 0,
  };
}

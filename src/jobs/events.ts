/**
 * Job updates as events: one topic per job (`job:<id>`), each event the job's whole new state.
 * The event target is in-memory by default and Redis-backed for replicas (pubsub/event-target.ts);
 * events are JSON so both behave alike.
 *
 * A feed never buffers more than one pending state: a slow consumer gets the latest job when it
 * asks again (a job update is a snapshot, so latest wins), never an overflow.
 */
import { isTerminal, type Job } from '../domain/job.ts';
import type { JobEventTarget } from '../pubsub/job-event-target.ts';


export interface JobEvents {
  publish(job: Job): void;
  /**
   * Follows one job: listens first, then yields `initial()`'s state, then every newer version,
   * and ends after a terminal state. `return()` releases the listener at once, even while a
   * `next()` is waiting.
   */
  follow(jobId: string, initial: () => Promise<Job | null>, onRelease?: () => void): JobFeed;
  /** Listeners currently registered (for leak tests and metrics). */
  listenerCount(): number;
  /**
   * Re-reads every followed job once (after a pub/sub outage) and hands each feed what it missed.
   * Resolves with the number of jobs re-read.
   */
  resync(read: (jobId: string) => Promise<Job | null>): Promise<number>;
  /** Rings the tenant's bell after every stored change of one of its jobs (the event log holds the change). */
  announce(tenant: string): void;
  /** Listens to a tenant's bell; `ready` resolves once rings are really received (see `listening`). */
  listenTenant(tenant: string, onRing: () => void): { ready: Promise<void>; stop(): void };
}

export interface JobFeed extends AsyncIterableIterator<Job> {
  /** Resolves once the initial state is read: the job, or null when it does not exist. */
  ready: Promise<Job | null>;
  /** Stops following and releases the listener, even while a next() is waiting. */
  return(): Promise<IteratorResult<Job>>;
}

const DONE: IteratorReturnResult<undefined> = { value: undefined, done: true };

export const topicOf = (jobId: string) => `job:${jobId}`;
/** The tenant's bell: no payload, only "the event log has something new" (jobs/event-feed.ts). */
export const tenantTopicOf = (tenant: string) => `job-events:${tenant}`;

export interface JobEventHooks {
  /** Each state handed to a subscriber. */
  onDeliver?: () => void;
  /** Each state published (once per visible change). */
  onPublish?: (job: Job) => void;
}

export function createJobEvents(target: JobEventTarget, hooks: JobEventHooks = {}): JobEvents {
  let listeners = 0;
  /** What each open feed accepts, by job id (for resync). */
  const offers = new Map<string, Set<(job: Job) => void>>();

  function follow(jobId: string, initial: () => Promise<Job | null>, onRelease?: () => void): JobFeed {
    const topic = topicOf(jobId);
    let lastVersion = 0;
    let pending: Job | null = null;
    let finished = false;
    let waiter: ((result: IteratorResult<Job>) => void) | null = null;

    const listener = (event: Event) => offer((event as CustomEvent<Job>).detail);
    const offer = (job: Job) => {
      if (finished || !job || job.version <= lastVersion || (pending && job.version <= pending.version)) return;
      if (waiter) {
        const resolve = waiter;
        waiter = null;
        resolve({ value: job, done: false });
      } else {
        pending = job;
      }
    };

    function release() {
      if (finished) return;
      finished = true;
      pending = null;
      target.removeEventListener(topic, listener);
      listeners--;
      const forJob = offers.get(jobId);
      forJob?.delete(offer);
      if (forJob?.size === 0) offers.delete(jobId);
      onRelease?.();
      waiter?.(DONE);
      waiter = null;
    }

    target.addEventListener(topic, listener);
    listeners++;
    offers.set(jobId, (offers.get(jobId) ?? new Set()).add(offer));
    const ready = (target.listening?.(topic) ?? Promise.resolve()).then(initial).then(
      (job) => {
        if (!job) {
          release();
          return null;
        }
        if (!pending || pending.version <= job.version) pending = job;
        return job;
      },
      (error: unknown) => {
        release();
        throw error;
      },
    );
    ready.catch(() => undefined);

    let lastWasTerminal = false;
    const feed: JobFeed = {
      ready,
      async next(): Promise<IteratorResult<Job>> {
        await ready.catch(() => undefined);
        if (lastWasTerminal) release();
        if (finished) return DONE;
        let job = pending;
        pending = null;
        if (!job) {
          const result = await new Promise<IteratorResult<Job>>((resolve) => (waiter = resolve));
          if (result.done) return DONE;
          job = result.value;
        }
        lastVersion = job.version;
        lastWasTerminal = isTerminal(job.status);
        hooks.onDeliver?.();
        return { value: job, done: false };
      },
      async return(): Promise<IteratorResult<Job>> {
        release();
        return DONE;
      },
      async throw(error?: unknown): Promise<IteratorResult<Job>> {
        release();
        throw error;
      },
      [Symbol.asyncIterator]() {
        return feed;
      },
    };
    return feed;
  }

  return {
    publish(job: Job) {
      hooks.onPublish?.(job);
      target.dispatchEvent(new CustomEvent(topicOf(job.id), { detail: job }));
    },
    follow,
    announce(tenant) {
      target.dispatchEvent(new CustomEvent(tenantTopicOf(tenant), { detail: {} }));
    },
    listenTenant(tenant, onRing) {
      const topic = tenantTopicOf(tenant);
      const listener = () => onRing();
      target.addEventListener(topic, listener);
      listeners++;
      let stopped = false;
      const ready = target.listening?.(topic) ?? Promise.resolve();
      const stop = () => {
        if (stopped) return;
        stopped = true;
        target.removeEventListener(topic, listener);
        listeners--;
      };
      return { ready, stop };
    },
    listenerCount: () => listeners,
    async resync(read) {
      const ids = [...offers.keys()];
      for (const id of ids) {
        const job = await read(id);
        if (job) for (const offer of offers.get(id) ?? []) offer(job);
      }
      return ids.length;
    },
  };
}

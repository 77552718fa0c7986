/**
 * The stream source: holds fal's status stream for each job this process polls (its lease), at most
 * `maxStreams` at once; jobs beyond that wait for a free slot and are polled as usual meanwhile.
 * A stream that ends without COMPLETED, stalls or breaks is reconnected after a capped, jittered
 * backoff; a stream fal keeps refusing is given up (the job is then polled as before). What the
 * events mean is not decided here: they go to the poller, through the same decisions as a poll.
 */
import type { Logger } from 'pino';
import { backoffDelayMs } from '../upstream/retry.ts';
import type { StreamEnd, UpstreamStatus, UpstreamStreams } from '../upstream/upstream-queue.ts';
import type { Clock } from './scheduler.ts';

export interface StreamSettings {
  /** Most streams open at once in this process (UPSTREAM_MAX_STREAMS). */
  maxStreams: number;
  /** Silence longer than this is a stall (fal sends a keep-alive every 15 s). */
  stallMs: number;
  /** Reconnect backoff: first delay and cap. */
  reconnectBaseMs: number;
  reconnectMaxMs: number;
}

export interface StreamFollowerDeps extends StreamSettings {
  streams: UpstreamStreams;
  clock: Clock;
  random: () => number;
  logger: Logger;
  onStatus(jobId: string, status: UpstreamStatus): void;
  /** The stream is open; `reconnect` when it is not the job's first. */
  onOpen(jobId: string, reconnect: boolean): void;
  /** The stream ended (`retrying`: it will be opened again after a backoff). */
  onDown(jobId: string, end: StreamEnd, retrying: boolean): void;
}

export interface StreamFollower {
  /** Follows a job; false when every slot is taken (it gets the next free one). */
  follow(jobId: string, requestId: string): boolean;
  unfollow(jobId: string): void;
  openCount(): number;
  stop(): Promise<void>;
}

/** Consecutive failures to open after which a job's stream is given up. */
const MAX_REFUSALS = 3;

interface Entry {
  requestId: string;
  controller: AbortController;
  done: Promise<void> | null;
}

export function createStreamFollower(deps: StreamFollowerDeps): StreamFollower {
  const { streams, clock, logger, maxStreams } = deps;
  const active = new Map<string, Entry>();
  const waiting = new Map<string, string>();
  /** Jobs whose stream delivered COMPLETED: never streamed again (only the result is left to fetch). */
  const finished = new Set<string>();
  let open = 0;
  let stopped = false;

  function pause(ms: number, signal: AbortSignal): Promise<void> {
    return new Promise((resolve) => {
      const timer = clock.setTimer(resolve, ms);
      signal.addEventListener('abort', () => (clock.clearTimer(timer), resolve()), { once: true });
    });
  }

  async function hold(jobId: string, entry: Entry) {
    const { signal } = entry.controller;
    let attempt = 0;
    let refusals = 0;
    let opened = false;
    while (!signal.aborted) {
      let isOpen = false;
      const end = await streams.follow(entry.requestId, {
        signal,
        stallMs: deps.stallMs,
        onOpen: () => {
          isOpen = true;
          open++;
          deps.onOpen(jobId, opened);
          opened = true;
        },
        onStatus: (status) => deps.onStatus(jobId, status),
      });
      if (isOpen) open--;
      if (signal.aborted || end.reason === 'aborted') return;
      refusals = isOpen ? 0 : refusals + 1;
      const permanent = end.reason === 'refused' && end.httpStatus !== null && end.httpStatus < 500 && end.httpStatus !== 429;
      const retrying = end.reason !== 'completed' && !permanent && refusals < MAX_REFUSALS;
      if (end.reason === 'completed') finished.add(jobId);
      deps.onDown(jobId, end, retrying);
      if (!retrying) {
        if (end.reason !== 'completed') logger.warn({ jobId, reason: end.reason, ...('httpStatus' in end ? { httpStatus: end.httpStatus } : {}) }, 'status stream unavailable; polling this job instead');
        return;
      }
      attempt = isOpen ? 1 : attempt + 1;
      const delayMs = backoffDelayMs(attempt, { maxRetries: 0, baseDelayMs: deps.reconnectBaseMs, maxDelayMs: deps.reconnectMaxMs }, null, deps.random);
      logger.info({ jobId, reason: end.reason, delayMs }, 'status stream disconnected; reconnecting');
      await pause(delayMs, signal);
    }
  }

  function start(jobId: string, requestId: string) {
    const entry: Entry = { requestId, controller: new AbortController(), done: null };
    active.set(jobId, entry);
    entry.done = hold(jobId, entry)
      .catch((error: unknown) => logger.error({ err: error, jobId }, 'status stream failed unexpectedly'))
      .finally(() => {
        if (active.get(jobId) === entry) active.delete(jobId);
        promote();
      });
  }

  function promote() {
    while (!stopped && active.size < maxStreams && waiting.size > 0) {
      const [jobId, requestId] = waiting.entries().next().value as [string, string];
      waiting.delete(jobId);
      start(jobId, requestId);
    }
  }

  return {
    follow(jobId, requestId) {
      if (stopped || finished.has(jobId) || active.has(jobId)) return active.has(jobId);
      if (active.size >= maxStreams) {
        waiting.set(jobId, requestId);
        return false;
      }
      start(jobId, requestId);
      return true;
    },
    unfollow(jobId) {
      waiting.delete(jobId);
      finished.delete(jobId);
      active.get(jobId)?.controller.abort();
    },
    openCount: () => open,
    async stop() {
      stopped = true;
      waiting.clear();
      const entries = [...active.values()];
      for (const entry of entries) entry.controller.abort();
      await Promise.allSettled(entries.map((entry) => entry.done));
    },
  };
}

/**
 * Retention: finished jobs older than `retentionMs` (by completion time) are purged in small batches
 * on a timer. A purged job is gone like any unknown id: `job` answers null and `jobUpdates`
 * NOT_FOUND (its subscribers had completed when it finished). Every replica may run it: purges are
 * atomic in the store. The same pass trims the jobEvents log past `eventsRetentionMs`.
 */
import type { Logger } from 'pino';
import type { JobStore } from '../store/job-store.ts';

export interface RetentionDeps {
  store: JobStore;
  logger: Logger;
  /** Finished jobs older than this are purged; 0 keeps them forever. */
  retentionMs: number;
  /** Event log entries (jobEvents) older than this are trimmed on the same pass; 0 keeps them. */
  eventsRetentionMs?: number;
  /** Between two purge passes. */
  intervalMs?: number;
  batchSize?: number;
  now?: () => Date;
  onPurged?: (count: number) => void;
}

export interface Retention {
  start(): void;
  /** One pass now; resolves with the number of jobs purged. */
  purge(): Promise<number>;
  stop(): Promise<void>;
}

export function createRetention({ store, logger, retentionMs, intervalMs = 60_000, batchSize = 500, now = () => new Date(), onPurged, eventsRetentionMs = 0 }: RetentionDeps): Retention {
  let timer: NodeJS.Timeout | null = null;
  let running: Promise<number> | null = null;
  const shortest = Math.min(...[retentionMs, eventsRetentionMs].filter((ms) => ms > 0));

  async function trimEvents(): Promise<void> {
    if (eventsRetentionMs <= 0) return;
    const before = new Date(now().getTime() - eventsRetentionMs).toISOString();
    const trimmed = await store.trimEvents(before);
    if (trimmed > 0) logger.info({ trimmed, before }, 'trimmed job events past retention');
  }

  async function purge(): Promise<number> {
    await trimEvents();
    if (retentionMs <= 0) return 0;
    const cutoff = new Date(now().getTime() - retentionMs).toISOString();
    let total = 0;
    for (;;) {
      const purged = await store.purgeFinished(cutoff, batchSize);
      total += purged.length;
      if (purged.length < batchSize) break;
    }
    if (total > 0) {
      logger.info({ purged: total, completedBefore: cutoff }, 'purged finished jobs past retention');
      onPurged?.(total);
    }
    return total;
  }

  function loop() {
    timer = setTimeout(() => {
      running = purge().catch((error: unknown) => {
        logger.warn({ err: error }, 'retention purge failed; will retry');
        return 0;
      });
      void running.finally(() => {
        running = null;
        if (timer) loop();
      });
    }, Math.min(intervalMs, Math.max(1000, shortest / 2)));
  }

  return {
    start() {
      if (Number.isFinite(shortest) && !timer) loop();
    },
    purge,
    async stop() {
      if (timer) clearTimeout(timer);
      timer = null;
      await running;
    },
  };
}

/**
 * Replicas only: every third of the lease TTL, renew this process's leases (dropping the jobs it
 * lost) and take over unfinished jobs nobody holds (a replica died, or shut down and handed its
 * leases back). A job's stream follows its lease: whoever holds the lease polls and streams it.
 */
import type { Logger } from 'pino';
import type { Job } from '../domain/job.ts';
import type { JobLeases } from '../store/job-leases.ts';
import type { JobStore } from '../store/job-store.ts';
import type { Clock } from './scheduler.ts';

export interface LeaseSweeperDeps {
  leases: JobLeases;
  store: JobStore;
  clock: Clock;
  random: () => number;
  logger: Logger;
  /** The jobs this process holds now. */
  held(): string[];
  /** A lease was lost: stop polling (and streaming) that job, without releasing. */
  onLost(jobId: string): void;
  /** Claims what it can of these jobs and starts following them. */
  adopt(jobs: Job[]): Promise<void>;
}

export function createLeaseSweeper(deps: LeaseSweeperDeps): { start(): void; stop(): Promise<void> } {
  const { leases, store, clock, random, logger } = deps;
  let timer: unknown = null;
  let sweeping: Promise<void> | null = null;
  let stopped = false;

  async function sweep() {
    const mine = deps.held();
    const kept = new Set(await leases.renew(mine));
    for (const id of mine) {
      if (kept.has(id)) continue;
      logger.warn({ jobId: id }, 'lost the lease of a job; another replica polls it now');
      deps.onLost(id);
    }
    await deps.adopt(await store.listUnfinished());
  }

  function next() {
    if (stopped || !leases.shared) return;
    timer = clock.setTimer(() => {
      sweeping = sweep()
        .catch((error: unknown) => logger.warn({ err: error }, 'lease sweep failed; retrying'))
        .finally(() => {
          sweeping = null;
          next();
        });
    }, Math.round(Math.max(50, leases.ttlMs / 3) * (0.9 + random() * 0.2)));
  }

  return {
    start() {
      stopped = false;
      next();
    },
    async stop() {
      stopped = true;
      if (timer !== null) clock.clearTimer(timer);
      await sweeping;
    },
  };
}

/**
 * The one way jobs change after creation: read the latest version, apply a change, compare-and-set,
 * publish the new state. Used by the service (submit, cancel) and the poller alike, so every stored
 * change a client can see is published exactly once, with the next version.
 */
import { visibleState, type Job } from '../domain/job.ts';
import type { JobStore } from '../store/job-store.ts';
import type { JobEvents } from './events.ts';

export interface JobWriter {
  /**
   * Applies `change` to the stored job (null from `change` = nothing to do) until the write wins.
   * Resolves with the job as stored afterwards, or null when the job does not exist. `known`, a copy
   * just read, saves the first read (a poll that changes nothing then costs no store call at all).
   */
  save(id: string, change: (job: Job) => Job | null, known?: Job): Promise<Job | null>;
}

export function createJobWriter({ store, events, now }: { store: JobStore; events: JobEvents; now: () => Date }): JobWriter {
  return {
    async save(id, change, known) {
      for (let attempt = 0; attempt < 50; attempt++) {
        const current = attempt === 0 && known ? known : await store.get(id);
        if (!current) return null;
        const changed = change(current);
        if (!changed) return current;
        const next: Job = { ...changed, version: current.version + 1, updatedAt: now().toISOString() };
        if (await store.update(next)) {
          events.announce(next.tenant); // the event log has the change (jobEvents)
          if (visibleState(next) !== visibleState(current)) events.publish(next);
          return next;
        }
      }
      throw new Error(`job ${id}: gave up after repeated concurrent updates`);
    },
  };
}

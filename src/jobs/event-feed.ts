/**
 * `jobEvents`: one feed over every job a caller may see, read from the store's event log
 * (store/job-event-log.ts). The feed listens to the tenant's bell first, then fixes its starting
 * position (the log's head, or the client's cursor), then reads the log from there: each ring (a change
 * stored on any replica) makes it read what follows its position. Everything it hands out comes from
 * the log, in log order, so there is no gap and no duplicate, across reconnects, restarts and replicas.
 * A slow safety-net re-read covers a lost ring (Redis pub/sub is at-most-once).
 */
import { canSee, type Caller } from '../domain/caller.ts';
import { CursorExpiredError } from '../domain/errors.ts';
import type { Job, JobStatus } from '../domain/job.ts';
import type { StoredJobEvent } from '../store/job-event-log.ts';
import type { JobStore } from '../store/job-store.ts';
import type { JobEvents } from './events.ts';

export interface JobEventItem {
  /** Opaque: hand it back as `after` to continue right after this event. */
  cursor: string;
  job: Job;
  /** The job is gone (a submission refused at once, or purged by retention); `job` is its last state. */
  deleted: boolean;
}

export interface EventFeedOptions {
  after: string | null;
  /** Only events whose job has one of these statuses; null = all. */
  statuses: readonly JobStatus[] | null;
}

export interface EventFeedDeps {
  store: JobStore;
  events: JobEvents;
  /** How far back a cursor may reach (0 = as far as the log goes). */
  retentionMs: number;
  now: () => Date;
  pageSize?: number;
  /** Re-read the log this often even without a ring. */
  safetyNetMs?: number;
}

const DONE: IteratorReturnResult<undefined> = { value: undefined, done: true };

/** A cursor is the log sequence and the event's time (for the retention check), as base64url JSON. */
export function encodeEventCursor(event: StoredJobEvent): string {
  return Buffer.from(JSON.stringify([event.seq, Date.parse(event.job.updatedAt) || 0])).toString('base64url');
}

export function decodeEventCursor(cursor: string): { seq: string; at: number } | null {
  try {
    const value = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) as unknown;
    if (Array.isArray(value) && value.length === 2 && typeof value[0] === 'string' && Number.isSafeInteger(value[1])) {
      return { seq: value[0], at: value[1] as number };
    }
  } catch {
    // not a cursor
  }
  return null;
}

export function createEventFeeds({ store, events, retentionMs, now, pageSize = 200, safetyNetMs = 10_000 }: EventFeedDeps) {
  /** The position to read from, after checking `after`; throws CursorExpiredError. */
  async function startAt(after: string | null): Promise<{ position: string; first: StoredJobEvent[] }> {
    if (after === null) return { position: await store.lastEventSeq(), first: [] };
    const cursor = decodeEventCursor(after);
    if (!cursor || (retentionMs > 0 && now().getTime() - cursor.at > retentionMs)) throw new CursorExpiredError();
    const first = await store.eventsAfter(cursor.seq, pageSize);
    if (!first) throw new CursorExpiredError();
    return { position: cursor.seq, first };
  }

  return {
    /** Opens a feed; rejects with CursorExpiredError for a cursor it cannot continue. `onRelease` runs once it ends. */
    async open(caller: Caller, { after, statuses }: EventFeedOptions, onRelease?: () => void): Promise<AsyncIterableIterator<JobEventItem>> {
      let rung = true;
      let wake: (() => void) | null = null;
      let finished = false;
      const ring = () => {
        rung = true;
        wake?.();
      };
      const bell = events.listenTenant(caller.tenant, ring);
      const release = () => {
        if (finished) return;
        finished = true;
        bell.stop();
        wake?.();
        onRelease?.();
      };
      let buffer: StoredJobEvent[];
      let position: string;
      try {
        await bell.ready;
        ({ position, first: buffer } = await startAt(after));
        if (buffer.length === pageSize) rung = true;
      } catch (error) {
        release();
        throw error;
      }
      const wanted = (job: Job) => canSee(caller, job) && (statuses === null || statuses.includes(job.status));

      const waitForRing = () =>
        new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, safetyNetMs).unref();
          wake = () => {
            clearTimeout(timer);
            wake = null;
            resolve();
          };
        });

      const feed: AsyncIterableIterator<JobEventItem> = {
        async next(): Promise<IteratorResult<JobEventItem>> {
          for (;;) {
            if (finished) return DONE;
            const event = buffer.shift();
            if (event) {
              position = event.seq;
              if (wanted(event.job)) return { value: { cursor: encodeEventCursor(event), job: event.job, deleted: event.deleted }, done: false };
              continue;
            }
            if (!rung) await waitForRing();
            if (finished) return DONE;
            rung = false;
            const page = await store.eventsAfter(position, pageSize);
            if (!page) {
              release();
              throw new CursorExpiredError('The event log was trimmed past this subscription (it fell too far behind): re-read jobs, then subscribe again.');
            }
            buffer = page;
            if (page.length === pageSize) rung = true; // more to read
          }
        },
        async return(): Promise<IteratorResult<JobEventItem>> {
          release();
          return DONE;
        },
        async throw(error?: unknown): Promise<IteratorResult<JobEventItem>> {
          release();
          throw error;
        },
        [Symbol.asyncIterator]() {
          return feed;
        },
      };
      return feed;
    },
  };
}

/**
 * Subscription cohorts for the WebSocket transport: subscribers with the same tenant, document,
 * operation name and variables share ONE execution of the subscription (through Yoga's pipeline, so
 * masking and plugins apply once) and ONE serialization of each result. Per subscriber, an update is
 * then a tiny envelope plus a socket write.
 *
 * Semantics kept: a member's first event is the cohort's latest state (the job's current state; a
 * cohort whose first result is not in yet hands it over when it comes); every member then gets each
 * result in order, or, if it reads slowly, the latest one (one pending frame per member, never a
 * growing buffer); after the terminal result the cohort ends and its members complete. The last
 * member to leave stops the shared execution. Tenancy was checked when the cohort's execution
 * started, and the tenant is part of the key.
 */
import type { ExecutionResult } from 'graphql';

/** A serialized result, shared by every member of a cohort. */
export interface Frame {
  readonly [FRAME]: string;
  /** Whole messages already encoded for this frame, by what precedes the payload (the message id). */
  [ENCODED]?: Map<string, Buffer>;
}
const ENCODED: unique symbol = Symbol('encoded messages');
/** Distinct message envelopes (ids) cached per frame; clients mostly reuse a few ids. */
const MAX_ENCODED = 64;
export const FRAME: unique symbol = Symbol('cohort frame');

type Start = () => Promise<AsyncIterable<ExecutionResult> | ExecutionResult>;

interface Member {
  offer(frame: Frame): void;
  end(error?: unknown): void;
}

interface Cohort {
  meta: unknown;
  members: Set<Member>;
  latest: Frame | null;
  ready: Promise<ExecutionResult | null>;
  iterator: AsyncIterator<ExecutionResult> | null;
}

export interface Cohorts {
  /** Joins (or starts) the cohort for `key`; resolves with the member's stream, or the start's error result. */
  join(key: string, start: Start, meta?: unknown): Promise<AsyncIterableIterator<Frame> | ExecutionResult>;
  /** What the live cohort for `key` was started with (`meta`), once its execution is running. */
  meta(key: string): unknown;
  /** Live cohorts and members (metrics, tests). */
  stats(): { cohorts: number; members: number };
}

const isAsyncIterable = (value: unknown): value is AsyncIterable<ExecutionResult> =>
  typeof value === 'object' && value !== null && Symbol.asyncIterator in value;

export function createCohorts({ batchSize = 1000 }: { batchSize?: number } = {}): Cohorts {
  const cohorts = new Map<string, Cohort>();

  function open(key: string, start: Start, meta: unknown): Cohort {
    const cohort: Cohort = { meta, members: new Set(), latest: null, ready: Promise.resolve(null), iterator: null };
    cohorts.set(key, cohort);
    cohort.ready = start().then(
      (result) => {
        if (!isAsyncIterable(result)) {
          cohorts.delete(key);
          return result; // e.g. NOT_FOUND: every waiting joiner gets this answer
        }
        cohort.iterator = result[Symbol.asyncIterator]();
        void pump(key, cohort);
        return null;
      },
      (error: unknown) => {
        cohorts.delete(key);
        throw error;
      },
    );
    return cohort;
  }

  async function pump(key: string, cohort: Cohort) {
    const iterator = cohort.iterator as AsyncIterator<ExecutionResult>;
    let failure: unknown;
    try {
      for (let step = await iterator.next(); !step.done; step = await iterator.next()) {
        const frame: Frame = { [FRAME]: JSON.stringify(step.value) };
        cohort.latest = frame;
        await fanOut(cohort, frame);
      }
    } catch (error) {
      failure = error;
    }
    if (cohorts.get(key) === cohort) cohorts.delete(key);
    for (const member of cohort.members) member.end(failure);
    cohort.members.clear();
  }

  /**
   * Hands a frame to every member, yielding to the event loop between batches so that a cohort of
   * many thousands never blocks other work for long. (Members joining meanwhile start from this frame.)
   */
  async function fanOut(cohort: Cohort, frame: Frame) {
    let sent = 0;
    for (const member of [...cohort.members]) {
      member.offer(frame);
      if (++sent % batchSize === 0) await new Promise((resolve) => setImmediate(resolve));
    }
  }

  function leave(key: string, cohort: Cohort, member: Member) {
    cohort.members.delete(member);
    if (cohort.members.size > 0) return;
    if (cohorts.get(key) === cohort) cohorts.delete(key);
    void cohort.iterator?.return?.();
  }

  function member(key: string, cohort: Cohort): AsyncIterableIterator<Frame> {
    let pending: Frame | null = cohort.latest;
    /** The last frame handed out or pending: never offered twice. */
    let last: Frame | null = pending;
    let ended = false;
    let failure: unknown;
    let waiter: { resolve: (r: IteratorResult<Frame>) => void; reject: (e: unknown) => void } | null = null;
    const self: Member = {
      offer(frame) {
        if (frame === last || ended) return;
        last = frame;
        if (waiter) {
          const w = waiter;
          waiter = null;
          w.resolve({ value: frame, done: false });
        } else {
          pending = frame; // latest wins
        }
      },
      end(error) {
        ended = true;
        failure = error;
        if (waiter && !pending) {
          const w = waiter;
          waiter = null;
          if (error) w.reject(error);
          else w.resolve({ value: undefined, done: true });
        }
      },
    };
    cohort.members.add(self);
    const stream: AsyncIterableIterator<Frame> = {
      async next() {
        if (pending) {
          const frame = pending;
          pending = null;
          return { value: frame, done: false };
        }
        if (ended) {
          if (failure) throw failure;
          return { value: undefined, done: true };
        }
        return new Promise((resolve, reject) => (waiter = { resolve, reject }));
      },
      async return() {
        ended = true;
        pending = null;
        waiter?.resolve({ value: undefined, done: true });
        waiter = null;
        leave(key, cohort, self);
        return { value: undefined, done: true };
      },
      [Symbol.asyncIterator]() {
        return stream;
      },
    };
    return stream;
  }

  return {
    async join(key, start, meta) {
      const cohort = cohorts.get(key) ?? open(key, start, meta);
      const early = await cohort.ready;
      if (early) return early;
      return member(key, cohort);
    },
    meta(key) {
      const cohort = cohorts.get(key);
      return cohort?.iterator ? cohort.meta : undefined;
    },
    stats() {
      let members = 0;
      for (const cohort of cohorts.values()) members += cohort.members.size;
      return { cohorts: cohorts.size, members };
    },
  };
}

/**
 * graphql-ws serializes each message itself. Its `jsonMessageReplacer` turns a frame into a marker
 * and remembers the frame's JSON; the socket's `send`, called synchronously right after, splices the
 * JSON in. The same bytes go to every member, with only the message id differing.
 */
export function createFrameSplicer() {
  const MARKER = '\u0001frame';
  const quotedMarker = JSON.stringify(MARKER);
  let stashed: Frame | null = null;
  return {
    replacer(this: unknown, key: string, value: unknown): unknown {
      if (key === 'payload' && typeof value === 'object' && value !== null && FRAME in value) {
        stashed = value as Frame;
        return MARKER;
      }
      return value;
    },
    /**
     * The message to send: unchanged, or (for a frame) the encoded bytes, shared by every member whose
     * message envelope (id) is the same, so that most members cost one socket write and no copy.
     */
    splice(data: unknown): { text: unknown } | { bytes: Buffer } {
      const frame = stashed;
      stashed = null;
      if (frame === null || typeof data !== 'string') return { text: data };
      const at = data.indexOf(quotedMarker);
      if (at < 0) return { text: data };
      const envelope = data.slice(0, at);
      const cache = (frame[ENCODED] ??= new Map());
      let bytes = cache.get(envelope);
      if (!bytes) {
        bytes = Buffer.from(envelope + frame[FRAME] + data.slice(at + quotedMarker.length));
        if (cache.size < MAX_ENCODED) cache.set(envelope, bytes);
      }
      return { bytes };
    },
  };
}

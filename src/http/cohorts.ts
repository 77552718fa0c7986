/**
 * Subscription cohorts, for both transports (graphql-ws.ts, sse-subscriptions.ts): subscribers with the same visibility, document,
 * operation name and variables share ONE execution of the subscription (through Yoga's pipeline, so
 * masking and plugins apply once) and ONE serialization of each result (cohort-frames.ts), written
 * straight to every member's sink (cohort-member.ts) as the same bytes: per subscriber, an update is
 * one socket write.
 *
 * Semantics kept: a member's first event is the cohort's latest state (the job's current state; a
 * cohort whose first result is not in yet hands it over when it comes); every member then gets each
 * result in order, or, if it reads slowly, the latest one (one pending frame per member, never a
 * growing buffer); a result that comes while the previous one is still being handed out does not
 * wait for it: members not reached yet get both at once, in order, the others right after. After the terminal result the cohort ends and its members complete. The last
 * member to leave stops the shared execution. Tenancy was checked when the cohort's execution
 * started, and the tenant is part of the key.
 */
import type { ExecutionResult } from 'graphql';
import { FRAME, PREVIOUS, type Frame, type FrameSink } from './cohort-frames.ts';
import { SinkMember, type Member } from './cohort-member.ts';

export { encodeNext, encodeSseNext, FRAME, type Frame, type FrameSink } from './cohort-frames.ts';

type Start = () => Promise<AsyncIterable<ExecutionResult> | ExecutionResult>;

interface Cohort {
  /** The key it is stored under (members use this string, not each joiner's copy of it). */
  key: string;
  meta: unknown;
  members: Set<Member>;
  latest: Frame | null;
  ready: Promise<ExecutionResult | null>;
  iterator: AsyncIterator<ExecutionResult> | null;
  /** The rounds handing `latest` to every member, while they run; what they failed with. */
  delivering: Promise<void> | null;
  failure?: unknown;
  /** Whether a joiner starts with `latest` (jobUpdates) or with the next frame (jobEvents). */
  replayLatest: boolean;
}

export interface Cohorts {
  /**
   * Joins (or starts) the cohort for `key`. Frames are written to `sink` directly; the returned
   * iterator yields nothing and ends after the terminal frame (or when returned), which is when
   * graphql-ws sends `complete`. Resolves with the start's result instead when it is not a stream
   * (e.g. NOT_FOUND). `onLeave` runs once when the member leaves.
   */
  joinWithSink(key: string, start: Start, meta: unknown, sink: FrameSink, onLeave: () => void, options?: JoinOptions): Promise<AsyncIterableIterator<never> | ExecutionResult>;
  /**
   * Joins the cohort for `key` at once (no promise, no start function) when its execution is running,
   * as joinWithSink would after its first microtask; null when there is no live cohort (then joinWithSink).
   */
  joinLiveWithSink(key: string, sink: FrameSink, onLeave: () => void): AsyncIterableIterator<never> | null;
  /** What the live cohort for `key` was started with (`meta`), once its execution is running. */
  meta(key: string): unknown;
  /** Live cohorts and members (metrics, tests). */
  stats(): { cohorts: number; members: number };
}

export interface JoinOptions {
  /** Used when this join starts the cohort: false = joiners get only frames after they joined (default true). */
  replayLatest?: boolean;
}

const isAsyncIterable = (value: unknown): value is AsyncIterable<ExecutionResult> =>
  typeof value === 'object' && value !== null && Symbol.asyncIterator in value;

/**
 * How many members a fan-out hands a frame to between two yields: a tenth of the cohort, at least 100
 * and at most 1,000. A yield lets the next change in (a stream event read mid-fan-out), so a small
 * cohort yields often enough that a change waits for a tenth of a fan-out, not a whole one; a big
 * cohort yields about as often as it must to keep the loop responsive, since every yield costs the
 * fan-out time (measured at 10,000: batches of 100 made the delivery p99 2.2x a raw broadcast, 1,000
 * kept it near 1.5x).
 */
export function batchFor(members: number, fixed?: number): number {
  return fixed ?? Math.max(100, Math.min(1000, Math.ceil(members / 10)));
}

/**
 * A fan-out also yields once it has held the event loop this long, whatever its batch: at 19,000
 * subscribers a batch of 1,000 writes took up to ~40 ms (the event-loop delay p99 during a live job),
 * while a yield costs a few microseconds now that nothing big waits behind it (sweep.ts).
 */
export const YIELD_AFTER_MS = 8;

export interface CohortOptions {
  /** Members per batch (default batchFor). */
  batchSize?: number;
  /** Longest run between two yields (default YIELD_AFTER_MS), and its clock (tests). */
  yieldAfterMs?: number;
  now?: () => number;
}

export function createCohorts({ batchSize, yieldAfterMs = YIELD_AFTER_MS, now = () => performance.now() }: CohortOptions = {}): Cohorts {
  const cohorts = new Map<string, Cohort>();

  function open(key: string, start: Start, meta: unknown, replayLatest: boolean): Cohort {
    const cohort: Cohort = { key, meta, members: new Set(), latest: null, ready: Promise.resolve(null), iterator: null, delivering: null, replayLatest };
    cohorts.set(key, cohort);
    // Yoga's executor answers synchronously when it refuses before running (e.g. a variable that does not coerce).
    cohort.ready = new Promise<Awaited<ReturnType<Start>>>((resolve) => resolve(start())).then(
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
        const text = JSON.stringify(step.value);
        if (cohort.latest?.[FRAME] === text) continue; // rule 5: never the same payload twice in a row
        const frame: Frame = { [FRAME]: text, [PREVIOUS]: cohort.latest };
        cohort.latest = frame;
        cohort.delivering ??= fanOut(cohort);
        if (cohort.failure) throw cohort.failure;
      }
      await cohort.delivering;
      if (cohort.failure) throw cohort.failure;
    } catch (error) {
      failure = error;
    }
    if (cohorts.get(key) === cohort) cohorts.delete(key);
    for (const member of cohort.members) member.end(failure);
    cohort.members.clear();
  }

  /**
   * Hands the latest frame to every member, yielding to the event loop between batches (batchFor, and at
   * least every YIELD_AFTER_MS) so that a
   * cohort of many thousands never blocks other work for long, and so that a newer frame can come in
   * meanwhile: members after that point get it with the ones they missed, and another round takes it
   * to the members before. (Members joining meanwhile start from the latest frame.)
   */
  async function fanOut(cohort: Cohort) {
    await null; // `delivering` is set before the first round runs
    try {
      for (let target = cohort.latest; target; target = target === cohort.latest ? null : cohort.latest) {
        let sent = 0;
        const members = [...cohort.members];
        const batch = batchFor(members.length, batchSize);
        let ranSince = now();
        for (const member of members) {
          member.offer(cohort.latest as Frame);
          if (++sent % batch === 0 || now() - ranSince >= yieldAfterMs) {
            await new Promise((resolve) => setImmediate(resolve));
            ranSince = now();
          }
        }
        target[PREVIOUS] = null; // every member has `target` or newer: older frames are not needed
      }
    } catch (error) {
      cohort.failure = error;
    } finally {
      cohort.delivering = null;
    }
  }

  function leave(key: string, cohort: Cohort, member: Member) {
    cohort.members.delete(member);
    if (cohort.members.size > 0) return;
    if (cohorts.get(key) === cohort) cohorts.delete(key);
    void cohort.iterator?.return?.();
  }

  /** How a member leaves its cohort: one function for all members (no closure per member). */
  const leaveCohort = (cohort: Cohort, member: Member) => leave(cohort.key, cohort, member);

  function sinkMember(cohort: Cohort, sink: FrameSink, onLeave: () => void): AsyncIterableIterator<never> {
    const member = new SinkMember(cohort, sink, onLeave, leaveCohort);
    cohort.members.add(member);
    return member;
  }

  return {
    async joinWithSink(key, start, meta, sink, onLeave, options = {}) {
      const cohort = cohorts.get(key) ?? open(key, start, meta, options.replayLatest ?? true);
      const early = await cohort.ready;
      if (early) return early;
      return sinkMember(cohort, sink, onLeave);
    },
    joinLiveWithSink(key, sink, onLeave) {
      const cohort = cohorts.get(key);
      return cohort?.iterator ? sinkMember(cohort, sink, onLeave) : null;
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

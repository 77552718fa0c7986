/**
 * Subscription cohorts for the WebSocket transport: subscribers with the same tenant, document,
 * operation name and variables share ONE execution of the subscription (through Yoga's pipeline, so
 * masking and plugins apply once) and ONE serialization of each result. Each message is encoded once
 * per message id and written straight to every member's socket as the same bytes: per subscriber,
 * an update is one socket write.
 *
 * Semantics kept: a member's first event is the cohort's latest state (the job's current state; a
 * cohort whose first result is not in yet hands it over when it comes); every member then gets each
 * result in order, or, if it reads slowly, the latest one (one pending frame per member, never a
 * growing buffer); a result that comes while the previous one is still being handed out does not
 * wait for it: members not reached yet get both at once, in order, the others
 * right after. After the terminal result the cohort ends and its members complete. The last
 * member to leave stops the shared execution. Tenancy was checked when the cohort's execution
 * started, and the tenant is part of the key.
 */
import type { ExecutionResult } from 'graphql';

/** A serialized result, shared by every member of a cohort. */
export interface Frame {
  readonly [FRAME]: string;
  /** Whole messages already encoded for this frame, by what precedes the payload (the message id). */
  [ENCODED]?: Map<string, Buffer>;
  /** The SSE `next` event for this frame (encodeSseNext). */
  [SSE_ENCODED]?: Buffer;
  /** The cohort's frame before this one, while some member may still lack it (cut once every member is past it). */
  [PREVIOUS]?: Frame | null;
}
const PREVIOUS: unique symbol = Symbol('previous frame');
/** Frames a member that is behind gets at once, at most; one further behind gets the latest only. */
const MAX_CATCH_UP = 8;
const ENCODED: unique symbol = Symbol('encoded messages');
/** Distinct message envelopes (ids) cached per frame; clients mostly reuse a few ids. */
const MAX_ENCODED = 64;

/** The graphql-transport-ws `next` message for `frame` and operation `id`, encoded once per id. */
export function encodeNext(frame: Frame, id: string): Buffer {
  const cache = (frame[ENCODED] ??= new Map());
  let bytes = cache.get(id);
  if (!bytes) {
    bytes = Buffer.from(`{"id":${JSON.stringify(id)},"type":"next","payload":${frame[FRAME]}}`);
    if (cache.size < MAX_ENCODED) cache.set(id, bytes);
  }
  return bytes;
}

const SSE_ENCODED: unique symbol = Symbol('encoded SSE event');

/**
 * The SSE `next` event (graphql-sse distinct connections, as Yoga writes it) for `frame`. It carries no
 * operation id, so one Buffer serves every SSE member of the cohort.
 */
export function encodeSseNext(frame: Frame): Buffer {
  return (frame[SSE_ENCODED] ??= Buffer.from(`event: next\ndata: ${frame[FRAME]}\n\n`));
}

/** Where a member's frames go: a subscriber's socket. */
export interface FrameSink {
  /** Writes a frame; false when the consumer is congested (later frames then wait, latest wins). */
  write(frame: Frame): boolean;
  /** Calls back once the consumer can take more. */
  onDrain(callback: () => void): void;
}
export const FRAME: unique symbol = Symbol('cohort frame');

type Start = () => Promise<AsyncIterable<ExecutionResult> | ExecutionResult>;

interface Member {
  offer(frame: Frame): void;
  end(error?: unknown): void;
}

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

export function createCohorts({ batchSize = 100 }: { batchSize?: number } = {}): Cohorts {
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
   * Hands the latest frame to every member, yielding to the event loop between batches so that a
   * cohort of many thousands never blocks other work for long, and so that a newer frame can come in
   * meanwhile: members after that point get it with the ones they missed, and another round takes it
   * to the members before. (Members joining meanwhile start from the latest frame.)
   */
  async function fanOut(cohort: Cohort) {
    await null; // `delivering` is set before the first round runs
    try {
      for (let target = cohort.latest; target; target = target === cohort.latest ? null : cohort.latest) {
        let sent = 0;
        for (const member of [...cohort.members]) {
          member.offer(cohort.latest as Frame);
          if (++sent % batchSize === 0) await new Promise((resolve) => setImmediate(resolve));
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
/** The frames after `last` up to `frame`, in order; just `frame` when `last` is not among its recent predecessors. */
function since(last: Frame | null, frame: Frame): Frame[] {
  const frames = [frame];
  for (let f = frame[PREVIOUS]; f && f !== last && frames.length < MAX_CATCH_UP; f = f[PREVIOUS]) frames.push(f);
  const back = frames[frames.length - 1]![PREVIOUS];
  return back === last ? frames.reverse() : [frame];
}

const DONE: IteratorResult<never> = Object.freeze({ value: undefined as never, done: true });

/**
 * One member whose frames go to a sink: the cohort offers it frames, graphql-ws iterates it (it yields
 * nothing: frames go straight to the sink) and completes the subscription when it ends. A class, so
 * that a member is one object with shared methods rather than a dozen closures per subscriber.
 */
class SinkMember implements Member, AsyncIterableIterator<never> {
  /** graphql-ws iterates the member: frames may go out (the subscription is registered). */
  private active = false;
  private pending: Frame | null;
  private last: Frame | null;
  private congested = false;
  private ended = false;
  private left = false;
  private failure: unknown;
  /** Resolves the `next()` graphql-ws is waiting on (a failure is passed as a rejected promise). */
  private settle: ((result: IteratorResult<never> | Promise<never>) => void) | null = null;
  private readonly cohort: Cohort;
  private readonly sink: FrameSink;
  /** Gives the member's slot back (run once, when it leaves). */
  private readonly onLeave: () => void;
  private readonly leaveCohort: (cohort: Cohort, member: Member) => void;

  constructor(cohort: Cohort, sink: FrameSink, onLeave: () => void, leaveCohort: (cohort: Cohort, member: Member) => void) {
    this.pending = cohort.replayLatest ? cohort.latest : null;
    this.last = cohort.latest;
    this.cohort = cohort;
    this.sink = sink;
    this.onLeave = onLeave;
    this.leaveCohort = leaveCohort;
  }

  /** Writes `frame`, after the frames it follows that this member missed while the cohort was handing them out. */
  private write(frame: Frame, missed: Frame[] = [frame]): void {
    let ok = true;
    for (const each of missed) ok = this.sink.write(each);
    if (!ok && !this.congested) {
      this.congested = true;
      this.sink.onDrain(() => this.drained());
    }
  }
  private drained(): void {
    this.congested = false;
    if (this.pending && !this.left) {
      const next = this.pending;
      this.pending = null;
      this.write(next);
    }
  }
  private finish(): void {
    if (!this.settle) return;
    const settle = this.settle;
    this.settle = null;
    this.leaveOnce();
    settle(this.failure ? Promise.reject(this.failure) : DONE);
  }
  private leaveOnce(): void {
    if (this.left) return;
    this.left = true;
    this.leaveCohort(this.cohort, this);
    this.onLeave();
  }

  offer(frame: Frame): void {
    if (frame === this.last || this.left || this.ended) return;
    const previous = this.last;
    this.last = frame;
    if (!this.active || this.congested) this.pending = frame; // latest wins
    else this.write(frame, since(previous, frame));
  }
  end(error?: unknown): void {
    this.ended = true;
    this.failure = error;
    if (this.active && this.pending) {
      const terminal = this.pending; // delivered even to a congested consumer
      this.pending = null;
      this.sink.write(terminal);
    }
    this.finish();
  }

  /** Not `async`: the promise graphql-ws waits on for the subscription's whole life is this one alone. */
  next(): Promise<IteratorResult<never>> {
    if (!this.active) {
      this.active = true;
      if (this.pending) {
        const first = this.pending; // the current state, at once
        this.pending = null;
        this.write(first);
      }
    }
    if (this.left) return Promise.resolve(DONE);
    if (this.ended) {
      this.leaveOnce();
      return this.failure ? Promise.reject(this.failure) : Promise.resolve(DONE);
    }
    return new Promise<IteratorResult<never>>((resolve) => (this.settle = resolve));
  }
  return(): Promise<IteratorResult<never>> {
    this.pending = null;
    this.leaveOnce();
    this.settle?.(DONE);
    this.settle = null;
    return Promise.resolve(DONE);
  }
  [Symbol.asyncIterator](): AsyncIterableIterator<never> {
    return this;
  }
}

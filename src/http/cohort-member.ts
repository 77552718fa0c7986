/**
 * One cohort member whose frames go to a sink (a subscriber's socket or response): the cohort offers
 * it frames, the transport iterates it (it yields nothing: frames go straight to the sink) and
 * completes the subscription when it ends. Latest wins for a congested sink; the terminal frame is
 * always delivered. A class, so that a member is one object with shared methods rather than a dozen
 * closures per subscriber.
 */
import { PREVIOUS, since, type Frame, type FrameSink } from './cohort-frames.ts';

/** What the cohort hands its members. */
export interface Member {
  offer(frame: Frame): void;
  end(error?: unknown): void;
}

/** What a member reads of its cohort when it joins. */
export interface MemberCohort {
  latest: Frame | null;
  /** Whether a joiner starts with `latest` (jobUpdates) or with the next frame (jobEvents). */
  replayLatest: boolean;
}

const DONE: IteratorResult<never> = Object.freeze({ value: undefined as never, done: true });

/** A member writing to one sink (see the module comment). */
export class SinkMember<C extends MemberCohort> implements Member, AsyncIterableIterator<never> {
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
  private readonly cohort: C;
  private readonly sink: FrameSink;
  /** Gives the member's slot back (run once, when it leaves). */
  private readonly onLeave: () => void;
  private readonly leaveCohort: (cohort: C, member: Member) => void;

  constructor(cohort: C, sink: FrameSink, onLeave: () => void, leaveCohort: (cohort: C, member: Member) => void) {
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
    else if (frame[PREVIOUS] === previous) this.write(frame); // the usual case: nothing missed, nothing to allocate
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

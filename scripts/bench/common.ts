/**
 * Small things every bench process shares: the common clock and sleeping (measured pauses; waits
 * for an event are test/helpers/wait-for.ts's).
 *
 * The common clock is `performance.timeOrigin + performance.now()` in microseconds: wall-clock
 * based, so every process on the machine reads (nearly) the same value at the same instant; the
 * parent measures the remaining offset to each child (see `clockOffset` in proc.ts) and corrects.
 */
import { performance } from 'node:perf_hooks';

/** Microseconds on the common clock. */
export function nowUs(): number {
  return (performance.timeOrigin + performance.now()) * 1000;
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/**
 * Offset (µs) to add to Date.now()*1000 to get the common clock, measured at a Date.now() tick
 * edge so it is good to a few µs rather than to 1 ms.
 */
export function wallToCommonOffsetUs(): number {
  const samples: number[] = [];
  for (let i = 0; i < 5; i++) {
    const start = Date.now();
    let tick = start;
    const limit = performance.now() + 5;
    while (tick === start && performance.now() < limit) tick = Date.now();
    const common = nowUs();
    samples.push(common - tick * 1000);
  }
  samples.sort((a, b) => a - b);
  return samples[Math.floor(samples.length / 2)] ?? 0;
}

/** The frame a graphql-ws `next` carries in these benches, and its raw-ws twin, share this shape. */
export const UPDATE_QUERY = 'subscription Follow($id: ID!) { jobUpdates(id: $id) { id status queuePosition updatedAt } }';

/** The key of an update inside a frame: the job's `updatedAt` (ISO, 24 characters, sorts in time order). */
export const KEY_NEEDLE = Buffer.from('"updatedAt":"');
export const KEY_LENGTH = 24;

/** Extracts the update key from a frame, or null. */
export function keyOf(frame: Buffer): string | null {
  const at = frame.indexOf(KEY_NEEDLE);
  if (at < 0) return null;
  const start = at + KEY_NEEDLE.length;
  return frame.toString('latin1', start, start + KEY_LENGTH);
}

/** Lines a child prints on stdout to talk to the parent start with this. */
export const READY_PREFIX = '@@bench-ready ';

/** One published job state, as a bench server reports it (gateway: the app's onPublish hook; raw ws: a broadcast). */
export interface PublishRecord {
  topic: string;
  /** The job's updatedAt: what subscribers receive as the update key. */
  key: string;
  /** When the state was published (common clock, µs). */
  tUs: number;
  status: string;
  queuePosition: number | null;
  /** Instants (common clock, µs) of the upstream changes first carried by this publish: new log lines. */
  changesUs: number[];
  /** WebSocket frames sent after this publish (until the next one), and when the last was handed to its socket. */
  sends: number;
  lastSendUs: number | null;
}

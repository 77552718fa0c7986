/**
 * Cohort frames: a subscription result serialized once and shared by every member of its cohort
 * (cohorts.ts), with its wire encodings made once per frame (a graphql-transport-ws `next` per
 * message id, one SSE `next` event for all), and the short history a member that fell behind during
 * a fan-out catches up from.
 */
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
export const PREVIOUS: unique symbol = Symbol('previous frame');
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

/** The frames after `last` up to `frame`, in order; just `frame` when `last` is not among its recent predecessors. */
export function since(last: Frame | null, frame: Frame): Frame[] {
  const frames = [frame];
  for (let f = frame[PREVIOUS]; f && f !== last && frames.length < MAX_CATCH_UP; f = f[PREVIOUS]) frames.push(f);
  const back = frames[frames.length - 1]![PREVIOUS];
  return back === last ? frames.reverse() : [frame];
}

/**
 * The SSE wire of graphql-sse's distinct connections mode, written straight to a Node ServerResponse,
 * byte for byte as Yoga's SSE processor writes it: the headers, a `:` comment at once and then every
 * keep-alive interval, `event: next` per result, `event: complete` at the end. A cohort member's events
 * are the cohort's shared Buffers (cohorts.ts); anything else (an answer that is not a stream, a
 * private subscription) is a fetch Response from Yoga's own SSE processor, piped with backpressure.
 */
import type { ServerResponse } from 'node:http';
import type { ExecutionResult } from 'graphql';
import { GraphQLError } from 'graphql';
import { encodeSseNext, type Frame, type FrameSink } from './cohorts.ts';
import { startSweep } from './sweep.ts';

/** Yoga's SSE response headers (before CORS and x-request-id). */
export const SSE_HEADERS: Readonly<Record<string, string>> = { 'content-type': 'text/event-stream', connection: 'keep-alive', 'cache-control': 'no-cache', 'content-encoding': 'none' };
/** Yoga's SSE processor pings every 12 s. */
export const KEEP_ALIVE_MS = 12_000;

const PING = Buffer.from(':\n\n');
const COMPLETE = Buffer.from('event: complete\ndata:\n\n');
/** setTimeout's longest delay; a later expiry re-arms the timer. */
const MAX_TIMER_MS = 2 ** 31 - 1;

/** A result as Yoga serializes it for a client: error extensions without `http` and `unexpected`, result extensions without `http`. */
function stringifyResult(result: ExecutionResult): string {
  if (!result.errors?.length && !result.extensions?.http) return JSON.stringify(result);
  const copy: Record<string, unknown> = { ...result };
  if (result.errors) {
    copy.errors = result.errors.map((error) => {
      if (!(error instanceof GraphQLError)) return error;
      const { http: _http, unexpected: _unexpected, ...extensions } = error.toJSON().extensions ?? {};
      return { ...error.toJSON(), extensions: Object.keys(extensions).length ? extensions : undefined };
    });
  }
  if (result.extensions) {
    const { http: _http, ...extensions } = result.extensions;
    copy.extensions = Object.keys(extensions).length ? extensions : undefined;
  }
  return JSON.stringify(copy);
}

/** One `event: next` for a result that is not a cohort frame (a failure, the token's expiry). */
export const nextEvent = (result: ExecutionResult) => Buffer.from(`event: next\ndata: ${stringifyResult(result)}\n\n`);

/** One timer for every open cohort stream: a `:` comment each interval to those not congested, spread over the interval (sweep.ts). */
export function createKeepAlive(intervalMs: number) {
  const open = new Set<ServerResponse>();
  const stop = startSweep(open, intervalMs, (res) => {
    if (!res.writableNeedDrain && !res.writableEnded) res.write(PING);
  });
  return {
    add: (res: ServerResponse) => open.add(res),
    delete: (res: ServerResponse) => open.delete(res),
    dispose: stop,
  };
}
export type KeepAlive = ReturnType<typeof createKeepAlive>;

/**
 * One cohort member's stream, on its response: the cohort writes frames to it (it is the member's
 * FrameSink) as the shared bytes; `stream` starts it (headers, a first comment) and ends it with
 * `complete` once the member's iterator ends (after the terminal frame), or with a final error event
 * (the shared execution failed, or this member's token expired at `expiresAt`). A client that goes
 * away leaves the cohort (the iterator's return). A class, not closures: it is held per subscriber.
 */
export class MemberStream implements FrameSink {
  private member: AsyncIterator<never> | null = null;
  private timer: NodeJS.Timeout | undefined;
  private finished = false;
  private readonly res: ServerResponse;
  private readonly hooks: MemberHooks;

  constructor(res: ServerResponse, hooks: MemberHooks) {
    this.res = res;
    this.hooks = hooks;
  }

  write(frame: Frame): boolean {
    if (this.finished || this.res.destroyed) return true;
    this.hooks.onDelivered?.();
    return this.res.write(encodeSseNext(frame));
  }

  onDrain(callback: () => void): void {
    this.res.once('drain', callback);
  }

  stream(member: AsyncIterator<never>, headers: Record<string, string>, expiresAt: number | undefined): void {
    const res = this.res;
    this.member = member;
    if (res.destroyed) {
      this.finish(null);
      return;
    }
    res.writeHead(200, headers);
    res.write(PING); // at once: some clients wait for a first byte
    this.hooks.keepAlive.add(res);
    STREAMS.set(res, this);
    res.on('close', onClose);
    if (expiresAt !== undefined) this.expireAt(expiresAt);
    member.next().then(
      () => this.finish(null),
      (error: unknown) => this.finish(nextEvent(this.hooks.failed(error))),
    );
  }

  private expireAt(expiresAt: number): void {
    const left = expiresAt - Date.now();
    if (left <= 0) this.finish(nextEvent(this.hooks.expired()));
    else this.timer = setTimeout(() => this.expireAt(expiresAt), Math.min(left, MAX_TIMER_MS));
  }

  finish(last: Buffer | null): void {
    if (this.finished) return;
    this.finished = true;
    clearTimeout(this.timer);
    const res = this.res;
    this.hooks.keepAlive.delete(res);
    if (!res.writableEnded && !res.destroyed) {
      if (last) res.write(last);
      res.end(COMPLETE);
    }
    void this.member?.return?.();
  }
}

export interface MemberHooks {
  keepAlive: KeepAlive;
  onDelivered?: (() => void) | undefined;
  expired: () => ExecutionResult;
  failed: (error: unknown) => ExecutionResult;
}

const STREAMS = new WeakMap<ServerResponse, MemberStream>();
/** One listener function for every member's 'close' (not a closure each). */
function onClose(this: ServerResponse) {
  STREAMS.get(this)?.finish(null);
}

/** Waits until `res` drains or closes. */
function drained(res: ServerResponse): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      res.off('drain', done);
      res.off('close', done);
      resolve();
    };
    res.on('drain', done);
    res.on('close', done);
  });
}

/** Pipes a fetch Response to `res` (pulling only as fast as the client reads); resolves when it ended or the client left. */
export async function sendResponse(response: Response, res: ServerResponse, extraHeaders: Record<string, string> = {}): Promise<void> {
  const headers: Record<string, string> = {};
  response.headers.forEach((value, name) => (headers[name] = value));
  res.writeHead(response.status, { ...headers, ...extraHeaders });
  const reader = response.body?.getReader();
  if (!reader) {
    res.end();
    return;
  }
  const cancel = () => void reader.cancel().catch(() => undefined);
  res.once('close', cancel);
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done || res.destroyed) break;
      if (!res.write(value)) await drained(res);
    }
  } finally {
    res.off('close', cancel);
    if (!res.writableEnded && !res.destroyed) res.end();
  }
}

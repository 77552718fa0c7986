/**
 * Diagnostic only (scripts/bench/push-trace.ts): loaded into the gateway bench child with
 * `--import`, it timestamps one pushed update along its path without touching gateway code, and
 * writes what it saw to BENCH_TRACE_FILE when the process exits.
 *
 * - `sse`: the simulator writes a status stream event (http OutgoingMessage#write of `data: `),
 *   with the newest log timestamp in it (the upstream change it carries);
 * - `chunk`: undici hands the gateway a body chunk of that stream (diagnostics channel
 *   undici:request:bodyChunkReceived), with the newest log timestamp in it;
 * - `store`: a `UPDATE jobs` statement runs (node:sqlite), start and end;
 * - `dispatch`: a `job:` event is dispatched (below server.ts's recorder, so after its cost);
 * - `sends`: every ws send after a dispatch, with the socket's remote port (the subscriber's local
 *   port, to pair it with the client's receipt).
 *
 * `cpu`: (wall µs, process CPU µs) pairs at these points (at every 50th send only: reading the
 * CPU clock is a system call), so that the server's own work between two instants can be
 * told apart from the time other processes on a shared machine took from it.
 */
import { subscribe } from 'node:diagnostics_channel';
import { writeFileSync } from 'node:fs';
import { OutgoingMessage } from 'node:http';
import { StatementSync } from 'node:sqlite';
import { WebSocket } from 'ws';
import { nowUs } from './common.ts';

const NEEDLE = '"timestamp":"';
/** The newest log timestamp in an SSE event's text, or null. */
function newestLog(text: string): string | null {
  const at = text.lastIndexOf(NEEDLE);
  return at < 0 ? null : text.slice(at + NEEDLE.length, at + NEEDLE.length + 24);
}

export interface TraceFile {
  sse: Array<[number, string]>;
  chunk: Array<[number, string]>;
  store: Array<[number, number]>;
  /** `SELECT data FROM jobs WHERE id`: start, end, bytes of the job's JSON. */
  read: Array<[number, number, number]>;
  /** Log lines of the job dispatched (same index as `dispatch`). */
  logs: number[];
  dispatch: Array<[number, string]>;
  /** Per dispatch (same index): [send instant, remote port] of every send until the next dispatch. */
  sends: Array<Array<[number, number]>>;
  cpu: Array<[number, number]>;
}

const trace: TraceFile = { sse: [], chunk: [], store: [], read: [], logs: [], dispatch: [], sends: [], cpu: [] };
const CPU_LIMIT = 200_000;
function sample(wall: number): void {
  if (trace.cpu.length >= CPU_LIMIT) return;
  const usage = process.cpuUsage();
  trace.cpu.push([wall, usage.user + usage.system]);
}
const LIMIT = 5_000;

const write = OutgoingMessage.prototype.write;
OutgoingMessage.prototype.write = function (this: OutgoingMessage, chunk: unknown, ...rest: unknown[]) {
  if (typeof chunk === 'string' && chunk.startsWith('data: ') && trace.sse.length < LIMIT) {
    const log = newestLog(chunk);
    if (log) {
      const t = nowUs();
      trace.sse.push([t, log]);
      sample(t);
    }
  }
  return (write as (...args: unknown[]) => boolean).call(this, chunk, ...rest);
} as typeof OutgoingMessage.prototype.write;

subscribe('undici:request:bodyChunkReceived', (message) => {
  const t = nowUs();
  const { chunk } = message as { chunk: Buffer };
  if (trace.chunk.length >= LIMIT) return;
  const log = newestLog(chunk.toString('latin1'));
  if (log) {
    trace.chunk.push([t, log]);
    sample(t);
  }
});

const run = StatementSync.prototype.run;
StatementSync.prototype.run = function (this: StatementSync, ...args: unknown[]) {
  const t0 = nowUs();
  const result = (run as (...a: unknown[]) => ReturnType<StatementSync['run']>).apply(this, args);
  if (this.sourceSQL.startsWith('UPDATE jobs') && trace.store.length < LIMIT) {
    const t1 = nowUs();
    trace.store.push([t0, t1]);
    sample(t1);
  }
  return result;
} as StatementSync['run'];

const get = StatementSync.prototype.get;
StatementSync.prototype.get = function (this: StatementSync, ...args: unknown[]) {
  const t0 = nowUs();
  const result = (get as (...a: unknown[]) => ReturnType<StatementSync['get']>).apply(this, args);
  if (this.sourceSQL.startsWith('SELECT data FROM jobs WHERE id') && trace.read.length < LIMIT) {
    trace.read.push([t0, nowUs(), String((result as { data?: string } | undefined)?.data ?? '').length]);
  }
  return result;
} as StatementSync['get'];

let current: Array<[number, number]> | null = null;
const dispatch = EventTarget.prototype.dispatchEvent;
EventTarget.prototype.dispatchEvent = function (this: EventTarget, event: Event): boolean {
  if (typeof event.type === 'string' && event.type.startsWith('job:') && trace.dispatch.length < LIMIT) {
    const detail = (event as CustomEvent<{ updatedAt?: string; logs?: unknown[] }>).detail;
    if (typeof detail?.updatedAt === 'string') {
      const t = nowUs();
      trace.dispatch.push([t, detail.updatedAt]);
      sample(t);
      trace.logs.push(detail.logs?.length ?? 0);
      current = [];
      trace.sends.push(current);
    }
  }
  return dispatch.call(this, event);
};

const send = WebSocket.prototype.send;
WebSocket.prototype.send = function (this: WebSocket, ...args: Parameters<WebSocket['send']>) {
  const result = send.apply(this, args);
  if (!current) return result;
  const t = nowUs();
  current.push([t, (this as unknown as { _socket?: { remotePort?: number } })._socket?.remotePort ?? 0]);
  if (current.length % 50 === 1) sample(t);
  return result;
} as WebSocket['send'];

const file = process.env.BENCH_TRACE_FILE;
if (file) process.on('exit', () => writeFileSync(file, JSON.stringify(trace)));

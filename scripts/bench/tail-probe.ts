/**
 * Preload (`--import`) for a bench server child (fanout-tail.ts): records, on the common clock, every
 * garbage collection (perf_hooks 'gc' entries: start, duration, kind) and every WebSocket ping the
 * process sends (ws's WebSocket.prototype.ping), and writes them as JSON to TAIL_PROBE_OUT at exit.
 * With TAIL_PROBE_SENDS=1 it also samples the process CPU time (getrusage, ~1 µs) at every
 * WebSocket send, so that the parent gets each fan-out's own CPU time, which other processes on the
 * core do not inflate. A diagnostic: it changes nothing the server does (beyond that sampling cost).
 */
import { writeFileSync } from 'node:fs';
import { constants, performance, PerformanceObserver, type PerformanceEntry } from 'node:perf_hooks';
import { createRequire } from 'node:module';

const out = process.env.TAIL_PROBE_OUT;
const origin = performance.timeOrigin;
const gcs: Array<{ tUs: number; ms: number; kind: string }> = [];
const pings: number[] = [];
const kinds: Record<number, string> = {
  [constants.NODE_PERFORMANCE_GC_MAJOR]: 'major',
  [constants.NODE_PERFORMANCE_GC_MINOR]: 'minor',
  [constants.NODE_PERFORMANCE_GC_INCREMENTAL]: 'incremental',
  [constants.NODE_PERFORMANCE_GC_WEAKCB]: 'weakcb',
};
new PerformanceObserver((list) => {
  for (const e of list.getEntries() as Array<PerformanceEntry & { detail?: { kind?: number } }>) {
    gcs.push({ tUs: (origin + e.startTime) * 1000, ms: e.duration, kind: kinds[e.detail?.kind ?? -1] ?? String(e.detail?.kind) });
  }
}).observe({ entryTypes: ['gc'] });

// The server's `ws` (resolved from the project root, as the server resolves it).
const require = createRequire(new URL('../../package.json', import.meta.url));
const WebSocket = require('ws') as { prototype: { ping(...args: unknown[]): void; send(...args: unknown[]): void } };
const sends: number[] = [];
const sendCpu: number[] = [];
if (process.env.TAIL_PROBE_SENDS === '1') {
  const send = WebSocket.prototype.send;
  WebSocket.prototype.send = function (this: unknown, ...args: unknown[]) {
    const cpu = process.cpuUsage();
    sends.push((origin + performance.now()) * 1000);
    sendCpu.push(cpu.user + cpu.system);
    return send.apply(this, args);
  };
}
const ping = WebSocket.prototype.ping;
WebSocket.prototype.ping = function (this: unknown, ...args: unknown[]) {
  pings.push((origin + performance.now()) * 1000);
  return ping.apply(this, args);
};

process.on('exit', () => {
  if (out) writeFileSync(out, JSON.stringify({ gcs, pings, sends, sendCpu }));
});

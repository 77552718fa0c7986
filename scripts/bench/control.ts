/**
 * The control endpoint of a bench child process (gateway server or raw floor server): a tiny
 * node:http server on 127.0.0.1, on its own port, that the parent uses to read the process's
 * resource use (RSS, CPU, event-loop delay), run a GC, read the clock, and drive the scenario.
 *
 * Built-in routes: GET /clock, GET /stats, POST /eld/reset, POST /gc, POST /exit, and
 * POST /profile/start, POST /profile/stop {path} (a V8 CPU profile of this process, written as a
 * .cpuprofile file that Chrome DevTools or VS Code open), POST /heap/snapshot {path}, GET /heap/spaces (v8.getHeapSpaceStatistics()).
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { constants as perfConstants, monitorEventLoopDelay, PerformanceObserver, type PerformanceEntry } from 'node:perf_hooks';
import { readdirSync, writeFileSync } from 'node:fs';
import { Session } from 'node:inspector/promises';
import { getHeapSpaceStatistics, writeHeapSnapshot } from 'node:v8';
import { nowUs } from './common.ts';

export type Route = (body: any, query: URLSearchParams) => unknown;

export interface ProcessStats {
  nowUs: number;
  rss: number;
  heapTotal: number;
  heapUsed: number;
  external: number;
  arrayBuffers: number;
  /** process.cpuUsage(): user and system µs since the process started. */
  cpuUserUs: number;
  cpuSystemUs: number;
  /**
   * Event-loop delay since the last reset, in ms: perf_hooks.monitorEventLoopDelay samples every
   * RESOLUTION_MS and records the time between samples, so the resolution is subtracted here.
   */
  eld: { p50: number; p99: number; max: number; mean: number; count: number };
  openFds: number | null;
  /** Garbage collections since the process started (perf_hooks 'gc' entries): count, of them major (mark-compact), total ms. */
  gc: { count: number; major: number; ms: number };
}

const RESOLUTION_MS = 10;
const eld = monitorEventLoopDelay({ resolution: RESOLUTION_MS });
eld.enable();
const gcTotals = { count: 0, major: 0, ms: 0 };
new PerformanceObserver((list) => {
  for (const entry of list.getEntries() as Array<PerformanceEntry & { detail?: { kind?: number } }>) {
    gcTotals.count++;
    gcTotals.ms += entry.duration;
    if (entry.detail?.kind === perfConstants.NODE_PERFORMANCE_GC_MAJOR) gcTotals.major++;
  }
}).observe({ entryTypes: ['gc'] });

function openFds(): number | null {
  try {
    return readdirSync('/proc/self/fd').length;
  } catch {
    return null;
  }
}

export function processStats(): ProcessStats {
  const memory = process.memoryUsage();
  const cpu = process.cpuUsage();
  const ms = (ns: number) => (Number.isFinite(ns) && ns > 0 ? Math.max(0, ns / 1e6 - RESOLUTION_MS) : 0);
  return {
    nowUs: nowUs(),
    rss: memory.rss,
    heapTotal: memory.heapTotal,
    heapUsed: memory.heapUsed,
    external: memory.external,
    arrayBuffers: memory.arrayBuffers,
    cpuUserUs: cpu.user,
    cpuSystemUs: cpu.system,
    eld: { p50: ms(eld.percentile(50)), p99: ms(eld.percentile(99)), max: ms(eld.max), mean: ms(eld.mean), count: eld.count },
    openFds: openFds(),
    gc: { ...gcTotals },
  };
}

function gc(): boolean {
  const collect = (globalThis as { gc?: () => void }).gc;
  if (!collect) return false;
  collect();
  collect();
  return true;
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

function send(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

let profiler: Session | null = null;

async function startProfile(): Promise<void> {
  if (profiler) return;
  profiler = new Session();
  profiler.connect();
  await profiler.post('Profiler.enable');
  await profiler.post('Profiler.setSamplingInterval', { interval: 200 });
  await profiler.post('Profiler.start');
}

async function stopProfile(path: string): Promise<{ path: string | null }> {
  if (!profiler) return { path: null };
  const { profile } = await profiler.post('Profiler.stop');
  profiler.disconnect();
  profiler = null;
  writeFileSync(path, JSON.stringify(profile));
  return { path };
}

/** Starts the control server; resolves with its base URL ('http://127.0.0.1:<port>'). */
export async function startControl(routes: Record<string, Route>): Promise<string> {
  const all: Record<string, Route> = {
    'POST /profile/start': () => startProfile().then(() => ({ ok: true })),
    'POST /profile/stop': (body: { path?: string }) => stopProfile(String(body.path)),
    'POST /heap/snapshot': (body: { path?: string }) => ({ path: writeHeapSnapshot(String(body.path)) }),
    'GET /clock': () => ({ nowUs: nowUs() }),
    'GET /stats': () => processStats(),
    'GET /heap/spaces': () => getHeapSpaceStatistics(),
    'POST /eld/reset': () => {
      eld.reset();
      return { ok: true };
    },
    'POST /gc': () => ({ gc: gc() }),
    'POST /exit': () => {
      setImmediate(() => process.exit(0));
      return { ok: true };
    },
    ...routes,
  };
  const server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://control.invalid');
    const route = all[`${req.method} ${url.pathname}`];
    if (!route) return send(res, 404, { error: `no route ${req.method} ${url.pathname}` });
    readBody(req)
      .then(async (text) => send(res, 200, (await route(text ? JSON.parse(text) : {}, url.searchParams)) ?? { ok: true }))
      .catch((error: unknown) => send(res, 500, { error: error instanceof Error ? error.message : String(error) }));
  });
  server.keepAliveTimeout = 60_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

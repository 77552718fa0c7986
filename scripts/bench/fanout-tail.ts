/**
 * The fan-out tail, update by update: `node --experimental-strip-types scripts/bench/fanout-tail.ts
 * [--n 10000] [--runs 3] [--target gateway|raw|both] [--window 12]`. Each run is the bench's fan-out
 * scenario (same server child, same load client, same window) with tail-probe.ts preloaded in the
 * server; it prints, per window update, the server fan-out (publish -> last frame handed to a
 * socket), the client-side delivery p50/p99/max of that update, and what overlapped it: the server's
 * and the load client's GCs and the server's ping sweep (first..last ping of a sweep).
 */
import { readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { constants, performance, PerformanceObserver, type PerformanceEntry } from 'node:perf_hooks';
import { createFleet, type Fleet } from './clients.ts';
import { UPDATE_QUERY } from './common.ts';
import { CHILD_NOFILE, LOAD_CORE, RAW_SCRIPT, SERVER_CORE, startGateway, submitJob } from './gateway.ts';
import { measureWindow, publishLog } from './measure.ts';
import { detectMachine, pinSelf, spawnChild, type Child } from './proc.ts';
import { LOG_EVERY_MS } from './scenarios.ts';
import { percentile, sorted } from './stats.ts';

const { values } = parseArgs({ options: { n: { type: 'string' }, runs: { type: 'string' }, target: { type: 'string' }, window: { type: 'string' }, 'poll-ms': { type: 'string' } } });
const N = Number(values.n ?? 10_000);
const RUNS = Number(values.runs ?? 3);
const WINDOW = Number(values.window ?? 12);
const POLL_MS = Number(values['poll-ms'] ?? 1000);
const targets = values.target === 'both' || !values.target ? (['gateway', 'raw'] as const) : ([values.target] as ['gateway'] | ['raw']);
const PROBE = fileURLToPath(new URL('./tail-probe.ts', import.meta.url));

const machine = detectMachine(true);
if (machine.pin) pinSelf(LOAD_CORE);

const clientGcs: Array<{ tUs: number; ms: number; kind: string }> = [];
new PerformanceObserver((list) => {
  for (const e of list.getEntries() as Array<PerformanceEntry & { detail?: { kind?: number } }>) {
    clientGcs.push({ tUs: (performance.timeOrigin + e.startTime) * 1000, ms: e.duration, kind: e.detail?.kind === constants.NODE_PERFORMANCE_GC_MAJOR ? 'major' : e.detail?.kind === constants.NODE_PERFORMANCE_GC_MINOR ? 'minor' : 'other' });
  }
}).observe({ entryTypes: ['gc'] });

type Probe = { gcs: Array<{ tUs: number; ms: number; kind: string }>; pings: number[]; sends: number[]; sendCpu: number[] };

/** Ping sweeps: bursts of pings less than 50 ms apart. */
function sweeps(pings: number[]): Array<{ from: number; to: number; count: number }> {
  const out: Array<{ from: number; to: number; count: number }> = [];
  for (const t of pings) {
    const last = out.at(-1);
    if (last && t - last.to < 50_000) {
      last.to = t;
      last.count++;
    } else out.push({ from: t, to: t, count: 1 });
  }
  return out;
}

async function run(target: 'gateway' | 'raw', index: number) {
  const probeOut = join(tmpdir(), `tail-probe-${process.pid}-${target}-${index}.json`);
  const nodeFlags = ['--import', PROBE];
  const env = { TAIL_PROBE_OUT: probeOut, TAIL_PROBE_SENDS: '1' };
  let child: Child<any>;
  let fleet: Fleet;
  let topic: string | undefined;
  if (target === 'gateway') {
    const timing = { initialQueuePosition: 0, queueStepMs: 1000, runMs: 3_600_000, logEveryMs: LOG_EVERY_MS, logWindowMs: 2 * POLL_MS + 500 };
    const gateway = await startGateway(machine, { pollMs: POLL_MS, timing, env, nodeFlags });
    child = gateway;
    const job = await submitJob(gateway.info.httpUrl, '[sim:fast] bench fan-out');
    topic = `job:${job.id}`;
    fleet = createFleet('graphql-ws', { url: gateway.info.wsUrl, query: UPDATE_QUERY, variables: { id: job.id } });
  } else {
    child = await spawnChild<{ wsUrl: string }>({ script: RAW_SCRIPT, env, machine, core: SERVER_CORE, nofile: CHILD_NOFILE, nodeFlags });
    fleet = createFleet('raw-ws', { url: child.info.wsUrl });
  }
  await fleet.grow(N, { concurrency: 200, deadlineMs: 180_000 });
  if (target === 'raw') await child.post('/broadcast/start', { intervalMs: POLL_MS });
  const window = await measureWindow(child, fleet, { warm: 2, updates: WINDOW, timeoutMs: 3 * POLL_MS + 5000, ...(topic ? { topic } : {}) });
  const publishes = (await publishLog(child, window.start.nowUs - 120e6, topic)).filter((p) => p.tUs >= window.start.nowUs && p.tUs <= window.end.nowUs);
  fleet.quiesce();
  await child.stop();
  fleet.close();
  const probe = JSON.parse(readFileSync(probeOut, 'utf8')) as Probe;
  rmSync(probeOut, { force: true });
  const offset = child.clock.offsetUs;
  const serverGcs = probe.gcs.map((g) => ({ ...g, tUs: g.tUs - offset }));
  const pingSweeps = sweeps(probe.pings.map((t) => t - offset));
  const a = window.analysis;
  console.log(`\n${target} run ${index}: p50 ${a.publishToDelivery.p50.toFixed(1)} p99 ${a.publishToDelivery.p99.toFixed(1)} max ${a.publishToDelivery.max.toFixed(1)} ms; server fan-out p50 ${a.fanoutMs?.p50.toFixed(1)} max ${a.fanoutMs?.max.toFixed(1)}; CPU ${(window.cpuUs / a.deliveries).toFixed(2)} µs/delivery; interference ${JSON.stringify(window.interference)}`);
  const t0 = publishes[0]?.tUs ?? 0;
  const sends = probe.sends.map((t) => t - offset);
  const pingsAt = probe.pings.map((t) => t - offset);
  const rows: Array<{ cpuMs: number; pings: number }> = [];
  for (const p of publishes) {
    // The fan-out's own CPU time (first to last send after this publish) and the pings sent inside it.
    const end = p.lastSendUs ?? p.tUs;
    let first = -1;
    let last = -1;
    for (let i = 0; i < sends.length; i++) {
      if (sends[i]! < p.tUs) continue;
      if (sends[i]! > end) break;
      if (first < 0) first = i;
      last = i;
    }
    const cpuMs = first >= 0 ? (probe.sendCpu[last]! - probe.sendCpu[first]!) / 1000 : NaN;
    const pingsInside = pingsAt.filter((t) => t >= p.tUs && t <= end).length;
    const lat: number[] = [];
    let lastRx = p.tUs;
    for (const s of fleet.subscribers) {
      const j = s.keys.indexOf(p.key);
      if (j < 0) continue;
      lat.push((s.times[j]! - p.tUs) / 1000);
      lastRx = Math.max(lastRx, s.times[j]!);
    }
    if (lat.length === 0) continue;
    rows.push({ cpuMs, pings: pingsInside });
    const sl = sorted(lat);
    const overlaps = (t: number, ms: number) => t + ms * 1000 >= p.tUs - 5000 && t <= lastRx;
    const sg = serverGcs.filter((g) => overlaps(g.tUs, g.ms));
    const cg = clientGcs.filter((g) => overlaps(g.tUs, g.ms));
    const pg = pingSweeps.filter((s) => s.to >= p.tUs - 100_000 && s.from <= lastRx);
    const ms = (us: number) => (us / 1000).toFixed(0);
    const gcText = (gs: typeof sg) => gs.filter((g) => g.kind !== 'minor' || g.ms > 2).map((g) => `${g.kind}@+${ms(g.tUs - p.tUs)}:${g.ms.toFixed(1)}`).join(' ') + ` (${gs.filter((g) => g.kind === 'minor').length} minor, ${gs.reduce((x, g) => x + g.ms, 0).toFixed(1)} ms)`;
    console.log(
      `  +${ms(p.tUs - t0).padStart(6)} ms  fanout ${p.lastSendUs ? ((p.lastSendUs - p.tUs) / 1000).toFixed(1).padStart(6) : '   n/a'} cpu ${cpuMs.toFixed(1).padStart(6)} pings ${String(pingsInside).padStart(5)}  deliv p50 ${percentile(sl, 50).toFixed(0).padStart(4)} p99 ${percentile(sl, 99).toFixed(0).padStart(4)} max ${percentile(sl, 100).toFixed(0).padStart(4)}  n=${lat.length}` +
        `  srvGC ${gcText(sg)}  cliGC ${gcText(cg)}${pg.length ? `  PING ${pg.map((s) => `+${ms(s.from - p.tUs)}..+${ms(s.to - p.tUs)} (${s.count})`).join(' ')}` : ''}`,
    );
  }
  const cpus = sorted(rows.map((r) => r.cpuMs).filter(Number.isFinite));
  const median = percentile(cpus, 50);
  console.log(`  SUMMARY ${target}: fan-out CPU ms per update: median ${median.toFixed(1)}, max ${percentile(cpus, 100).toFixed(1)} (${(percentile(cpus, 100) / median).toFixed(2)}x); updates over 1.5x the median: ${rows.filter((r) => r.cpuMs > 1.5 * median).map((r) => `${r.cpuMs.toFixed(0)} ms with ${r.pings} pings inside`).join(', ') || 'none'}; most pings inside one fan-out ${Math.max(0, ...rows.map((r) => r.pings))}`);
}

for (let i = 1; i <= RUNS; i++) for (const target of targets) await run(target, i);
process.exit(0);

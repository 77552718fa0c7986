/**
 * Diagnostic for the push scenario (not part of `npm run bench`): where the change -> subscriber
 * latency of FAL_UPDATES=stream goes, segment by segment, measured in one run.
 *
 *   node --experimental-strip-types --no-warnings=ExperimentalWarning scripts/bench/push-trace.ts [N] [updates] [runs]
 *
 * The gateway child is the bench's own (server.ts, pinned to the server core) with
 * push-trace-hooks.ts imported first; this process is the load generator (pinned to the load core),
 * with the bench's own fleet. Per update: upstream change (the simulator's log line instant) ->
 * simulator writes the SSE event -> undici hands the gateway the chunk -> store UPDATE (start, end)
 * -> dispatch of `job:<id>` -> first and last ws send; per subscriber, its socket's send -> its
 * receipt here. Every instant is on the common clock (the child's corrected by the measured offset).
 */
import { readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createFleet } from './clients.ts';
import { UPDATE_QUERY } from './common.ts';
import { CHILD_NOFILE, GATEWAY_NODE_FLAGS, gatewayEnv, LOAD_CORE, SERVER_CORE, SERVER_SCRIPT, submitJob, type GatewayInfo } from './gateway.ts';
import { measureWindow, publishLog } from './measure.ts';
import { detectMachine, pinSelf, spawnChild } from './proc.ts';
import type { TraceFile } from './push-trace-hooks.ts';
import { LOG_EVERY_MS } from './scenarios.ts';
import { Samples } from './stats.ts';

const HOOKS = fileURLToPath(new URL('./push-trace-hooks.ts', import.meta.url));
const n = Number(process.argv[2] ?? 1000);
const updates = Number(process.argv[3] ?? 20);
const runs = Number(process.argv[4] ?? 1);
const extraEnv = JSON.parse(process.env.PUSH_TRACE_ENV ?? '{}') as Record<string, string>;

const machine = detectMachine(true);
if (machine.pin) pinSelf(LOAD_CORE);

const fmt = (s: { p50: number; p99: number; max: number; count: number }) => `p50 ${s.p50.toFixed(2).padStart(6)}  p99 ${s.p99.toFixed(2).padStart(6)}  max ${s.max.toFixed(2).padStart(6)}  (n=${s.count})`;

async function once(run: number): Promise<void> {
  const file = join(tmpdir(), `push-trace-${process.pid}-${run}.json`);
  const pollMs = 1000;
  const timing = { initialQueuePosition: 0, queueStepMs: 1000, runMs: 3_600_000, logEveryMs: Number(process.env.PUSH_TRACE_LOG_MS ?? LOG_EVERY_MS), logWindowMs: 2 * pollMs + 500 };
  const child = await spawnChild<GatewayInfo>({
    script: SERVER_SCRIPT,
    env: gatewayEnv(pollMs, { BENCH_SIM_TIMING: JSON.stringify(timing), FAL_UPDATES: 'stream', BENCH_TRACE_FILE: file, ...extraEnv }),
    machine,
    core: SERVER_CORE,
    nofile: CHILD_NOFILE,
    nodeFlags: [...GATEWAY_NODE_FLAGS, '--import', HOOKS],
  });
  const job = await submitJob(child.info.httpUrl, '[sim:fast] bench fan-out');
  const fleet = createFleet('graphql-ws', { url: child.info.wsUrl, query: UPDATE_QUERY, variables: { id: job.id } });
  await fleet.grow(n, { concurrency: 200, deadlineMs: 120_000 });
  const topic = `job:${job.id}`;
  const profile = process.env.PUSH_TRACE_PROFILE ? { profilePath: `${process.env.PUSH_TRACE_PROFILE}-${run}.cpuprofile` } : {};
  const window = await measureWindow(child, fleet, { warm: 3, updates, timeoutMs: 8_000, topic, ...profile });
  const publishes = await publishLog(child, 0, topic);
  fleet.quiesce();
  await child.stop();
  fleet.close();
  const trace = JSON.parse(readFileSync(file, 'utf8')) as TraceFile;
  rmSync(file, { force: true });
  const off = child.clock.offsetUs;
  const at = (t: number) => t - off;
  const inWindow = publishes.filter((p) => p.tUs >= window.start.nowUs - off && p.tUs <= window.end.nowUs - off);

  // The server process's CPU clock (all its threads share the server core) at any wall instant (child clock), by interpolation between samples.
  const cpuAt = (wall: number): number => {
    const c = trace.cpu;
    let lo = 0;
    let hi = c.length - 1;
    if (hi < 0) return NaN;
    if (wall <= c[0]![0]) return c[0]![1];
    if (wall >= c[hi]![0]) return c[hi]![1];
    while (hi - lo > 1) {
      const mid = (lo + hi) >> 1;
      if (c[mid]![0] <= wall) lo = mid;
      else hi = mid;
    }
    const [w0, c0] = c[lo]!;
    const [w1, c1] = c[hi]!;
    return c0 + ((c1 - c0) * (wall - w0)) / Math.max(1, w1 - w0);
  };
  const seg = new Map<string, Samples>();
  const put = (name: string, ms: number) => (seg.get(name) ?? seg.set(name, new Samples()).get(name)!).push(ms);
  const byPort = new Map(fleet.subscribers.filter((s) => s.ready).map((s) => [s.port, s]));
  for (const p of inWindow) {
    const d = trace.dispatch.findIndex(([, key]) => key === p.key);
    if (d < 0 || p.changesUs.length === 0) continue;
    const dispatchUs = at(trace.dispatch[d]![0]);
    const change = Math.max(...p.changesUs);
    const chunk = trace.chunk.filter(([t]) => at(t) <= dispatchUs).pop();
    const sse = chunk ? trace.sse.find(([, log]) => log === chunk[1]) : undefined;
    const store = trace.store.filter(([t]) => at(t) <= dispatchUs).pop();
    const read = trace.read.filter(([t]) => at(t) <= dispatchUs).pop();
    const sends = trace.sends[d] ?? [];
    if (!chunk || !sse || !store || sends.length === 0) continue;
    const ms = (a: number, b: number) => (b - a) / 1000;
    put('1 change -> simulator writes SSE', ms(change, at(sse[0])));
    put('2 SSE write -> gateway has the chunk', ms(at(sse[0]), at(chunk[0])));
    if (read && read[0] >= chunk[0]) {
      put('3a chunk -> store read starts', ms(at(chunk[0]), at(read[0])));
      put('3b store read (SELECT)', ms(at(read[0]), at(read[1])));
      put('3r store read end -> UPDATE starts', ms(at(read[1]), at(store[0])));
      put('job JSON kB / log lines at dispatch', read[2] / 1000);
      put('job log lines at dispatch', trace.logs[d]!);
    }
    put('3 chunk -> store UPDATE starts', ms(at(chunk[0]), at(store[0])));
    put('4 store UPDATE', ms(at(store[0]), at(store[1])));
    put('5 UPDATE end -> dispatch (incl. bench recorder)', ms(at(store[1]), dispatchUs));
    put('6 dispatch -> first ws send', ms(dispatchUs, at(sends[0]![0])));
    put('7 first -> last ws send (fan-out)', ms(at(sends[0]![0]), at(sends[sends.length - 1]![0])));
    put('7c fan-out, server CPU', (cpuAt(sends[sends.length - 1]![0]) - cpuAt(sends[0]![0])) / 1000);
    put('1c change -> dispatch, server CPU', (cpuAt(trace.dispatch[d]![0]) - cpuAt(change + off)) / 1000);
    put('3p chunk -> dispatch, server CPU', (cpuAt(trace.dispatch[d]![0]) - cpuAt(chunk[0])) / 1000);
    for (const [t, port] of sends) {
      const s = byPort.get(port);
      if (!s) continue;
      const i = s.keys.indexOf(p.key);
      if (i < 0) continue;
      put('8 per subscriber: its ws send -> received here', ms(at(t), s.times[i]!));
      put('A per subscriber: change -> its ws send (server side)', ms(change, at(t)));
      put('B per subscriber: change -> received (the figure)', ms(change, s.times[i]!));
      put('C per subscriber: server CPU between change and its ws send', (cpuAt(t) - cpuAt(change + off)) / 1000);
    }
  }
  console.log(`run ${run + 1}: ${n} subscribers, a change every ${timing.logEveryMs} ms, ${inWindow.length} updates; bench figure change->delivery ${fmt(window.analysis.changeToDelivery!)}`);
  console.log(`  client CPU per frame ${(window.clientCpuUs / Math.max(1, window.analysis.deliveries)).toFixed(1)} µs, server CPU per frame ${(window.cpuUs / Math.max(1, window.analysis.deliveries)).toFixed(1)} µs, interference ${JSON.stringify(window.interference)}`);
  for (const name of [...seg.keys()].sort()) console.log(`  ${name.padEnd(56)} ${fmt(seg.get(name)!.summary())}`);
}

for (let run = 0; run < runs; run++) await once(run);
process.exit(0);

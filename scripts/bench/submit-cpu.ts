/**
 * Server CPU per `generateVideo`, for profiling the submit path (issue 15, item 3): the bench's
 * gateway child (server.ts: gateway and fal simulator in one process, the throughput scenario's
 * environment), a fixed number of submits at 50 in flight, the child's process.cpuUsage() delta
 * divided by the submits. The same number of direct POSTs to the simulator in the same child gives
 * the simulator's own share, which is subtracted to give the gateway's.
 *
 *   node --experimental-strip-types scripts/bench/submit-cpu.ts [--n 4000] [--warm 1500] [--rounds 3] [--profile FILE] [--top 25]
 *        [--sqlite PATH (default :memory:, as in the bench)] [--log-level warn] [--node-flag=--max-semi-space-size=64]
 *
 * --profile writes a V8 CPU profile of the child over the last gateway round (control.ts endpoints)
 * and prints its top self-time entries and a per-area summary. CPU time is used because the machine
 * is shared: latency figures printed here are indicative only.
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { Pool } from 'undici';
import { detectMachine } from './proc.ts';
import { IMAGE_URL, startGateway, SUBMIT_MUTATION } from './gateway.ts';
import { nowUs } from './common.ts';

const { values } = parseArgs({
  options: {
    n: { type: 'string', default: '4000' },
    warm: { type: 'string', default: '1500' },
    rounds: { type: 'string', default: '3' },
    profile: { type: 'string' },
    top: { type: 'string', default: '25' },
    'in-flight': { type: 'string', default: '50' },
    /** SQLITE_PATH of the gateway (the bench's is ':memory:'); a file shows what the WAL writes cost. */
    sqlite: { type: 'string', default: ':memory:' },
    'log-level': { type: 'string', default: 'warn' },
    /** A V8/Node flag for the gateway child after production's (repeatable), e.g. --node-flag=--max-semi-space-size=64. */
    'node-flag': { type: 'string', multiple: true },
  },
});
const N = Number(values.n);
const WARM = Number(values.warm);
const ROUNDS = Number(values.rounds);
const IN_FLIGHT = Number(values['in-flight']);

const machine = detectMachine(false);
const child = await startGateway(machine, {
  pollMs: 600_000,
  timing: { initialQueuePosition: 3, queueStepMs: 60_000 },
  env: { SQLITE_PATH: values.sqlite, LOG_LEVEL: values['log-level'] },
  nodeFlags: values['node-flag'] ?? [],
});
const info = child.info;

type Target = 'gateway' | 'direct';
let counter = 0;
async function drive(target: Target, count: number): Promise<{ cpuUs: number; sysUs: number; gcUs: number; errors: number; p50: number; p99: number; firstError: string | null }> {
  const origin = target === 'gateway' ? new URL(info.httpUrl).origin : info.simulatorUrl;
  const path = target === 'gateway' ? new URL(info.httpUrl).pathname : `/${info.model}`;
  const headers =
    target === 'gateway'
      ? { 'content-type': 'application/json', accept: 'application/graphql-response+json, application/json' }
      : { 'content-type': 'application/json', authorization: `Key ${info.falKey}` };
  const prompt = 'A cat surfing a wave at sunset, cinematic';
  const body = () =>
    target === 'gateway'
      ? JSON.stringify({ query: SUBMIT_MUTATION, variables: { input: { prompt: `${prompt} #${counter++}`, imageUrl: IMAGE_URL, duration: 'SECONDS_5' } } })
      : JSON.stringify({ prompt: `${prompt} #${counter++}`, image_url: IMAGE_URL, duration: '5' });
  const pool = new Pool(origin, { connections: IN_FLIGHT, pipelining: 1, keepAliveTimeout: 60_000 });
  let left = count;
  let errors = 0;
  let firstError: string | null = null;
  const latencies: number[] = [];
  const before = await child.stats();
  const worker = async () => {
    while (left-- > 0) {
      const t0 = nowUs();
      const response = await pool.request({ origin, path, method: 'POST', headers, body: body() });
      const text = await response.body.text();
      latencies.push((nowUs() - t0) / 1000);
      const ok = response.statusCode === 200 && (target === 'direct' ? text.includes('request_id') : text.includes('"generateVideo":{') && !text.includes('"errors"'));
      if (!ok) {
        errors++;
        firstError ??= `${response.statusCode} ${text.slice(0, 300)}`;
      }
    }
  };
  await Promise.all(Array.from({ length: IN_FLIGHT }, worker));
  const after = await child.stats();
  await pool.close();
  latencies.sort((a, b) => a - b);
  const at = (p: number) => latencies[Math.min(latencies.length - 1, Math.floor((p / 100) * latencies.length))] ?? NaN;
  return { cpuUs: after.cpuUserUs + after.cpuSystemUs - before.cpuUserUs - before.cpuSystemUs, sysUs: after.cpuSystemUs - before.cpuSystemUs, gcUs: (after.gc.ms - before.gc.ms) * 1000, errors, p50: at(50), p99: at(99), firstError };
}

try {
  await drive('gateway', WARM);
  await drive('direct', WARM);
  const gateway: number[] = [];
  const direct: number[] = [];
  for (let round = 0; round < ROUNDS; round++) {
    const last = round === ROUNDS - 1;
    const d = await drive('direct', N);
    direct.push(d.cpuUs / N);
    if (last && values.profile) await child.post('/profile/start');
    const g = await drive('gateway', N);
    if (last && values.profile) await child.post('/profile/stop', { path: values.profile });
    gateway.push(g.cpuUs / N);
    console.log(
      `round ${round + 1}: gateway ${(g.cpuUs / N).toFixed(0)} µs/submit (${(g.sysUs / N).toFixed(0)} system, GC ${((g.gcUs / g.cpuUs) * 100).toFixed(1)} %; p50 ${g.p50.toFixed(1)} ms, p99 ${g.p99.toFixed(1)} ms, ${g.errors} errors${g.firstError ? `: ${g.firstError}` : ''}); ` +
        `direct ${(d.cpuUs / N).toFixed(0)} µs/POST (${(d.sysUs / N).toFixed(0)} system; p99 ${d.p99.toFixed(1)} ms, ${d.errors} errors)${last && values.profile ? ' [gateway round profiled]' : ''}`,
    );
  }
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
  const g = median(ROUNDS > 1 && values.profile ? gateway.slice(0, -1) : gateway);
  const d = median(direct);
  console.log(`median: gateway+simulator ${g.toFixed(0)} µs/submit, simulator alone ${d.toFixed(0)} µs/POST, gateway's own ≈ ${(g - d).toFixed(0)} µs/submit${ROUNDS > 1 && values.profile ? ' (profiled round left out)' : ''}`);
  if (values.profile) summarize(values.profile, Number(values.top));
} finally {
  await child.stop();
}

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}

/** Self time by function (top N) and by area (our code by folder, node_modules by package, node internals). */
function summarize(path: string, top: number): void {
  const profile = JSON.parse(readFileSync(path, 'utf8')) as { nodes: ProfileNode[]; samples: number[]; timeDeltas: number[] };
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const self = new Map<number, number>();
  profile.samples.forEach((id, i) => self.set(id, (self.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0)));
  let total = 0;
  const byFunction = new Map<string, number>();
  const byArea = new Map<string, number>();
  for (const [id, us] of self) {
    const node = byId.get(id)!;
    const { functionName, url, lineNumber } = node.callFrame;
    if (functionName === '(idle)') continue;
    total += us;
    const file = url.replace(/^file:\/\//, '').replace(/^.*\/wt\/[^/]+\//, '');
    byFunction.set(`${functionName || '(anonymous)'} ${file}:${lineNumber + 1}`, (byFunction.get(`${functionName || '(anonymous)'} ${file}:${lineNumber + 1}`) ?? 0) + us);
    byArea.set(area(file, functionName), (byArea.get(area(file, functionName)) ?? 0) + us);
  }
  const print = (title: string, map: Map<string, number>, n: number) => {
    console.log(`\n${title} (self time, % of ${(total / 1000).toFixed(0)} ms non-idle)`);
    for (const [name, us] of [...map].sort((a, b) => b[1] - a[1]).slice(0, n)) console.log(`  ${((us / total) * 100).toFixed(1).padStart(5)} %  ${name}`);
  };
  print('top functions', byFunction, top);
  print('by area', byArea, 30);
}

function area(file: string, functionName: string): string {
  const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(file);
  if (pkg) return `pkg ${pkg[1]}`;
  if (file.startsWith('src/fal-simulator')) return 'src/fal-simulator';
  if (file.startsWith('src/')) return file.split('/').slice(0, 2).join('/');
  if (file.startsWith('scripts/')) return 'scripts';
  if (file.startsWith('node:')) return `node ${file.slice(5).split('/')[0]}`;
  if (!file) return `(native) ${functionName}`;
  return file;
}

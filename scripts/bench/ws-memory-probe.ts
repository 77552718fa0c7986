/**
 * Memory per graphql-ws subscription, measured closely (issue 15): the gateway (server.ts) or the raw
 * `ws` floor (raw-ws-server.ts) in a child process with --expose-gc; this process opens N connections,
 * each with one `jobUpdates` subscription to the same job (the cohort path), and reads the child's
 * RSS and heap before and after, without and then with a forced GC. With --snapshots, heap snapshots
 * of the child at the baseline and at N are written and diffed by constructor (heap-diff.ts).
 *
 *   node --experimental-strip-types scripts/bench/ws-memory-probe.ts [--n 2000] [--kind graphql-ws|raw-ws|both]
 *        [--runs 1] [--snapshots DIR]
 *
 * Not part of `npm run bench`: a tool for finding what each connection holds.
 */
import { mkdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { createFleet, type Fleet, type FleetKind } from './clients.ts';
import { sleep, UPDATE_QUERY } from './common.ts';
import { CHILD_NOFILE, GATEWAY_NODE_FLAGS, gatewayEnv, RAW_SCRIPT, SERVER_CORE, SERVER_SCRIPT, submitJob } from './gateway.ts';
import { diffSnapshots, formatDiff } from './heap-diff.ts';
import { detectMachine, spawnChild, type Child } from './proc.ts';

const { values } = parseArgs({
  options: {
    n: { type: 'string', default: '2000' },
    kind: { type: 'string', default: 'both' },
    runs: { type: 'string', default: '1' },
    snapshots: { type: 'string' },
    top: { type: 'string', default: '40' },
    /** Extra node flags for the child, after production's (the gateway's start flags), e.g. "--max-semi-space-size=8" to override. */
    'node-flags': { type: 'string', default: '' },
    /** Also sample (no forced GC) this many ms after the ramp, to see V8's memory reducer at work. */
    settle: { type: 'string', default: '0' },
  },
});
const n = Number(values.n);
const runs = Number(values.runs);
const kinds: FleetKind[] = values.kind === 'both' ? ['raw-ws', 'graphql-ws'] : [values.kind as FleetKind];
const machine = detectMachine(false);
const nodeFlags = ['--expose-gc', ...(values['node-flags'] ? values['node-flags'].split(/\s+/) : [])];
const WARM = 20;
const KiB = 1024;

interface Sample {
  rss: number;
  heapTotal: number;
  heapUsed: number;
  external: number;
  arrayBuffers: number;
  spaces: Record<string, { size: number; used: number }>;
  brk: number;
  anon: number;
}

/** Resident bytes of the child by kind of mapping (/proc/PID/smaps): the brk heap (malloc), other anonymous memory (V8's pages, malloc's mmap arenas), files. */
function residentByMapping(pid: number): { brk: number; anon: number; file: number } {
  const out = { brk: 0, anon: 0, file: 0 };
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/smaps`, 'utf8');
  } catch {
    return out;
  }
  let kind: keyof typeof out = 'anon';
  for (const line of text.split('\n')) {
    const head = /^[0-9a-f]+-[0-9a-f]+ \S+ \S+ \S+ \S+\s*(.*)$/.exec(line);
    if (head) {
      const name = head[1]!.trim();
      kind = name === '[heap]' ? 'brk' : name === '' || name.startsWith('[anon') ? 'anon' : 'file';
      continue;
    }
    const rss = /^Rss:\s+(\d+) kB/.exec(line);
    if (rss) out[kind] += Number(rss[1]) * 1024;
  }
  return out;
}

async function sample(child: Child<{ pid: number }>): Promise<Sample> {
  const { rss, heapTotal, heapUsed, external, arrayBuffers } = await child.stats();
  const { brk, anon } = residentByMapping(child.info.pid);
  const list = await child.get<Array<{ space_name: string; space_size: number; space_used_size: number }>>('/heap/spaces');
  const spaces = Object.fromEntries(list.map((s) => [s.space_name, { size: s.space_size, used: s.space_used_size }]));
  return { rss, heapTotal, heapUsed, external, arrayBuffers, spaces, brk, anon };
}

function perSub(a: Sample, b: Sample, live: number) {
  const k = (x: number) => Number((x / live / KiB).toFixed(2));
  const spaces: Record<string, string> = {};
  for (const [name, space] of Object.entries(b.spaces)) {
    const before = a.spaces[name] ?? { size: 0, used: 0 };
    if (space.size !== before.size || space.used !== before.used) spaces[name.replace(/_space$/, '')] = `${k(space.size - before.size)}/${k(space.used - before.used)}`;
  }
  return { spacesSizeUsedKiB: spaces, rssKiB: k(b.rss - a.rss), mallocBrkKiB: k(b.brk - a.brk), anonKiB: k(b.anon - a.anon), heapTotalKiB: k(b.heapTotal - a.heapTotal), heapKiB: k(b.heapUsed - a.heapUsed), externalKiB: k(b.external - a.external), arrayBuffersKiB: k(b.arrayBuffers - a.arrayBuffers) };
}

async function probe(kind: FleetKind, run: number) {
  let child: Child<any>;
  let url: string;
  let variables: Record<string, unknown> | undefined;
  if (kind === 'raw-ws') {
    child = await spawnChild({ script: RAW_SCRIPT, env: {}, machine, core: SERVER_CORE, nofile: CHILD_NOFILE, nodeFlags });
    url = child.info.wsUrl;
  } else {
    // A job deep in a queue that does not move: the subscriptions stay idle.
    const env = gatewayEnv(1000, { BENCH_SIM_TIMING: JSON.stringify({ initialQueuePosition: 500, queueStepMs: 3_600_000 }) });
    child = await spawnChild({ script: SERVER_SCRIPT, env, machine, core: SERVER_CORE, nofile: CHILD_NOFILE, nodeFlags: [...GATEWAY_NODE_FLAGS, ...nodeFlags] });
    const job = await submitJob(child.info.httpUrl, 'memory probe');
    url = child.info.wsUrl;
    variables = { id: job.id };
  }
  let fleet: Fleet | null = null;
  try {
    fleet = createFleet(kind, { url, query: UPDATE_QUERY, ...(variables ? { variables } : {}) });
    await fleet.grow(WARM, { concurrency: 10 });
    await sleep(300);
    await child.post('/gc');
    await sleep(300);
    const fresh = await sample(child);
    const dir = values.snapshots ? resolve(values.snapshots) : null;
    if (dir) {
      mkdirSync(dir, { recursive: true });
      await child.post('/heap/snapshot', { path: join(dir, `${kind}-${run}-base.heapsnapshot`) });
      await child.post('/gc');
      await sleep(300);
    }
    const base = await sample(child);
    await fleet.grow(n, { concurrency: 200, deadlineMs: 120_000 });
    const live = fleet.live() - WARM;
    await sleep(1000);
    const noGc = await sample(child);
    const settleMs = Number(values.settle);
    let settled: ReturnType<typeof perSub> | null = null;
    if (settleMs > 0) {
      await sleep(settleMs);
      settled = perSub(base, await sample(child), live);
    }
    await child.post('/gc');
    await sleep(500);
    const gc = await sample(child);
    let diff: string | null = null;
    if (dir) {
      const full = join(dir, `${kind}-${run}-full.heapsnapshot`);
      await child.post('/heap/snapshot', { path: full });
      diff = formatDiff(diffSnapshots(join(dir, `${kind}-${run}-base.heapsnapshot`), full), live, Number(values.top));
    }
    const errors = Object.fromEntries(fleet.errors);
    const youngMiB = (x: Sample) => Number(((x.spaces['new_space']?.size ?? 0) / KiB / KiB).toFixed(1));
    return { kind, run, live, errors, newSpaceMiB: [youngMiB(base), youngMiB(gc)], noGc: perSub(base, noGc, live), ...(settled ? { settled } : {}), gc: perSub(base, gc, live), baseRssMiB: base.rss / KiB / KiB, freshToBase: perSub(fresh, base, 1), diff };
  } finally {
    fleet?.quiesce();
    fleet?.close();
    await child.stop();
  }
}

for (let run = 1; run <= runs; run++) {
  for (const kind of kinds) {
    const result = await probe(kind, run);
    const { diff, ...figures } = result;
    console.log(JSON.stringify(figures));
    if (diff) console.log(diff);
  }
}
process.exit(0);

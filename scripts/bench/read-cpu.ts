/**
 * `node scripts/bench/read-cpu.ts [--floor] [--compare DIR] [--env K=V,...] [--n 2000] [--rounds 5] [--only job,usage] [--profile DIR]`:
 * server CPU per request of each read-path query (read-path.ts) on the gateway, and with --floor on the
 * plain Yoga floor, with --compare DIR on the gateway of another checkout (a before/after of one change),
 * with --env on a second gateway with those extra environment variables.
 * The servers take turns query by query, round by round; the figure is the median and the minimum over
 * the rounds. CPU time per request does not depend on other load the way requests per second do.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { Pool } from 'undici';
import { detectMachine, spawnChild, type Child } from './proc.ts';
import { CHILD_NOFILE, GATEWAY_NODE_FLAGS, gatewayEnv, SERVER_CORE, SERVER_SCRIPT } from './gateway.ts';
import { FLOOR_SCRIPT, READ_API_KEY, READ_QUERIES, READ_TENANT, readBodies, seedJobs, usageFrom, seedStore, type ReadQuery } from './read-path.ts';
import { spread } from './stats.ts';

const { values } = parseArgs({ options: { floor: { type: 'boolean' }, compare: { type: 'string' }, env: { type: 'string' }, n: { type: 'string' }, only: { type: 'string' }, profile: { type: 'string' }, rounds: { type: 'string' } } });
const n = Number(values.n ?? 2000);
const rounds = Number(values.rounds ?? 5);
const queries = (values.only ? values.only.split(',') : READ_QUERIES) as ReadQuery[];
const machine = detectMachine(true);
const dir = mkdtempSync(join(tmpdir(), 'read-cpu-'));
const children: Child<{ httpUrl: string }>[] = [];
interface T { name: string; child: Child<{ httpUrl: string }>; headers: Record<string, string>; body: Record<ReadQuery, string>; pool: Pool; cpu: Map<ReadQuery, number[]> }
try {
  const now = Date.now();
  const jobs = seedJobs(now);
  const jobsPath = join(dir, 'jobs.json');
  writeFileSync(jobsPath, JSON.stringify(jobs));
  const json = { 'content-type': 'application/json', accept: 'application/graphql-response+json, application/json' };
  const targets: T[] = [];
  const add = async (name: string, child: Child<{ httpUrl: string }>, headers: Record<string, string>) => {
    children.push(child);
    const body = await readBodies({ name: 'gateway', child, headers }, jobs, usageFrom(now));
    targets.push({ name, child, headers, body, pool: new Pool(new URL(child.info.httpUrl).origin, { connections: 16 }), cpu: new Map() });
  };
  const gateway = async (name: string, script: string, extra: Record<string, string> = {}) => {
    const sqlitePath = join(dir, `${name}.sqlite`);
    await seedStore(sqlitePath, jobs);
    const env = gatewayEnv(600_000, { BENCH_SIM_TIMING: JSON.stringify({ initialQueuePosition: 3, queueStepMs: 60_000 }), SQLITE_PATH: sqlitePath, GATEWAY_API_KEYS: `${READ_TENANT}:${READ_API_KEY}`, ...extra });
    await add(name, await spawnChild({ script, env, machine, core: SERVER_CORE, nofile: CHILD_NOFILE, nodeFlags: GATEWAY_NODE_FLAGS }), { ...json, authorization: `Bearer ${READ_API_KEY}` });
  };
  await gateway('gateway', SERVER_SCRIPT);
  if (values.compare) await gateway('compare', join(values.compare, 'scripts/bench/server.ts'));
  if (values.env) await gateway('with-env', SERVER_SCRIPT, Object.fromEntries(values.env.split(',').map((pair) => [pair.slice(0, pair.indexOf('=')), pair.slice(pair.indexOf('=') + 1)])));
  if (values.floor) await add('floor', await spawnChild({ script: FLOOR_SCRIPT, env: { BENCH_FLOOR_JOBS: jobsPath }, machine, core: SERVER_CORE }), json);

  const fire = async (t: T, text: string, count: number) => {
    const url = new URL(t.child.info.httpUrl);
    let next = 0;
    let bad = 0;
    await Promise.all(Array.from({ length: 16 }, async () => {
      while (next++ < count) {
        const r = await t.pool.request({ origin: url.origin, path: url.pathname, method: 'POST', headers: t.headers, body: text });
        const body = await r.body.text();
        if (r.statusCode !== 200 || body.includes('"errors"')) bad++;
      }
    }));
    if (bad) console.log(`${t.name}: ${bad} bad answers`);
  };
  for (const t of targets) for (const q of queries) await fire(t, t.body[q], 500); // warm up
  for (let round = 0; round < rounds; round++) {
    for (const q of queries) {
      for (const t of round % 2 ? [...targets].reverse() : targets) {
        if (values.profile) await t.child.post('/profile/start');
        const before = await t.child.stats();
        await fire(t, t.body[q], n);
        const after = await t.child.stats();
        if (values.profile) await t.child.post('/profile/stop', { path: join(values.profile, `${t.name}-${q}-${round}.cpuprofile`) });
        const list = t.cpu.get(q) ?? [];
        list.push((after.cpuUserUs + after.cpuSystemUs - before.cpuUserUs - before.cpuSystemUs) / n);
        t.cpu.set(q, list);
      }
    }
  }
  for (const t of targets) {
    console.log(`${t.name.padEnd(8)} ${queries.map((q) => { const s = spread(t.cpu.get(q) ?? []); return `${q} ${s.median.toFixed(0)} (min ${s.min.toFixed(0)})`; }).join(', ')} µs CPU/request`);
  }
  for (const t of targets) await t.pool.close();
} finally {
  for (const child of children) await child.stop();
  rmSync(dir, { recursive: true, force: true });
}

/**
 * `node scripts/bench/read-cpu.ts [--floor] [--n 3000] [--only job,usage] [--profile DIR]`: server CPU per request of
 * each read-path query (read-path.ts), on the gateway (or the plain Yoga floor) alone, for profiling and
 * before/after comparisons of one change: CPU time is independent of other load on the machine, unlike
 * requests per second.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { Pool } from 'undici';
import { detectMachine, spawnChild, type Child } from './proc.ts';
import { startGateway, SERVER_CORE } from './gateway.ts';
import { READ_QUERIES, readBodies, seedJobs, seedStore, READ_API_KEY, READ_TENANT, FLOOR_SCRIPT, type ReadQuery } from './read-path.ts';

const { values } = parseArgs({ options: { floor: { type: 'boolean' }, n: { type: 'string' }, only: { type: 'string' }, profile: { type: 'string' }, rounds: { type: 'string' } } });
const n = Number(values.n ?? 3000);
const rounds = Number(values.rounds ?? 2);
const queries = (values.only ? values.only.split(',') : READ_QUERIES) as ReadQuery[];
const machine = detectMachine(true);
const dir = mkdtempSync(join(tmpdir(), 'read-cpu-'));
let child: Child<{ httpUrl: string }> | null = null;
try {
  const now = Date.now();
  const jobs = seedJobs(now);
  const sqlitePath = join(dir, 'gateway.sqlite');
  const jobsPath = join(dir, 'jobs.json');
  const json = { 'content-type': 'application/json', accept: 'application/graphql-response+json, application/json' };
  let headers: Record<string, string>;
  if (values.floor) {
    writeFileSync(jobsPath, JSON.stringify(jobs));
    child = await spawnChild<{ httpUrl: string }>({ script: FLOOR_SCRIPT, env: { BENCH_FLOOR_JOBS: jobsPath }, machine, core: SERVER_CORE });
    headers = json;
  } else {
    await seedStore(sqlitePath, jobs);
    child = await startGateway(machine, { pollMs: 600_000, timing: { initialQueuePosition: 3, queueStepMs: 60_000 }, env: { SQLITE_PATH: sqlitePath, GATEWAY_API_KEYS: `${READ_TENANT}:${READ_API_KEY}` } });
    headers = { ...json, authorization: `Bearer ${READ_API_KEY}` };
  }
  const target = { name: values.floor ? ('floor' as const) : ('gateway' as const), child, headers };
  const body = await readBodies(target, jobs, new Date(now - 86_400_000).toISOString());
  const url = new URL(child.info.httpUrl);
  const pool = new Pool(url.origin, { connections: 16, pipelining: 1 });
  const fire = async (text: string, count: number) => {
    let next = 0;
    let bad = 0;
    await Promise.all(Array.from({ length: 16 }, async () => {
      while (next++ < count) {
        const r = await pool.request({ origin: url.origin, path: url.pathname, method: 'POST', headers, body: text });
        const t = await r.body.text();
        if (r.statusCode !== 200 || t.includes('"errors"')) bad++;
      }
    }));
    return bad;
  };
  for (const q of queries) await fire(body[q], 500); // warm up
  for (let round = 0; round < rounds; round++) {
    const line: string[] = [];
    for (const q of queries) {
      if (values.profile) await child.post('/profile/start');
      const before = await child.stats();
      const bad = await fire(body[q], n);
      const after = await child.stats();
      if (values.profile) await child.post('/profile/stop', { path: join(values.profile, `${q}-${round}.cpuprofile`) });
      const us = (after.cpuUserUs + after.cpuSystemUs - before.cpuUserUs - before.cpuSystemUs) / n;
      line.push(`${q} ${us.toFixed(0)} µs${bad ? ` (${bad} bad)` : ''}`);
    }
    console.log(`${target.name} round ${round + 1}: ${line.join(', ')}`);
  }
  await pool.close();
} finally {
  await child?.stop();
  rmSync(dir, { recursive: true, force: true });
}

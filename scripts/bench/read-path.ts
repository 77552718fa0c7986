/**
 * Scenario `read`: the queries dashboards poll, over HTTP POST /graphql (keep-alive, READ_CONCURRENCY
 * requests in flight from this load process), against the gateway with a realistic store and, in the
 * same run, against the floor: a plain Yoga server (yoga-floor-server.ts) answering the same query
 * shapes from in-memory arrays.
 *
 * The store: SEED_JOBS jobs of one tenant in a SQLite file (several statuses, logs, videos, errors,
 * costs), seeded before the gateway starts; the floor gets the same jobs as JSON. The gateway is called
 * with an API key, as a dashboard would be. Each query is measured on both servers back to back (the
 * order alternates); figures: requests/s, latency, and server-process CPU per request (cpuUsage delta /
 * requests in the window: independent of other people's load on the machine).
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Pool } from 'undici';
import type { Job, JobStatus } from '../../src/domain/job.ts';
import { createSqliteJobStore } from '../../src/store/sqlite-job-store.ts';
import { nowUs, sleep } from './common.ts';
import { LOAD_CORE, SERVER_CORE, startGateway } from './gateway.ts';
import { Interference, spawnChild, type Child } from './proc.ts';
import type { BenchContext } from './scenarios.ts';
import { fmt, fmtSpread, percentile, Samples, spread } from './stats.ts';

export const READ_CONCURRENCY = 32;
export const SEED_JOBS = 3000;
export const READ_TENANT = 'bench';
export const READ_API_KEY = 'bench-read-key-0123456789';
export const FLOOR_SCRIPT = fileURLToPath(new URL('./yoga-floor-server.ts', import.meta.url));

/** The fields the built-in dashboard selects for a job (src/dashboard/queries.js, with cost). */
const JOB_FIELDS = `id requestId status queuePosition createdAt updatedAt completedAt cancelRequested
    input { prompt imageUrl duration negativePrompt cfgScale }
    logs { message level timestamp }
    video { url contentType fileName fileSize }
    error { code message }
    cost { amount currency }`;
const JOB_QUERY = `query Job($id: ID!) { job(id: $id) { ${JOB_FIELDS} } }`;
const JOBS_QUERY = `query Jobs($first: Int, $after: String, $status: JobStatus) {
  jobs(first: $first, after: $after, status: $status) {
    edges { cursor node { ${JOB_FIELDS} } }
    pageInfo { hasNextPage endCursor }
  }
}`;
const USAGE_QUERY = `query Usage($from: DateTime) {
  usage(from: $from) { spent { amount currency } jobs completed failed cancelled inProgress dailyBudget { amount currency } }
}`;

export const READ_QUERIES = ['job', 'jobs', 'jobsStatus', 'jobsAfter', 'usage'] as const;
export type ReadQuery = (typeof READ_QUERIES)[number];
export const READ_LABELS: Record<ReadQuery, string> = {
  job: 'job(id:)',
  jobs: 'jobs(first: 20)',
  jobsStatus: 'jobs(first: 20, status: FAILED)',
  jobsAfter: 'jobs(first: 20, after: <page 1 endCursor>)',
  usage: 'usage(from: today 00:00 UTC)',
};

export interface ReadSide {
  perSecond: number;
  p50Ms: number;
  p99Ms: number;
  completed: number;
  errors: number;
  firstError: string | null;
  serverCpuPerRequestUs: number;
  clientCpuPerRequestUs: number;
  interference: { serverCorePct: number; loadCorePct: number } | null;
}

export interface ReadResult {
  run: number;
  query: ReadQuery;
  gateway: ReadSide;
  floor: ReadSide;
  /** Whether both answered the same `data` (a check that the floor answers the same shape). */
  sameData: boolean;
}

// ---------------------------------------------------------------------------------------------
// The store

/** Where the dashboard's usage starts: today, 00:00 UTC (src/dashboard/app.js). */
export function usageFrom(nowMs: number): string {
  return `${new Date(nowMs).toISOString().slice(0, 10)}T00:00:00.000Z`;
}

/**
 * SEED_JOBS jobs, newest first: the newest unfinished, the rest mostly COMPLETED, some FAILED or
 * CANCELLED; created today (UTC), 7 s apart (closer early in the day), so `usage` of today counts them all.
 */
export function seedJobs(nowMs: number, n = SEED_JOBS): Job[] {
  const jobs: Job[] = [];
  const spacing = Math.max(1, Math.min(7_000, Math.floor((nowMs - Date.parse(usageFrom(nowMs)) - 1_000) / n)));
  for (let i = 0; i < n; i++) {
    const created = nowMs - 1_000 - i * spacing;
    const status: JobStatus = i < 60 ? (i % 3 === 0 ? 'IN_PROGRESS' : 'IN_QUEUE') : i % 50 < 36 ? 'COMPLETED' : i % 50 < 45 ? 'FAILED' : 'CANCELLED';
    const at = (ms: number) => new Date(ms).toISOString();
    const finished = status === 'COMPLETED' || status === 'FAILED' || status === 'CANCELLED';
    const id = `0190${created.toString(16).padStart(12, '0').slice(-8)}-${(i % 65536).toString(16).padStart(4, '0')}-7000-8000-${i.toString(16).padStart(12, '0')}`;
    const logs = Array.from({ length: status === 'COMPLETED' ? 6 : status === 'IN_QUEUE' ? 1 : 3 }, (_, k) => ({
      message: k === 0 ? 'Request accepted' : `Step ${k}: rendering frames ${k * 20}/120`,
      level: 'INFO',
      timestamp: at(created + 1000 + k * 4000),
    }));
    jobs.push({
      id,
      tenant: READ_TENANT,
      userId: null,
      requestId: `req-${i.toString(16).padStart(8, '0')}-bench`,
      model: 'fal-ai/kling-video/v2.5-turbo/pro/image-to-video',
      status,
      queuePosition: status === 'IN_QUEUE' ? i % 7 : null,
      logs,
      video: status === 'COMPLETED' ? { url: `https://v3.fal.media/files/bench/${id}.mp4`, contentType: 'video/mp4', fileName: 'output.mp4', fileSize: 2_000_000 + i, upstreamUrl: `https://v3.fal.media/files/bench/${id}.mp4`, durable: false } : null,
      error: status === 'FAILED' ? { message: 'The model could not process the image.', code: 'RUNNER_ERROR' } : null,
      input: {
        prompt: `A cat surfing a wave at sunset, cinematic, shot ${i}`,
        imageUrl: `https://images.example.com/bench/${i % 40}.png`,
        duration: i % 4 === 0 ? '10' : '5',
        negativePrompt: i % 3 === 0 ? 'blur, distort, and low quality' : null,
        cfgScale: i % 2 === 0 ? 0.5 : null,
      },
      idempotencyKey: null,
      cancelRequested: status === 'CANCELLED',
      createdAt: at(created),
      updatedAt: at(created + 30_000),
      completedAt: finished ? at(created + 30_000) : null,
      version: logs.length + 2,
      costNanoUsd: (i % 4 === 0 ? 10 : 5) * 70_000_000,
    });
  }
  return jobs;
}

export async function seedStore(path: string, jobs: Job[]): Promise<void> {
  const store = createSqliteJobStore({ path });
  try {
    for (const job of [...jobs].reverse()) await store.create(job);
  } finally {
    await store.close();
  }
}

// ---------------------------------------------------------------------------------------------
// Load

export interface Target {
  name: 'gateway' | 'floor';
  child: Child<{ httpUrl: string }>;
  headers: Record<string, string>;
}

async function post(target: Target, pool: Pool, body: string): Promise<{ status: number; text: string }> {
  const url = new URL(target.child.info.httpUrl);
  const response = await pool.request({ origin: url.origin, path: url.pathname, method: 'POST', headers: target.headers, body, headersTimeout: 30_000, bodyTimeout: 30_000 });
  return { status: response.statusCode, text: await response.body.text() };
}

async function measure(ctx: BenchContext, target: Target, body: string, seconds: number, profilePath: string | null): Promise<ReadSide> {
  const url = new URL(target.child.info.httpUrl);
  const pool = new Pool(url.origin, { connections: READ_CONCURRENCY, pipelining: 1, keepAliveTimeout: 60_000 });
  const latencies = new Samples();
  let completed = 0;
  let errors = 0;
  let firstError: string | null = null;
  const warmMs = ctx.quick ? 500 : 1000;
  let measuring = false;
  let stop = false;
  const worker = async () => {
    while (!stop) {
      const t0 = nowUs();
      let ok = false;
      try {
        const { status, text } = await post(target, pool, body);
        ok = status === 200 && text.startsWith('{"data":{') && !text.includes('"errors"');
        if (!ok && firstError === null) firstError = `${status} ${text.slice(0, 200)}`;
      } catch (error) {
        if (firstError === null) firstError = error instanceof Error ? error.message : String(error);
      }
      if (!measuring) continue;
      if (ok) {
        completed++;
        latencies.push((nowUs() - t0) / 1000);
      } else errors++;
    }
  };
  const workers = Promise.all(Array.from({ length: READ_CONCURRENCY }, worker));
  await sleep(warmMs);
  if (profilePath) await target.child.post('/profile/start');
  const before = await target.child.stats();
  const interference = new Interference();
  const client = process.cpuUsage();
  const started = performance.now();
  measuring = true;
  await sleep(seconds * 1000);
  measuring = false;
  const windowSeconds = (performance.now() - started) / 1000;
  const clientCpu = process.cpuUsage(client);
  const after = await target.child.stats();
  stop = true;
  await workers;
  await pool.close();
  if (profilePath) await target.child.post('/profile/stop', { path: profilePath });
  const serverCpuUs = after.cpuUserUs + after.cpuSystemUs - before.cpuUserUs - before.cpuSystemUs;
  const requests = completed + errors;
  const sorted = latencies.sorted();
  return {
    perSecond: completed / windowSeconds,
    p50Ms: percentile(sorted, 50),
    p99Ms: percentile(sorted, 99),
    completed,
    errors,
    firstError,
    serverCpuPerRequestUs: requests > 0 ? serverCpuUs / requests : NaN,
    clientCpuPerRequestUs: requests > 0 ? (clientCpu.user + clientCpu.system) / requests : NaN,
    interference: interference.finish(serverCpuUs, SERVER_CORE, LOAD_CORE),
  };
}

/** The request body of each query on one target (the second page's cursor is that target's own). */
export async function readBodies(target: Target, jobs: Job[], from: string): Promise<Record<ReadQuery, string>> {
  const pool = new Pool(new URL(target.child.info.httpUrl).origin, { connections: 1 });
  try {
    const first = JSON.parse((await post(target, pool, JSON.stringify({ query: JOBS_QUERY, variables: { first: 20 } }))).text) as {
      data?: { jobs?: { pageInfo?: { endCursor?: string } } };
    };
    const cursor = first.data?.jobs?.pageInfo?.endCursor;
    if (!cursor) throw new Error(`${target.name}: no endCursor on the first page: ${JSON.stringify(first).slice(0, 300)}`);
    const oneJob = jobs.find((job) => job.status === 'COMPLETED')!;
    return {
      job: JSON.stringify({ query: JOB_QUERY, variables: { id: oneJob.id } }),
      jobs: JSON.stringify({ query: JOBS_QUERY, variables: { first: 20 } }),
      jobsStatus: JSON.stringify({ query: JOBS_QUERY, variables: { first: 20, status: 'FAILED' } }),
      jobsAfter: JSON.stringify({ query: JOBS_QUERY, variables: { first: 20, after: cursor } }),
      usage: JSON.stringify({ query: USAGE_QUERY, variables: { from } }),
    };
  } finally {
    await pool.close();
  }
}

async function dataOf(target: Target, body: string): Promise<string> {
  const pool = new Pool(new URL(target.child.info.httpUrl).origin, { connections: 1 });
  try {
    return JSON.stringify((JSON.parse((await post(target, pool, body)).text) as { data?: unknown }).data ?? null);
  } finally {
    await pool.close();
  }
}

/** One run: both servers, every query, `seconds` each side. */
export async function readPath(ctx: BenchContext, seconds: number, run: number, queries: readonly ReadQuery[] = READ_QUERIES): Promise<ReadResult[]> {
  const dir = mkdtempSync(join(tmpdir(), 'gateway-bench-read-'));
  let gateway: Child<{ httpUrl: string }> | null = null;
  let floor: Child<{ httpUrl: string }> | null = null;
  try {
    const now = Date.now();
    const jobs = seedJobs(now);
    const sqlitePath = join(dir, 'gateway.sqlite');
    const jobsPath = join(dir, 'jobs.json');
    await seedStore(sqlitePath, jobs);
    writeFileSync(jobsPath, JSON.stringify(jobs));
    gateway = await startGateway(ctx.machine, {
      pollMs: 600_000,
      timing: { initialQueuePosition: 3, queueStepMs: 60_000 },
      env: { SQLITE_PATH: sqlitePath, GATEWAY_API_KEYS: `${READ_TENANT}:${READ_API_KEY}` },
    });
    floor = await spawnChild<{ httpUrl: string }>({ script: FLOOR_SCRIPT, env: { BENCH_FLOOR_JOBS: jobsPath }, machine: ctx.machine, core: SERVER_CORE });
    const json = { 'content-type': 'application/json', accept: 'application/graphql-response+json, application/json' };
    const targets: Record<'gateway' | 'floor', Target> = {
      gateway: { name: 'gateway', child: gateway, headers: { ...json, authorization: `Bearer ${READ_API_KEY}` } },
      floor: { name: 'floor', child: floor, headers: json },
    };
    const from = usageFrom(now);
    const body = { gateway: await readBodies(targets.gateway, jobs, from), floor: await readBodies(targets.floor, jobs, from) };
    const results: ReadResult[] = [];
    for (const [i, query] of queries.entries()) {
      const sameData = (await dataOf(targets.gateway, body.gateway[query])) === (await dataOf(targets.floor, body.floor[query]));
      const order = (run + i) % 2 === 1 ? (['gateway', 'floor'] as const) : (['floor', 'gateway'] as const);
      const sides: Partial<Record<'gateway' | 'floor', ReadSide>> = {};
      for (const name of order) {
        const profilePath = ctx.profileDir && name === 'gateway' ? join(ctx.profileDir, `read-${query}-run${run}-${Date.now()}.cpuprofile`) : null;
        sides[name] = await measure(ctx, targets[name], body[name][query], seconds, profilePath);
      }
      const result: ReadResult = { run, query, gateway: sides.gateway!, floor: sides.floor!, sameData };
      results.push(result);
      const g = result.gateway;
      const f = result.floor;
      ctx.log(
        `    ${READ_LABELS[query]}: gateway ${fmt(g.perSecond, 0)}/s (${fmt(g.serverCpuPerRequestUs)} µs CPU/request), floor ${fmt(f.perSecond, 0)}/s (${fmt(f.serverCpuPerRequestUs)} µs) = ${fmt(g.perSecond / f.perSecond, 2)}×; CPU floor/gateway ${fmt(f.serverCpuPerRequestUs / g.serverCpuPerRequestUs, 2)}×${sameData ? '' : '; ! the two answered different data'}${g.errors + f.errors ? `; errors ${g.errors}/${f.errors}: ${g.firstError ?? f.firstError}` : ''}`,
      );
    }
    return results;
  } finally {
    await gateway?.stop();
    await floor?.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

// ---------------------------------------------------------------------------------------------
// Report: rows of the results table and the target (report.ts calls these)

const cells = (values: string[]) => `| ${values.join(' | ')} |`;

function byQuery(results: ReadResult[]): Array<[ReadQuery, ReadResult[]]> {
  return READ_QUERIES.map((q) => [q, results.filter((r) => r.query === q)] as [ReadQuery, ReadResult[]]).filter(([, rs]) => rs.length > 0);
}

export function readRows(results: ReadResult[]): string[] {
  const lines: string[] = [];
  for (const [query, runs] of byQuery(results)) {
    const g = spread(runs.map((r) => r.gateway.perSecond));
    const f = spread(runs.map((r) => r.floor.perSecond));
    const ratio = spread(runs.map((r) => r.gateway.perSecond / r.floor.perSecond));
    const gc = spread(runs.map((r) => r.gateway.serverCpuPerRequestUs));
    const fc = spread(runs.map((r) => r.floor.serverCpuPerRequestUs));
    const cpuRatio = spread(runs.map((r) => r.floor.serverCpuPerRequestUs / r.gateway.serverCpuPerRequestUs));
    lines.push(cells([`Read throughput, ${READ_LABELS[query]}, ${READ_CONCURRENCY} in flight`, fmtSpread(g, '/s', 0), `${fmtSpread(f, '/s', 0)} (plain Yoga, in memory)`, fmtSpread(ratio, '×', 2)]));
    lines.push(cells([`Server CPU per request, ${READ_LABELS[query]} (floor / gateway)`, fmtSpread(gc, 'µs'), fmtSpread(fc, 'µs'), `${fmtSpread(cpuRatio, '×', 2)} (floor CPU / gateway CPU)`]));
  }
  return lines;
}

export function readRunTable(results: ReadResult[]): string[] {
  if (results.length === 0) return [];
  const lines = ['### Read path runs', '', cells(['Run', 'Query', 'Server', 'Per second', 'p50 ms', 'p99 ms', 'Server CPU µs/request', 'Client CPU µs/request', 'Other load core 0 / 1', 'Errors'])];
  lines.push(cells(Array(10).fill('---')));
  for (const r of results) {
    for (const name of ['gateway', 'floor'] as const) {
      const s = r[name];
      const load = s.interference ? `${fmt(s.interference.serverCorePct, 0)} % / ${fmt(s.interference.loadCorePct, 0)} %` : 'n/a';
      lines.push(cells([String(r.run), READ_LABELS[r.query], name === 'floor' ? 'plain Yoga' : 'gateway', fmt(s.perSecond, 0), fmt(s.p50Ms), fmt(s.p99Ms), fmt(s.serverCpuPerRequestUs), fmt(s.clientCpuPerRequestUs), load, s.errors ? `${s.errors} (${s.firstError})` : '0']));
    }
  }
  lines.push('');
  return lines;
}

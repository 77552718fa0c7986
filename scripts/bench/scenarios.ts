/**
 * The scenarios. Each run starts its own server child (gateway or floor) pinned to the server core,
 * measures, and stops it; the parent process (pinned to the load core) is the load generator.
 */
import { join } from 'node:path';
import { Pool } from 'undici';
import { createFleet, type Fleet, type FleetKind } from './clients.ts';
import { waitFor } from '../../test/helpers/wait-for.ts';
import { nowUs, sleep, UPDATE_QUERY } from './common.ts';
import { LOAD_CORE, SERVER_CORE, startGateway, startRaw, submitJob, IMAGE_URL, SUBMIT_MUTATION, type GatewayInfo } from './gateway.ts';
import { measureWindow, type DeliveryAnalysis } from './measure.ts';
import { Interference, type Child, type Machine } from './proc.ts';
import { percentile, Samples } from './stats.ts';

export interface BenchContext {
  machine: Machine;
  quick: boolean;
  /** POLL_INTERVAL_MS of the gateway in the fan-out and capacity scenarios (the interval I of the targets). */
  pollMs: number;
  /** Updates measured per fan-out window, and warm-up updates before it. */
  windowUpdates: number;
  warmUpdates: number;
  /** When set, the servers are CPU-profiled during each fan-out window and the profiles written here. */
  profileDir: string | null;
  log(message: string): void;
}

/**
 * Simulator log lines this often (ms) in fan-out jobs: every poll sees new lines (so every poll
 * publishes), and the change instants cover each poll gap densely, which samples the wait for the
 * next poll evenly (change->delivery).
 */
export const LOG_EVERY_MS = 31;

const fanoutTiming = (pollMs: number) => ({ initialQueuePosition: 0, queueStepMs: 1000, runMs: 3_600_000, logEveryMs: LOG_EVERY_MS, logWindowMs: 2 * pollMs + 500 });

function errorsOf(fleet: Fleet): Record<string, number> {
  return Object.fromEntries(fleet.errors);
}

async function teardown(child: Child<unknown> | null, fleet: Fleet | null): Promise<void> {
  fleet?.quiesce();
  await child?.stop();
  fleet?.close();
  await sleep(200);
}

async function openFleet(ctx: BenchContext, kind: FleetKind, url: string, n: number, variables?: Record<string, unknown>, query = UPDATE_QUERY): Promise<Fleet> {
  const fleet = createFleet(kind, { url, query, ...(variables ? { variables } : {}) });
  const started = Date.now();
  await fleet.grow(n, { concurrency: 200, deadlineMs: 180_000, onProgress: (live) => ctx.log(`    … ${live}/${n} ${kind} subscribers open`) });
  ctx.log(`    ${fleet.live()}/${n} ${kind} subscribers open in ${((Date.now() - started) / 1000).toFixed(1)} s${fleet.errorCount() ? `, errors ${JSON.stringify(errorsOf(fleet))}` : ''}`);
  return fleet;
}

// ---------------------------------------------------------------------------------------------
// 1 + 2: fan-out latency and CPU per delivered update

export interface FanoutResult {
  target: 'gateway' | 'raw';
  subscribers: number;
  live: number;
  errors: Record<string, number>;
  analysis: DeliveryAnalysis;
  cpuPerDeliveryUs: number;
  /** Share of the server's CPU time in the window spent in GC pauses (perf_hooks 'gc' durations), in %. */
  gcPct: number;
  /** The load generator's CPU per received frame (how close the client itself is to being the bottleneck). */
  clientCpuPerDeliveryUs: number;
  windowMs: number;
  eldP99Ms: number;
  incomplete: boolean;
  publishLogMissing: boolean;
  clockUncertaintyUs: number;
  /** Gateway only: upstream status calls per second for the job during the window. */
  statusCallsPerSecond: number | null;
  interference: { serverCorePct: number; loadCorePct: number } | null;
}

/** How the gateway side of a fan-out is run: which subscription its subscribers hold, and extra environment. */
export interface FanoutVariant {
  /** A feed document over every job, without variables (jobEvents); default: jobUpdates(id) of the job. It must select the job's updatedAt. */
  query?: string;
  env?: Record<string, string>;
  /** Simulator timing override (default: the fan-out job that logs every LOG_EVERY_MS). */
  timing?: Record<string, number>;
}

export const EVENTS_QUERY = 'subscription Feed { jobEvents { cursor job { id status queuePosition updatedAt } } }';

export async function fanout(ctx: BenchContext, target: 'gateway' | 'raw', n: number, variant: FanoutVariant = {}): Promise<FanoutResult> {
  let child: Child<any> | null = null;
  let fleet: Fleet | null = null;
  try {
    const timeoutMs = 3 * ctx.pollMs + 5_000;
    if (target === 'gateway') {
      const gateway = await startGateway(ctx.machine, { pollMs: ctx.pollMs, timing: variant.timing ?? fanoutTiming(ctx.pollMs), ...(variant.env ? { env: variant.env } : {}) });
      child = gateway;
      const job = await submitJob(gateway.info.httpUrl, '[sim:fast] bench fan-out');
      // A feed subscriber (jobEvents, no variables) is open once the job's next change reached it.
      fleet = variant.query
        ? await openFleet(ctx, 'graphql-ws', gateway.info.wsUrl, n, undefined, variant.query)
        : await openFleet(ctx, 'graphql-ws', gateway.info.wsUrl, n, { id: job.id });
      const before = await gateway.post<Record<string, number>>('/sim/status-calls', { ids: [job.requestId] });
      const window = await measureWindow(gateway, fleet, { warm: ctx.warmUpdates, updates: ctx.windowUpdates, timeoutMs, topic: `job:${job.id}`, ...profile('gateway') });
      const after = await gateway.post<Record<string, number>>('/sim/status-calls', { ids: [job.requestId] });
      const statusCalls = (after[job.requestId] ?? 0) - (before[job.requestId] ?? 0);
      return result(window, fleet, gateway, statusCalls);
    }
    const raw = await startRaw(ctx.machine);
    child = raw;
    fleet = await openFleet(ctx, 'raw-ws', raw.info.wsUrl, n);
    await raw.post('/broadcast/start', { intervalMs: ctx.pollMs });
    const window = await measureWindow(raw, fleet, { warm: ctx.warmUpdates, updates: ctx.windowUpdates, timeoutMs, ...profile('raw') });
    await raw.post('/broadcast/stop');
    return result(window, fleet, raw, null);
  } finally {
    await teardown(child, fleet);
  }

  function profile(name: string): { profilePath?: string } {
    if (!ctx.profileDir) return {};
    const path = join(ctx.profileDir, `fanout-${n}-${name}-${Date.now()}.cpuprofile`);
    ctx.log(`    profiling the ${name} server during the window: ${path}`);
    return { profilePath: path };
  }

  function result(window: Awaited<ReturnType<typeof measureWindow>>, f: Fleet, c: Child<unknown>, statusCalls: number | null): FanoutResult {
    return {
      target,
      subscribers: n,
      live: f.live(),
      errors: errorsOf(f),
      analysis: window.analysis,
      cpuPerDeliveryUs: window.analysis.deliveries > 0 ? window.cpuUs / window.analysis.deliveries : NaN,
      gcPct: window.cpuUs > 0 ? ((window.end.gc.ms - window.start.gc.ms) * 1000 * 100) / window.cpuUs : NaN,
      clientCpuPerDeliveryUs: window.analysis.deliveries > 0 ? window.clientCpuUs / window.analysis.deliveries : NaN,
      windowMs: window.windowMs,
      eldP99Ms: window.end.eld.p99,
      incomplete: window.incomplete,
      publishLogMissing: window.publishLogMissing,
      clockUncertaintyUs: c.clock.uncertaintyUs,
      statusCallsPerSecond: statusCalls === null ? null : statusCalls / (window.windowMs / 1000),
      interference: window.interference,
    };
  }
}

// ---------------------------------------------------------------------------------------------
// 3: RSS per open subscription

export interface RssResult {
  kind: FleetKind;
  n: number;
  live: number;
  errors: Record<string, number>;
  baselineRss: number;
  rss: number;
  bytesPerSubscription: number;
  heapBytesPerSubscription: number;
  gc: boolean;
  /** Subscriptions opened per second (200 handshakes in flight). */
  openPerSecond: number;
}

const WARM_SUBSCRIBERS = 20;

/** The RSS measurements of a run: each kind with a forced GC, and graphql-ws and its floor also without. */
export const RSS_VARIANTS = [
  { name: 'graphql-ws', kind: 'graphql-ws', forceGc: true },
  { name: 'sse', kind: 'sse', forceGc: true },
  { name: 'raw-ws', kind: 'raw-ws', forceGc: true },
  { name: 'graphql-ws:no-gc', kind: 'graphql-ws', forceGc: false },
  { name: 'raw-ws:no-gc', kind: 'raw-ws', forceGc: false },
  // The SSE floor: a bare node:http server holding the same SSE responses (raw-ws-server.ts).
  { name: 'raw-sse', kind: 'sse', forceGc: true, raw: true },
] as const satisfies ReadonlyArray<{ name: string; kind: FleetKind; forceGc: boolean; raw?: boolean }>;
export type RssVariant = (typeof RSS_VARIANTS)[number]['name'];

/**
 * RSS per idle subscription, one per connection. `forceGc` (default): the server runs with
 * --expose-gc and both readings follow a full GC; false: no forced GC (the server is started without
 * --expose-gc, as a production process runs), so the figure includes garbage not yet collected.
 */
export async function rssPerSubscription(ctx: BenchContext, kind: FleetKind, n: number, { forceGc = true, raw: floor = false }: { forceGc?: boolean; raw?: boolean } = {}): Promise<RssResult> {
  let child: Child<any> | null = null;
  let fleet: Fleet | null = null;
  try {
    let url: string;
    let variables: Record<string, unknown> | undefined;
    if (kind === 'raw-ws' || floor) {
      const raw = await startRaw(ctx.machine, { exposeGc: forceGc });
      child = raw;
      url = kind === 'sse' ? `http://127.0.0.1:${raw.info.port}/` : raw.info.wsUrl;
    } else {
      // A job deep in a queue that does not move: subscriptions stay idle (no updates).
      const gateway = await startGateway(ctx.machine, { pollMs: 1000, timing: { initialQueuePosition: 500, queueStepMs: 3_600_000 }, exposeGc: forceGc });
      child = gateway;
      const job = await submitJob(gateway.info.httpUrl, 'bench idle subscriptions');
      url = kind === 'sse' ? gateway.info.httpUrl : gateway.info.wsUrl;
      variables = { id: job.id };
    }
    // Warm the code paths (first subscriptions, lazy modules, JIT) before the baseline.
    fleet = createFleet(kind, { url, query: UPDATE_QUERY, ...(variables ? { variables } : {}) });
    await fleet.grow(WARM_SUBSCRIBERS, { concurrency: 10 });
    await sleep(300);
    const { gc } = await child.post<{ gc: boolean }>('/gc'); // without --expose-gc: nothing is collected
    await sleep(300);
    const base = await child.stats();
    const opening = Date.now();
    await fleet.grow(n, { concurrency: 200, deadlineMs: 120_000 });
    const openSeconds = (Date.now() - opening) / 1000;
    const live = fleet.live() - WARM_SUBSCRIBERS;
    ctx.log(`    ${live}/${n} ${kind} idle subscriptions open${fleet.errorCount() ? `, errors ${JSON.stringify(errorsOf(fleet))}` : ''}`);
    await sleep(1000);
    await child.post('/gc');
    await sleep(500);
    const full = await child.stats();
    return {
      kind,
      n,
      live,
      errors: errorsOf(fleet),
      baselineRss: base.rss,
      rss: full.rss,
      bytesPerSubscription: live > 0 ? (full.rss - base.rss) / live : NaN,
      heapBytesPerSubscription: live > 0 ? (full.heapUsed + full.external - base.heapUsed - base.external) / live : NaN,
      gc,
      openPerSecond: live / openSeconds,
    };
  } finally {
    await teardown(child, fleet);
  }
}

// ---------------------------------------------------------------------------------------------
// 4: upstream status calls per job, 1 vs many subscribers

export interface UpstreamResult {
  pollMs: number;
  subscribers: number;
  callsOne: number;
  callsMany: number;
  ratio: number;
  completedOne: boolean;
  completedMany: number;
  errors: Record<string, number>;
}

export async function upstreamCalls(ctx: BenchContext, many: number, env?: Record<string, string>): Promise<UpstreamResult> {
  // Two twin jobs with the same simulated life (queue, run, logs, result), submitted back to back:
  // one followed by 1 subscriber, one by `many`. The gateway polls both until they complete.
  const pollMs = 100;
  const timing = ctx.quick
    ? { initialQueuePosition: 2, queueStepMs: 800, runMs: 1500, logEveryMs: 250, logWindowMs: 2000 }
    : { initialQueuePosition: 2, queueStepMs: 1500, runMs: 3000, logEveryMs: 250, logWindowMs: 2000 };
  const lifeMs = (timing.initialQueuePosition + 1) * timing.queueStepMs + timing.runMs;
  let child: Child<GatewayInfo> | null = null;
  let one: Fleet | null = null;
  let fleet: Fleet | null = null;
  try {
    child = await startGateway(ctx.machine, { pollMs, timing, ...(env ? { env } : {}) });
    const [jobOne, jobMany] = await Promise.all([submitJob(child.info.httpUrl, 'bench twin A'), submitJob(child.info.httpUrl, 'bench twin B')]);
    one = createFleet('graphql-ws', { url: child.info.wsUrl, query: UPDATE_QUERY, variables: { id: jobOne.id } });
    fleet = createFleet('graphql-ws', { url: child.info.wsUrl, query: UPDATE_QUERY, variables: { id: jobMany.id } });
    await Promise.all([one.grow(1), fleet.grow(many, { concurrency: 200, deadlineMs: 60_000 })]);
    ctx.log(`    1 + ${fleet.live() + fleet.completed()} subscribers on twin jobs (life ${(lifeMs / 1000).toFixed(1)} s, poll ${pollMs} ms)`);
    const done = await waitFor(() => one!.completed() === 1 && fleet!.completed() + fleet!.errorCount() >= many, { timeoutMs: lifeMs + 15_000, intervalMs: 50, message: 'both twin jobs to complete' }).then(() => true, () => false);
    if (!done) ctx.log('    ! twin jobs did not both complete in time');
    const calls = await child.post<Record<string, number>>('/sim/status-calls', { ids: [jobOne.requestId, jobMany.requestId] });
    const callsOne = calls[jobOne.requestId] ?? NaN;
    const callsMany = calls[jobMany.requestId] ?? NaN;
    return {
      pollMs,
      subscribers: many,
      callsOne,
      callsMany,
      ratio: callsMany / callsOne,
      completedOne: one.completed() === 1,
      completedMany: fleet.completed(),
      errors: { ...errorsOf(one), ...errorsOf(fleet) },
    };
  } finally {
    one?.quiesce();
    await teardown(child, fleet);
    one?.close();
  }
}

// ---------------------------------------------------------------------------------------------
// 5: generateVideo throughput at 50 in flight, beside direct undici submits to the simulator

export interface ThroughputResult {
  target: 'gateway' | 'direct';
  inFlight: number;
  seconds: number;
  completed: number;
  perSecond: number;
  p50Ms: number;
  p99Ms: number;
  errors: number;
  firstError: string | null;
  /** CPU of the server child (gateway + simulator, or simulator alone) per completed request, µs (warm-up included). */
  serverCpuPerRequestUs: number;
  interference: { serverCorePct: number; loadCorePct: number } | null;
}

export const IN_FLIGHT = 50;
const PROMPT = 'A cat surfing a wave at sunset, cinematic';

export async function throughputPair(ctx: BenchContext, seconds: number, order: Array<'gateway' | 'direct'>): Promise<ThroughputResult[]> {
  // The poll interval is set far beyond the test so that no status polls run during it: both sides
  // measure the submit path alone (the gateway still stores each job and counts quotas).
  const child = await startGateway(ctx.machine, { pollMs: 600_000, timing: { initialQueuePosition: 3, queueStepMs: 60_000 } });
  try {
    const results: ThroughputResult[] = [];
    for (const target of order) {
      results.push(await throughput(ctx, child, target, seconds));
    }
    return results;
  } finally {
    await child.stop();
  }
}

async function throughput(ctx: BenchContext, child: Child<GatewayInfo>, target: 'gateway' | 'direct', seconds: number): Promise<ThroughputResult> {
  const info = child.info;
  const origin = target === 'gateway' ? new URL(info.httpUrl).origin : info.simulatorUrl;
  const path = target === 'gateway' ? new URL(info.httpUrl).pathname : `/${info.model}`;
  const pool = new Pool(origin, { connections: IN_FLIGHT, pipelining: 1, keepAliveTimeout: 60_000 });
  let n = 0;
  const body = () =>
    target === 'gateway'
      ? JSON.stringify({ query: SUBMIT_MUTATION, variables: { input: { prompt: `${PROMPT} #${n++}`, imageUrl: IMAGE_URL, duration: 'SECONDS_5' } } })
      : JSON.stringify({ prompt: `${PROMPT} #${n++}`, image_url: IMAGE_URL, duration: '5' });
  const headers =
    target === 'gateway'
      ? { 'content-type': 'application/json', accept: 'application/graphql-response+json, application/json' }
      : { 'content-type': 'application/json', authorization: `Key ${info.falKey}` };
  const latencies = new Samples();
  let completed = 0;
  let errors = 0;
  let firstError: string | null = null;
  const warmMs = ctx.quick ? 500 : 1000;
  // Requests that complete inside [measureFrom, endAt] count; the ones before warm up the pools.
  const measureFrom = Date.now() + warmMs;
  const endAt = measureFrom + seconds * 1000;
  const before = await child.stats();
  const interference = new Interference();
  let requests = 0;
  const worker = async () => {
    while (Date.now() < endAt) {
      const t0 = nowUs();
      let ok = false;
      try {
        const response = await pool.request({ origin, path, method: 'POST', headers, body: body(), headersTimeout: 30_000, bodyTimeout: 30_000 });
        const text = await response.body.text();
        ok = response.statusCode === 200 && (target === 'direct' ? text.includes('request_id') : text.includes('"generateVideo":{') && !text.includes('"errors"'));
        if (!ok && firstError === null) firstError = `${response.statusCode} ${text.slice(0, 200)}`;
      } catch (error) {
        if (firstError === null) firstError = error instanceof Error ? error.message : String(error);
      }
      const t1 = nowUs();
      requests++;
      const doneAt = Date.now();
      if (doneAt < measureFrom || doneAt > endAt) continue;
      if (ok) {
        completed++;
        latencies.push((t1 - t0) / 1000);
      } else errors++;
    }
  };
  await Promise.all(Array.from({ length: IN_FLIGHT }, worker));
  const after = await child.stats();
  const serverCpuUs = after.cpuUserUs + after.cpuSystemUs - before.cpuUserUs - before.cpuSystemUs;
  const foreign = interference.finish(serverCpuUs, SERVER_CORE, LOAD_CORE);
  const measuredSeconds = seconds;
  await pool.close();
  const sortedLatencies = latencies.sorted();
  const result: ThroughputResult = {
    target,
    inFlight: IN_FLIGHT,
    seconds: measuredSeconds,
    completed,
    perSecond: completed / measuredSeconds,
    p50Ms: percentile(sortedLatencies, 50),
    p99Ms: percentile(sortedLatencies, 99),
    errors,
    firstError,
    serverCpuPerRequestUs: requests > 0 ? serverCpuUs / requests : NaN,
    interference: foreign,
  };
  ctx.log(`    ${target}: ${result.perSecond.toFixed(0)}/s, p99 ${result.p99Ms.toFixed(1)} ms, ${errors} errors`);
  return result;
}

// ---------------------------------------------------------------------------------------------
// 6: how many subscriptions one process holds

export interface CapacityResult {
  goal: number;
  held: number;
  opened: number;
  errors: Record<string, number>;
  errorCount: number;
  rampSeconds: number;
  rampEldP99Ms: number;
  idleEldP99Ms: number;
  liveEldP99Ms: number;
  liveEldMaxMs: number;
  live: DeliveryAnalysis | null;
  liveIncomplete: boolean;
  rss: number;
  openFds: number | null;
  notes: string[];
}

export async function capacity(ctx: BenchContext, goal: number): Promise<CapacityResult> {
  let child: Child<GatewayInfo> | null = null;
  let fleet: Fleet | null = null;
  const notes: string[] = [];
  try {
    child = await startGateway(ctx.machine, { pollMs: ctx.pollMs, timing: fanoutTiming(ctx.pollMs) });
    const job = await submitJob(child.info.httpUrl, '[sim:fast] bench capacity');
    // Freeze the job while subscriptions ramp up: the ramp measures connection handling alone.
    await child.post('/sim/pause');
    await child.post('/eld/reset');
    fleet = createFleet('graphql-ws', { url: child.info.wsUrl, query: UPDATE_QUERY, variables: { id: job.id } });
    const started = Date.now();
    await fleet.grow(goal, {
      concurrency: 200,
      deadlineMs: ctx.quick ? 30_000 : 150_000,
      stopOnErrors: 100,
      onProgress: (live) => ctx.log(`    … ${live}/${goal} subscriptions open`),
    });
    const rampSeconds = (Date.now() - started) / 1000;
    const ramp = await child.stats();
    ctx.log(`    ${fleet.live()}/${goal} subscriptions open in ${rampSeconds.toFixed(1)} s${fleet.errorCount() ? `, errors ${JSON.stringify(errorsOf(fleet))}` : ''}`);
    if (fleet.errorCount() >= 100) notes.push('the ramp stopped after 100 errors');

    // Idle hold: every subscription open, the job unchanged.
    await child.post('/eld/reset');
    await sleep(ctx.quick ? 1500 : 5000);
    const idle = await child.stats();

    // Live hold: the job changes again; every poll fans out to every subscription.
    await child.post('/sim/resume');
    const window = await measureWindow(child, fleet, {
      warm: 1,
      updates: ctx.quick ? 2 : Math.max(3, Math.min(6, ctx.windowUpdates)),
      timeoutMs: 3 * ctx.pollMs + 10_000,
      topic: `job:${job.id}`,
    });
    const end = window.end;
    const opened = fleet.subscribers.filter((s) => s.ready).length;
    return {
      goal,
      held: fleet.live(),
      opened,
      errors: errorsOf(fleet),
      errorCount: fleet.errorCount(),
      rampSeconds,
      rampEldP99Ms: ramp.eld.p99,
      idleEldP99Ms: idle.eld.p99,
      liveEldP99Ms: end.eld.p99,
      liveEldMaxMs: end.eld.max,
      live: window.analysis,
      liveIncomplete: window.incomplete,
      rss: end.rss,
      openFds: end.openFds,
      notes,
    };
  } finally {
    await teardown(child, fleet);
  }
}

/**
 * Every target the bench checks, in one table: what figure, how it is read from the runs, the floor
 * (or reference) it stands beside in the same run, the comparison and its threshold, and the issue
 * that set it. `evaluate` is the one function that judges them; report.ts prints the result.
 *
 * A row reads one value per run (NaN where a run has none); the verdict uses medians over the runs.
 * `on: 'figure'` compares the measured median with the threshold; `on: 'ratio'` compares measured
 * median / floor median (so "≤ 1.5" reads "at most 1.5× the floor").
 */
import type { FanoutResult } from './scenarios.ts';
import { READ_CONCURRENCY, READ_LABELS, READ_QUERIES } from './read-path.ts';
import type { Results, RunInfo } from './report.ts';
import { fmt, spread, type Spread } from './stats.ts';

export interface Target {
  /** The figure's name in the table (it may name N, I, ... of this run). */
  figure: (info: RunInfo, results: Results) => string;
  issue: number;
  unit: string;
  /** Decimals when printed (default: by magnitude). */
  digits?: number;
  /** The figure, one value per run. */
  measured: (results: Results, info: RunInfo) => number[];
  /** The floor or reference measured in the same run: what it is, and its value per run. */
  floor?: { what: string; values: (results: Results, info: RunInfo) => number[] };
  on: 'figure' | 'ratio';
  op: '<=' | '>=';
  threshold: (info: RunInfo, results: Results) => number;
  /** How the threshold is written when it is a formula (default: the number with its unit). */
  thresholdText?: (info: RunInfo) => string;
}

export interface Evaluation {
  target: Target;
  figure: string;
  measured: Spread;
  floor: Spread | null;
  /** measured median / floor median; NaN without a floor. */
  ratio: number;
  limit: number;
  /** Null: not measured in this run. */
  met: boolean | null;
  /** How far the compared value is from the limit: > 1 is a miss (value / limit for ≤, limit / value for ≥). */
  excess: number;
}

const KiB = 1024;

// --- How figures are read from the results ------------------------------------------------------

/** The fan-out sizes measured (or, before any was, the ones asked for). */
const fanoutNs = (r: Results, i: RunInfo) => (r.fanout.size ? [...r.fanout.keys()] : [...i.fanoutNs]).sort((a, b) => a - b);
/** The largest fan-out of the run (10,000 in a full run). */
const biggest = (r: Results, i: RunInfo) => fanoutNs(r, i).at(-1);
/** The 1,000-subscriber fan-out, or the smallest there is. */
const thousand = (r: Results, i: RunInfo) => (fanoutNs(r, i).includes(1000) ? 1000 : fanoutNs(r, i)[0]);
const fanoutRuns = (r: Results, n: number | undefined, side: 'gateway' | 'raw'): FanoutResult[] => (n === undefined ? [] : (r.fanout.get(n)?.[side] ?? []));
const p99 = (x: FanoutResult) => x.analysis.publishToDelivery.p99;
const cpu = (x: FanoutResult) => x.cpuPerDeliveryUs;
const changeP50 = (x: FanoutResult) => x.analysis.changeToDelivery?.p50 ?? NaN;
const changeP99 = (x: FanoutResult) => x.analysis.changeToDelivery?.p99 ?? NaN;
const rssKiB = (r: Results, variant: keyof Results['rss']) => (r.rss[variant] ?? []).map((x) => x.bytesPerSubscription / KiB);
const opens = (r: Results, variant: keyof Results['rss']) => (r.rss[variant] ?? []).map((x) => x.openPerSecond);
const capacity = <T>(r: Results, pick: (c: NonNullable<Results['capacity']>) => T): T[] => (r.capacity ? [pick(r.capacity)] : []);
const n = (v: number | undefined) => (v === undefined ? '?' : fmt(v, 0));

export const TARGETS: Target[] = [
  // --- Issue 6: fan-out at the floor (the first release) ---
  {
    figure: (i) => `Upstream status calls per job, ${n(i.upstreamN)} subscribers vs 1`,
    issue: 6, unit: '', digits: 0, on: 'ratio', op: '<=', threshold: () => 1.05,
    measured: (r) => r.upstream.map((x) => x.callsMany),
    floor: { what: 'the same job life, 1 subscriber', values: (r) => r.upstream.map((x) => x.callsOne) },
  },
  {
    figure: (i, r) => `Delivery p99 to ${n(biggest(r, i))} subscribers (publish→delivery)`,
    issue: 6, unit: 'ms', on: 'ratio', op: '<=', threshold: () => 1.5,
    measured: (r, i) => fanoutRuns(r, biggest(r, i), 'gateway').map(p99),
    floor: { what: 'raw ws broadcast', values: (r, i) => fanoutRuns(r, biggest(r, i), 'raw').map(p99) },
  },
  {
    figure: (i, r) => `Server CPU per delivered update, ${n(biggest(r, i))} subscribers`,
    issue: 6, unit: 'µs', on: 'ratio', op: '<=', threshold: () => 2,
    measured: (r, i) => fanoutRuns(r, biggest(r, i), 'gateway').map(cpu),
    floor: { what: 'raw ws broadcast', values: (r, i) => fanoutRuns(r, biggest(r, i), 'raw').map(cpu) },
  },
  {
    figure: (i) => `RSS per graphql-ws subscription, forced GC (N = ${n(i.rssN)})`,
    issue: 6, unit: 'KiB', on: 'figure', op: '<=', threshold: () => 12,
    measured: (r) => rssKiB(r, 'graphql-ws'),
    floor: { what: 'raw ws socket', values: (r) => rssKiB(r, 'raw-ws') },
  },
  {
    figure: (i, r) => `Change→delivery p50 at ${n(thousand(r, i))} subscribers (poll, I = ${i.pollMs} ms)`,
    issue: 6, unit: 'ms', on: 'figure', op: '<=', threshold: (i) => i.pollMs / 2 + 10, thresholdText: (i) => `≤ I/2+10 = ${fmt(i.pollMs / 2 + 10, 0)} ms`,
    measured: (r, i) => fanoutRuns(r, thousand(r, i), 'gateway').map(changeP50),
  },
  {
    figure: (i, r) => `Change→delivery p99 at ${n(thousand(r, i))} subscribers (poll, I = ${i.pollMs} ms)`,
    issue: 6, unit: 'ms', on: 'figure', op: '<=', threshold: (i) => i.pollMs + 50, thresholdText: (i) => `≤ I+50 = ${fmt(i.pollMs + 50, 0)} ms`,
    measured: (r, i) => fanoutRuns(r, thousand(r, i), 'gateway').map(changeP99),
  },
  {
    figure: () => 'generateVideo throughput, 50 in flight',
    issue: 6, unit: '/s', digits: 0, on: 'ratio', op: '>=', threshold: () => 0.6,
    measured: (r) => r.throughput.gateway.map((x) => x.perSecond),
    floor: { what: 'undici → simulator', values: (r) => r.throughput.direct.map((x) => x.perSecond) },
  },
  {
    figure: () => 'Concurrent graphql-ws subscriptions held in one process',
    issue: 6, unit: '', digits: 0, on: 'figure', op: '>=', threshold: (i, r) => r.capacity?.goal ?? i.capacityGoal,
    measured: (r) => capacity(r, (c) => c.held),
  },
  {
    figure: () => 'Errors while opening and holding those subscriptions',
    issue: 6, unit: '', digits: 0, on: 'figure', op: '<=', threshold: () => 0,
    measured: (r) => capacity(r, (c) => c.errorCount),
  },
  {
    figure: (i, r) => `Event-loop delay p99 holding ${n(r.capacity?.held ?? i.capacityGoal)} subscriptions, live job`,
    issue: 6, unit: 'ms', on: 'figure', op: '<=', threshold: () => 50,
    measured: (r) => capacity(r, (c) => c.liveEldP99Ms),
  },
  // --- Issue 10: one live feed of every job ---
  {
    figure: (i) => `jobEvents: server CPU per delivered update, ${n(i.eventsN)} subscribers`,
    issue: 10, unit: 'µs', on: 'ratio', op: '<=', threshold: () => 1.25,
    measured: (r) => r.events.events.map(cpu),
    floor: { what: 'jobUpdates, same job and count', values: (r) => r.events.updates.map(cpu) },
  },
  {
    figure: (i) => `jobEvents: upstream status calls per second, ${n(i.eventsN)} subscribers`,
    issue: 10, unit: '/s', digits: 2, on: 'ratio', op: '<=', threshold: () => 1.05,
    measured: (r) => r.events.events.map((x) => x.statusCallsPerSecond ?? NaN),
    floor: { what: 'jobUpdates, same job and count', values: (r) => r.events.updates.map((x) => x.statusCallsPerSecond ?? NaN) },
  },
  // --- Issue 11: push from the upstream ---
  {
    figure: (i) => `Change→delivery p99 with status streams, ${n(i.eventsN)} subscribers`,
    issue: 11, unit: 'ms', on: 'figure', op: '<=', threshold: () => 25,
    measured: (r) => r.push.stream.map(changeP99),
    floor: { what: 'FAL_UPDATES=poll', values: (r) => r.push.poll.map(changeP99) },
  },
  // --- Issue 15: SSE as cheap as WebSockets, the submit path, the read path ---
  {
    figure: (i) => `RSS per SSE subscription, forced GC (N = ${n(i.rssN)})`,
    issue: 15, unit: 'KiB', on: 'figure', op: '<=', threshold: () => 20,
    measured: (r) => rssKiB(r, 'sse'),
    floor: { what: 'raw ws socket', values: (r) => rssKiB(r, 'raw-ws') },
  },
  {
    figure: () => 'SSE subscriptions opened per second (200 in flight)',
    issue: 15, unit: '/s', digits: 0, on: 'figure', op: '>=', threshold: () => 3000,
    measured: (r) => opens(r, 'sse'),
    floor: { what: 'bare node:http SSE server', values: (r) => opens(r, 'raw-sse') },
  },
  {
    figure: (i) => `RSS per graphql-ws subscription, one per connection, forced GC (N = ${n(i.rssN)})`,
    issue: 15, unit: 'KiB', on: 'figure', op: '<=', threshold: () => 16,
    measured: (r) => rssKiB(r, 'graphql-ws'),
    floor: { what: 'raw ws socket', values: (r) => rssKiB(r, 'raw-ws') },
  },
  {
    figure: (i) => `RSS per graphql-ws subscription, one per connection, no forced GC (N = ${n(i.rssN)})`,
    issue: 15, unit: 'KiB', on: 'figure', op: '<=', threshold: () => 16,
    measured: (r) => rssKiB(r, 'graphql-ws:no-gc'),
    floor: { what: 'raw ws socket, no forced GC', values: (r) => rssKiB(r, 'raw-ws:no-gc') },
  },
  {
    figure: () => 'Server CPU per generateVideo (gateway + simulator process)',
    issue: 15, unit: 'µs', on: 'figure', op: '<=', threshold: () => 300,
    measured: (r) => r.throughput.gateway.map((x) => x.serverCpuPerRequestUs),
    floor: { what: 'simulator alone, direct submits', values: (r) => r.throughput.direct.map((x) => x.serverCpuPerRequestUs) },
  },
  {
    figure: () => 'Submit latency p99, 50 in flight',
    issue: 15, unit: 'ms', on: 'figure', op: '<=', threshold: () => 25,
    measured: (r) => r.throughput.gateway.map((x) => x.p99Ms),
    floor: { what: 'undici → simulator', values: (r) => r.throughput.direct.map((x) => x.p99Ms) },
  },
  // The read path (issue 15, item 4): one row per query the dashboards poll (scripts/bench/read-path.ts).
  ...READ_QUERIES.map((query): Target => ({
    figure: () => `Read-path throughput, ${READ_LABELS[query]}, ${READ_CONCURRENCY} in flight`,
    issue: 15, unit: '/s', digits: 0, on: 'ratio', op: '>=', threshold: () => 0.7,
    measured: (r) => r.read.filter((x) => x.query === query).map((x) => x.gateway.perSecond),
    floor: { what: 'plain Yoga, same shape from memory', values: (r) => r.read.filter((x) => x.query === query).map((x) => x.floor.perSecond) },
  })),
];

/** Judges every target on the runs' results. */
export function evaluate(results: Results, info: RunInfo, targets: Target[] = TARGETS): Evaluation[] {
  return targets.map((target) => {
    const measured = spread(target.measured(results, info));
    const floor = target.floor ? spread(target.floor.values(results, info)) : null;
    const ratio = floor ? measured.median / floor.median : NaN;
    const value = target.on === 'ratio' ? ratio : measured.median;
    const limit = target.threshold(info, results);
    const known = measured.n > 0 && Number.isFinite(value);
    const met = known ? (target.op === '<=' ? value <= limit : value >= limit) : null;
    // A zero limit (no errors) has no ratio: one error is simply a miss.
    const excess = !known ? NaN : target.op === '<=' ? (limit === 0 ? (value === 0 ? 1 : Infinity) : value / limit) : value === 0 ? Infinity : limit / value;
    return { target, figure: target.figure(info, results), measured, floor, ratio, limit, met, excess };
  });
}

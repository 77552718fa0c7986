/** Turns the runs into figures, target verdicts and BENCHMARKS.md. */
import type { CapacityResult, FanoutResult, RssResult, RssVariant, ThroughputResult, UpstreamResult } from './scenarios.ts';
import { fmt, fmtSpread, spread, type Spread } from './stats.ts';
import { evaluate, type Evaluation } from './targets.ts';
import { readRows, readRunTable, type ReadResult } from './read-path.ts';

export interface Results {
  fanout: Map<number, { gateway: FanoutResult[]; raw: FanoutResult[] }>;
  rss: Record<RssVariant, RssResult[]>;
  upstream: UpstreamResult[];
  throughput: { gateway: ThroughputResult[]; direct: ThroughputResult[] };
  /** jobUpdates(id) vs jobEvents subscribers of the same job, the same count. */
  events: { updates: FanoutResult[]; events: FanoutResult[] };
  /** FAL_UPDATES=stream vs poll: fan-out (change->delivery) and status calls per job life. */
  push: { stream: FanoutResult[]; poll: FanoutResult[]; callsStream: UpstreamResult[]; callsPoll: UpstreamResult[] };
  capacity: CapacityResult | null;
  /** The read path (job, jobs, usage) against plain Yoga, per run and query (read-path.ts). */
  read: ReadResult[];
  failures: string[];
}

export interface RunInfo {
  mode: 'full' | 'quick';
  runs: number;
  pollMs: number;
  logEveryMs: number;
  windowUpdates: number;
  fanoutNs: number[];
  rssN: number;
  upstreamN: number;
  eventsN: number;
  throughputSeconds: number;
  capacityGoal: number;
  only: string[] | null;
  command: string;
  machine: {
    cores: number;
    cpuModel: string;
    memoryGiB: number;
    node: string;
    os: string;
    date: string;
    pinned: boolean;
    nofile: string;
    portRange: string;
    code: string;
  };
  notes: string[];
  elapsedSeconds: number;
}

const KiB = 1024;
const ms = (v: number) => `${fmt(v)} ms`;

function spreadOf<T>(runs: T[], pick: (r: T) => number): Spread {
  return spread(runs.map(pick));
}

/** The targets judged on this run (targets.ts); with --only, just the ones it measured. */
export function verdicts(results: Results, info: RunInfo): Evaluation[] {
  return evaluate(results, info).filter((v) => v.met !== null || info.only === null);
}

const opText = (op: '<=' | '>=') => (op === '<=' ? '≤' : '≥');
const withUnit = (value: string, unit: string) => (unit ? (/^[×/%]/.test(unit) ? `${value}${unit}` : `${value} ${unit}`) : value);

function targetText(v: Evaluation, info: RunInfo): string {
  const t = v.target;
  if (t.thresholdText) return t.thresholdText(info);
  const limit = v.limit.toLocaleString('en-US', { maximumFractionDigits: 2 });
  return t.on === 'ratio' ? `${opText(t.op)} ${limit}× the floor` : `${opText(t.op)} ${withUnit(limit, t.unit)}`;
}

/** met / missed, and by how much. */
function verdictText(v: Evaluation): string {
  if (v.met === null) return 'not measured';
  if (v.met) return v.excess >= 0.995 ? 'met' : `met (${fmt((1 - v.excess) * 100, 0)} % headroom)`;
  if (!Number.isFinite(v.excess)) return 'MISSED';
  if (v.target.op === '>=') return `MISSED: ${fmt(100 / v.excess, 1)} % of the minimum (${fmt(v.excess, 2)}× short)`;
  const over = (v.excess - 1) * 100;
  return `MISSED by ${fmt(over, over < 1 ? 1 : 0)} % (${fmt(v.excess, over < 1 ? 3 : 2)}× the limit)`;
}

const measuredText = (v: Evaluation) => fmtSpread(v.measured, v.target.unit, v.target.digits);
const floorText = (v: Evaluation) => (v.floor && v.floor.n > 0 ? `${fmtSpread(v.floor, v.target.unit, v.target.digits)} (${v.target.floor!.what})` : v.target.floor ? `n/a (${v.target.floor.what})` : '–');
const ratioText = (v: Evaluation) => (Number.isFinite(v.ratio) ? `${fmt(v.ratio, 2)}×` : '–');

/** The targets as console lines. */
export function verdictLines(list: Evaluation[], info: RunInfo): string[] {
  return list.map((v) => {
    const word = v.met === null ? 'n/a' : v.met ? 'MET' : 'MISS';
    const floor = v.floor && v.floor.n > 0 ? ` beside ${floorText(v)} = ${ratioText(v)}` : '';
    return `${word.padEnd(4)}  ${v.figure}: ${measuredText(v)}${floor}; target ${targetText(v, info)} (issue ${v.target.issue})${v.met === null ? '' : `: ${verdictText(v)}`}`;
  });
}

/** The one targets table (markdown): each figure beside its floor in the same run. */
export function targetsTable(list: Evaluation[], info: RunInfo): string[] {
  const lines = [row(['Figure', 'Measured: median (min–max)', 'Floor in the same run: median (min–max)', 'Ratio', 'Target', 'Issue', 'Met / missed']), row(Array(7).fill('---'))];
  for (const v of list) {
    const verdict = verdictText(v);
    lines.push(row([v.figure, measuredText(v), floorText(v), ratioText(v), targetText(v, info), String(v.target.issue), v.met === false ? `**${verdict}**` : verdict]));
  }
  return lines;
}

function row(cells: string[]): string {
  return `| ${cells.join(' | ')} |`;
}

/** The main results table (markdown, also printed). */
export function resultsTable(results: Results, info: RunInfo): string[] {
  const lines = [row(['Figure', 'Gateway', 'Floor', 'Gateway / floor']), row(['---', '---', '---', '---'])];
  const ns = [...results.fanout.keys()].sort((a, b) => a - b);
  for (const n of ns) {
    const f = results.fanout.get(n)!;
    for (const [label, pick] of [
      ['p50', (r: FanoutResult) => r.analysis.publishToDelivery.p50],
      ['p99', (r: FanoutResult) => r.analysis.publishToDelivery.p99],
    ] as const) {
      const g = spreadOf(f.gateway, pick);
      const r = spreadOf(f.raw, pick);
      lines.push(row([`Publish→delivery ${label}, ${fmt(n, 0)} subscribers`, fmtSpread(g, 'ms'), `${fmtSpread(r, 'ms')} (raw ws)`, `${fmt(g.median / r.median, 2)}×`]));
    }
  }
  for (const n of ns) {
    const f = results.fanout.get(n)!;
    const g = spreadOf(f.gateway, (r) => r.analysis.fanoutMs?.p99 ?? NaN);
    const r = spreadOf(f.raw, (x) => x.analysis.fanoutMs?.p99 ?? NaN);
    lines.push(row([`Server fan-out time (publish → last frame written), worst update, ${fmt(n, 0)} subscribers`, fmtSpread(g, 'ms'), `${fmtSpread(r, 'ms')} (raw ws)`, `${fmt(g.median / r.median, 2)}×`]));
  }
  for (const n of ns) {
    const f = results.fanout.get(n)!;
    const p50 = spreadOf(f.gateway, (r) => r.analysis.changeToDelivery?.p50 ?? NaN);
    const p99 = spreadOf(f.gateway, (r) => r.analysis.changeToDelivery?.p99 ?? NaN);
    lines.push(row([`Change→delivery p50 / p99, ${fmt(n, 0)} subscribers (I = ${info.pollMs} ms)`, `${fmtSpread(p50, 'ms')} / ${fmtSpread(p99, 'ms')}`, `I/2+10 = ${fmt(info.pollMs / 2 + 10, 0)} / I+50 = ${fmt(info.pollMs + 50, 0)} ms (limits)`, `${fmt(p50.median / (info.pollMs / 2 + 10), 2)}× / ${fmt(p99.median / (info.pollMs + 50), 2)}× limit`]));
  }
  for (const n of ns) {
    const f = results.fanout.get(n)!;
    const g = spreadOf(f.gateway, (r) => r.cpuPerDeliveryUs);
    const r = spreadOf(f.raw, (x) => x.cpuPerDeliveryUs);
    lines.push(row([`Server CPU per delivered update, ${fmt(n, 0)} subscribers`, fmtSpread(g, 'µs'), `${fmtSpread(r, 'µs')} (raw ws)`, `${fmt(g.median / r.median, 2)}×`]));
  }
  if (Object.values(results.rss).some((runs) => runs.length > 0)) {
    for (const [kind, floor, label] of [
      ['graphql-ws', 'raw-ws', 'graphql-ws'],
      ['sse', 'raw-ws', 'sse'],
      ['raw-sse', 'raw-ws', 'sse, bare node:http floor'],
      ['graphql-ws:no-gc', 'raw-ws:no-gc', 'graphql-ws, no forced GC'],
    ] as const) {
      const g = spreadOf(results.rss[kind], (r) => r.bytesPerSubscription / KiB);
      const raw = spreadOf(results.rss[floor], (r) => r.bytesPerSubscription / KiB);
      lines.push(row([`RSS per open subscription, ${label} (N = ${fmt(info.rssN, 0)})`, fmtSpread(g, 'KiB'), `${fmtSpread(raw, 'KiB')} (raw ws socket${floor === 'raw-ws' ? '' : ', no forced GC'})`, `${fmt(g.median / raw.median, 2)}×`]));
    }
    const rawRate = spreadOf(results.rss['raw-ws'], (r) => r.openPerSecond);
    for (const kind of ['graphql-ws', 'sse'] as const) {
      const g = spreadOf(results.rss[kind], (r) => r.openPerSecond);
      const floor = kind === 'sse' ? spreadOf(results.rss['raw-sse'], (r) => r.openPerSecond) : rawRate;
      lines.push(row([`Subscriptions opened per second, ${kind} (200 handshakes in flight)`, fmtSpread(g, '/s', 0), `${fmtSpread(floor, '/s', 0)} (${kind === 'sse' ? 'bare node:http SSE' : 'raw ws sockets'})`, `${fmt(g.median / floor.median, 2)}×`]));
    }
  }
  if (results.upstream.length > 0) {
    const one = spreadOf(results.upstream, (r) => r.callsOne);
    const many = spreadOf(results.upstream, (r) => r.callsMany);
    const ratio = spreadOf(results.upstream, (r) => r.ratio);
    lines.push(row([`Upstream status calls per job, ${fmt(info.upstreamN, 0)} subscribers`, fmtSpread(many, '', 0), `${fmtSpread(one, '', 0)} (same job life, 1 subscriber)`, fmtSpread(ratio, '×', 3)]));
  }
  if (results.throughput.gateway.length + results.throughput.direct.length > 0) {
    const g = spreadOf(results.throughput.gateway, (r) => r.perSecond);
    const d = spreadOf(results.throughput.direct, (r) => r.perSecond);
    const gp = spreadOf(results.throughput.gateway, (r) => r.p99Ms);
    const dp = spreadOf(results.throughput.direct, (r) => r.p99Ms);
    lines.push(row(['Submit throughput, 50 in flight', `${fmtSpread(g, '/s', 0)} (generateVideo)`, `${fmtSpread(d, '/s', 0)} (undici → simulator)`, `${fmt(g.median / d.median, 2)}×`]));
    lines.push(row(['Submit latency p99, 50 in flight', fmtSpread(gp, 'ms'), fmtSpread(dp, 'ms'), `${fmt(gp.median / dp.median, 2)}×`]));
    const gc = spreadOf(results.throughput.gateway, (r) => r.serverCpuPerRequestUs);
    const dc = spreadOf(results.throughput.direct, (r) => r.serverCpuPerRequestUs);
    lines.push(row(['Server-process CPU per submit (gateway + simulator / simulator alone)', fmtSpread(gc, 'µs'), fmtSpread(dc, 'µs'), `${fmt(gc.median / dc.median, 2)}×`]));
  }
  if (results.events.updates.length + results.events.events.length > 0) {
    const n = fmt(info.eventsN, 0);
    const e = results.events.events;
    const u = results.events.updates;
    const pair = (label: string, pick: (r: FanoutResult) => number, unit: string) => {
      const a = spreadOf(e, pick);
      const b = spreadOf(u, pick);
      lines.push(row([`${label}, ${n} subscribers`, `${fmtSpread(a, unit)} (jobEvents)`, `${fmtSpread(b, unit)} (jobUpdates)`, `${fmt(a.median / b.median, 2)}×`]));
    };
    pair('Server CPU per delivered update', (r) => r.cpuPerDeliveryUs, 'µs');
    pair('Publish→delivery p99', (r) => r.analysis.publishToDelivery.p99, 'ms');
    pair('Upstream status calls per second', (r) => r.statusCallsPerSecond ?? NaN, '/s');
  }
  if (results.push.stream.length + results.push.poll.length > 0) {
    const n = fmt(info.eventsN, 0);
    for (const [label, pick] of [
      ['p50', (r: FanoutResult) => r.analysis.changeToDelivery?.p50 ?? NaN],
      ['p99', (r: FanoutResult) => r.analysis.changeToDelivery?.p99 ?? NaN],
    ] as const) {
      const a = spreadOf(results.push.stream, pick);
      const b = spreadOf(results.push.poll, pick);
      lines.push(row([`Change→delivery ${label}, ${n} subscribers`, `${fmtSpread(a, 'ms')} (FAL_UPDATES=stream)`, `${fmtSpread(b, 'ms')} (poll, I = ${info.pollMs} ms)`, `${fmt(a.median / b.median, 2)}×`]));
    }
    const perJob = (runs: UpstreamResult[]) => spread(runs.flatMap((r) => [r.callsOne, r.callsMany]));
    const a = perJob(results.push.callsStream);
    const b = perJob(results.push.callsPoll);
    lines.push(row(['Upstream status calls per job life (2 queue steps, a run, logs; poll 100 ms)', `${fmtSpread(a, '', 0)} (stream)`, `${fmtSpread(b, '', 0)} (poll)`, `${fmt(a.median / b.median, 2)}×`]));
  }
  lines.push(...readRows(results.read));
  const c = results.capacity;
  if (c) {
    lines.push(row([`Subscriptions held (goal ${fmt(c.goal, 0)})`, `${fmt(c.held, 0)}, ${c.errorCount} errors, ramp ${fmt(c.rampSeconds)} s`, '', '']));
    lines.push(row(['Event-loop delay p99 with them: ramp / idle / live job', `${ms(c.rampEldP99Ms)} / ${ms(c.idleEldP99Ms)} / ${ms(c.liveEldP99Ms)}`, '', '']));
    if (c.live) lines.push(row([`Publish→delivery p50 / p99 to ${fmt(c.held, 0)} subscribers`, `${ms(c.live.publishToDelivery.p50)} / ${ms(c.live.publishToDelivery.p99)}`, '', '']));
  }
  return lines;
}

function clockUncertaintyMs(results: Results): number {
  let worst = 0;
  for (const f of results.fanout.values()) for (const r of [...f.gateway, ...f.raw]) worst = Math.max(worst, r.clockUncertaintyUs / 1000);
  return worst;
}

function load(x: { serverCorePct: number; loadCorePct: number } | null): string {
  return x ? `${fmt(x.serverCorePct, 0)} % / ${fmt(x.loadCorePct, 0)} %` : 'n/a';
}

/** Windows in which other processes used more than `threshold` % of a core we measured on. */
export function interferenceNotes(results: Results, threshold = 5): string[] {
  const noisy: string[] = [];
  for (const [n, f] of results.fanout) {
    for (const target of ['gateway', 'raw'] as const) {
      f[target].forEach((r, i) => {
        const x = r.interference;
        if (x && (x.serverCorePct > threshold || x.loadCorePct > threshold)) noisy.push(`fan-out ${n} ${target} run ${i + 1} (${load(x)})`);
      });
    }
  }
  for (const target of ['gateway', 'direct'] as const) {
    results.throughput[target].forEach((r, i) => {
      const x = r.interference;
      if (x && (x.serverCorePct > threshold || x.loadCorePct > threshold)) noisy.push(`throughput ${target} run ${i + 1} (${load(x)})`);
    });
  }
  if (noisy.length === 0) return [];
  return [`Other processes on the machine used more than ${threshold} % of the server core or the load core during: ${noisy.join('; ')}. Those runs are noisier; the medians damp it.`];
}

function perRunTables(results: Results): string[] {
  const lines: string[] = [];
  const ns = [...results.fanout.keys()].sort((a, b) => a - b);
  if (ns.length) {
    lines.push('### Fan-out runs', '');
    lines.push(row(['Subscribers', 'Server', 'Run', 'Open', 'Updates', 'Deliveries / expected', 'Missed', 'Pub→del p50 / p99 / max ms', 'Change→del p50 / p99 ms', 'Server fan-out p50 / max ms', 'Server CPU µs/delivery', 'Client CPU µs/delivery', 'ELD p99 ms', 'Status calls/s', 'Other load core 0 / 1', 'Errors']));
    lines.push(row(Array(16).fill('---')));
    for (const n of ns) {
      const f = results.fanout.get(n)!;
      for (const target of ['gateway', 'raw'] as const) {
        f[target].forEach((r, i) => {
          const a = r.analysis;
          lines.push(
            row([
              fmt(n, 0),
              target === 'raw' ? 'raw ws' : 'gateway',
              String(i + 1),
              fmt(r.live, 0),
              `${a.updates}${r.incomplete ? ' (window cut short)' : ''}`,
              `${fmt(a.deliveries, 0)} / ${fmt(a.expected, 0)}`,
              fmt(a.missed, 0),
              `${fmt(a.publishToDelivery.p50)} / ${fmt(a.publishToDelivery.p99)} / ${fmt(a.publishToDelivery.max)}`,
              a.changeToDelivery ? `${fmt(a.changeToDelivery.p50)} / ${fmt(a.changeToDelivery.p99)}` : '–',
              a.fanoutMs ? `${fmt(a.fanoutMs.p50)} / ${fmt(a.fanoutMs.max)}` : '–',
              fmt(r.cpuPerDeliveryUs),
              fmt(r.clientCpuPerDeliveryUs),
              fmt(r.eldP99Ms),
              r.statusCallsPerSecond === null ? '–' : fmt(r.statusCallsPerSecond),
              load(r.interference),
              Object.keys(r.errors).length ? JSON.stringify(r.errors) : '0',
            ]),
          );
        });
      }
    }
    lines.push('');
  }
  const rssRuns = Object.values(results.rss).flat();
  if (rssRuns.length) {
    lines.push('### RSS runs', '');
    lines.push(row(['Kind', 'Open', 'Opened per second', 'Baseline RSS MiB', 'RSS MiB', 'KiB / subscription', 'JS heap+external KiB / subscription', 'GC forced', 'Errors']));
    lines.push(row(Array(9).fill('---')));
    for (const r of rssRuns) {
      lines.push(row([r.kind, fmt(r.live, 0), fmt(r.openPerSecond, 0), fmt(r.baselineRss / 2 ** 20), fmt(r.rss / 2 ** 20), fmt(r.bytesPerSubscription / KiB), fmt(r.heapBytesPerSubscription / KiB), r.gc ? 'yes' : 'no', Object.keys(r.errors).length ? JSON.stringify(r.errors) : '0']));
    }
    lines.push('');
  }
  if (results.upstream.length) {
    lines.push('### Upstream runs', '');
    lines.push(row(['Run', 'Poll interval', 'Status calls, 1 subscriber', `Status calls, N subscribers`, 'N', 'Ratio', 'Completed (N side)', 'Errors']));
    lines.push(row(Array(8).fill('---')));
    results.upstream.forEach((r, i) => lines.push(row([String(i + 1), `${r.pollMs} ms`, String(r.callsOne), String(r.callsMany), fmt(r.subscribers, 0), fmt(r.ratio, 3), `${r.completedMany}`, Object.keys(r.errors).length ? JSON.stringify(r.errors) : '0'])));
    lines.push('');
  }
  const tp = [...results.throughput.gateway, ...results.throughput.direct];
  if (tp.length) {
    lines.push('### Throughput runs', '');
    lines.push(row(['Target', 'Seconds', 'Completed', 'Per second', 'p50 ms', 'p99 ms', 'Server CPU µs/request', 'Other load core 0 / 1', 'Errors']));
    lines.push(row(Array(9).fill('---')));
    for (const r of tp) lines.push(row([r.target === 'gateway' ? 'generateVideo via gateway' : 'undici → simulator', fmt(r.seconds, 1), fmt(r.completed, 0), fmt(r.perSecond, 0), fmt(r.p50Ms), fmt(r.p99Ms), fmt(r.serverCpuPerRequestUs), load(r.interference), r.errors ? `${r.errors} (${r.firstError})` : '0']));
    lines.push('');
  }
  lines.push(...readRunTable(results.read));
  const c = results.capacity;
  if (c) {
    lines.push('### Capacity run', '');
    lines.push(`Goal ${fmt(c.goal, 0)}; opened ${fmt(c.opened, 0)}; held at the end ${fmt(c.held, 0)}; errors ${c.errorCount}${c.errorCount ? ` ${JSON.stringify(c.errors)}` : ''}; ramp ${fmt(c.rampSeconds)} s; server RSS ${fmt(c.rss / 2 ** 20)} MiB, open descriptors ${c.openFds ?? 'n/a'}.`);
    lines.push(`Event-loop delay p99: ramp ${ms(c.rampEldP99Ms)}, idle hold ${ms(c.idleEldP99Ms)}, live hold ${ms(c.liveEldP99Ms)} (max ${ms(c.liveEldMaxMs)}).`);
    if (c.live) {
      lines.push(
        `Live hold: ${c.live.updates} updates, ${fmt(c.live.deliveries, 0)} / ${fmt(c.live.expected, 0)} deliveries, ${fmt(c.live.missed, 0)} missed; publish→delivery p50 ${ms(c.live.publishToDelivery.p50)}, p99 ${ms(c.live.publishToDelivery.p99)}${c.liveIncomplete ? ' (window cut short: an update was not fully delivered in time)' : ''}.`,
      );
    }
    for (const note of c.notes) lines.push(`Note: ${note}.`);
    lines.push('');
  }
  return lines;
}

const ANALYSIS_BEGIN = '<!-- analysis:begin (kept by npm run bench across runs; edit freely) -->';
const ANALYSIS_END = '<!-- analysis:end -->';

/** The Analysis section of an existing BENCHMARKS.md, if any. */
export function existingAnalysis(previous: string | null): string | null {
  if (!previous) return null;
  const begin = previous.indexOf(ANALYSIS_BEGIN);
  const end = previous.indexOf(ANALYSIS_END);
  if (begin < 0 || end < begin) return null;
  return previous.slice(begin + ANALYSIS_BEGIN.length, end).trim();
}

export function markdown(results: Results, info: RunInfo, list: Evaluation[], analysis: string | null): string {
  const m = info.machine;
  const misses = list.filter((v) => v.met === false);
  const lines: string[] = [];
  lines.push('# Benchmarks', '');
  lines.push(`Generated by \`${info.command}\` on ${m.date} (${info.mode} mode, ${info.runs} run${info.runs === 1 ? '' : 's'}, ${fmt(info.elapsedSeconds, 0)} s). Regenerate with the commands below; this file is overwritten except for the Analysis section.`, '');
  lines.push('## Machine', '');
  lines.push(`- CPU: ${m.cores} cores (${m.cpuModel}); memory ${fmt(m.memoryGiB, 1)} GiB; ${m.os}`);
  lines.push(`- Node ${m.node}`);
  lines.push(`- Pinning: ${m.pinned ? 'servers under test on core 0 (`taskset -c 0`), load generator on core 1 (`taskset -c 1`)' : 'none (see notes)'}`);
  lines.push(`- Descriptors per process (\`ulimit -n\` soft/hard): ${m.nofile}; ephemeral ports ${m.portRange}`);
  lines.push(`- Date: ${m.date}`);
  lines.push(`- Code under test: ${m.code}`, '');
  lines.push('## Reproduce', '');
  lines.push('```sh');
  lines.push('export PATH=/opt/node24/bin:$PATH   # Node 24');
  lines.push('npm ci');
  lines.push('npm run bench                      # full run: 3 interleaved runs, writes BENCHMARKS.md (about 6 min)');
  lines.push('npm run bench -- --quick           # smoke test: small N, 1 run, prints only (< 1 min)');
  lines.push('npm run bench -- --runs 5 --only fanout,rss   # --only prints only (add --write to write this file)');
  lines.push('npm run bench -- --only fanout --runs 1 --fanout 10000 --profile   # CPU profiles of both servers during the window');
  lines.push('# more flags: --poll-ms I, --fanout N1,N2, --window K, --rss-n N, --upstream-n N, --capacity N, --throughput-s S, --no-pin, --out FILE');
  lines.push('```', '');
  lines.push(`This run: \`${info.command}\` — poll interval I = ${info.pollMs} ms, fan-out N = ${info.fanoutNs.map((n) => fmt(n, 0)).join(' and ')}, ${info.windowUpdates} updates per fan-out window, RSS N = ${fmt(info.rssN, 0)}, upstream N = ${fmt(info.upstreamN, 0)}, ${info.throughputSeconds} s per throughput side, capacity goal ${fmt(info.capacityGoal, 0)}${info.only ? `, only ${info.only.join(', ')}` : ''}.`, '');
  lines.push('## Targets', '');
  lines.push('Every target of the issues, from one table (scripts/bench/targets.ts). Measured and floor are medians over the runs with min–max; ratio is measured ÷ floor (medians); a target written "× the floor" applies to that ratio, any other to the measured median.', '');
  lines.push(...targetsTable(list, info), '');
  lines.push('## Results', '');
  lines.push('Each figure is the median over the runs, with min–max in brackets; gateway and floor were measured in the same run, interleaved (the order alternates run by run).', '');
  lines.push(...resultsTable(results, info), '');
  lines.push('## How each figure is measured', '');
  lines.push(
    '- **Processes.** The gateway under test runs in a child process (`scripts/bench/server.ts`: the fal simulator and `createApp` in one process, plus a control endpoint on its own loopback port), pinned to core 0. The floor, `scripts/bench/raw-ws-server.ts`, is a bare `ws` server, also a child on core 0. The load generator is the bench process itself, pinned to core 1. Every socket is on 127.0.0.1. Each run of each scenario starts a fresh server child.',
    `- **Clock.** All processes read \`performance.timeOrigin + performance.now()\` (µs). The bench measures each child's offset to its own clock over loopback (best of 25 round trips) and corrects; the residual uncertainty is half the best round trip: at most ${fmt(clockUncertaintyMs(results), 2)} ms in this run.`,
    '- **Subscribers.** One subscription per WebSocket, as dashboards do: `ws` with the `graphql-transport-ws` subprotocol (connection_init → connection_ack → subscribe) opened 200 at a time, selecting `jobUpdates(id) { id status queuePosition updatedAt }`. The raw floor\'s clients are plain WebSockets; its frame has the same JSON shape and size as the gateway\'s `next` message. The receive instant is taken first thing in the client\'s message handler. A subscriber that skips an update (the gateway sends a slow client only the latest state) counts as having received it when it receives a newer one.',
    `- **Publish→delivery (1).** Gateway: from the instant the gateway dispatches the job's new state to its subscribers (the app's measurement hook \`observe.onPublish\` for \`job:<id>\`, called right before the state is dispatched to the job's followers; see AppObserver in src/app.ts) to the instant each subscriber receives the \`next\` frame. Floor: from the instant the raw server starts its broadcast loop for a frame (serialized once) to the instant each client receives it. The job is a simulated run (\`[sim:fast]\`) that logs a line every ${info.logEveryMs} ms, so every poll (every I ≈ ${info.pollMs} ms ± 10 % jitter) publishes one update; the floor broadcasts every ${info.pollMs} ms. After warm-up updates, a window of ${info.windowUpdates} updates is measured; p50/p99 are over all (update, subscriber) pairs of the window.`,
    '- **Server fan-out time.** From the same publish instant to the instant the server handed the last frame of that update to a socket (gateway: the app\'s measurement hook `observe.onDelivered`, called after each frame is handed to `ws`; raw: the end of its loop). It does not depend on the load generator\'s speed; "worst update" is the largest over the window.',
    '- **Change→delivery.** From the instant the upstream changed (a simulator log line appears: its own timestamp, mapped to the common clock; ≤ 1 ms truncation) to the instant a subscriber receives the first update that carries it. This includes the wait for the next poll, so it is bounded below by the poll interval\'s phase: expect ≈ I/2 median.',
    '- **Server CPU per delivered update (2).** `process.cpuUsage()` (user + system, all threads) of the server child, read right after a fan-out completed (every subscriber had it) at the start and the end of the window, divided by the frames the clients received in between. For the gateway this includes its polls in the window (one upstream status call per update, answered by the simulator in the same process) and the keep-alive pings; the raw floor pings every 12 s too. The load generator\'s own CPU per received frame is in the per-run table, to show how close the client is to being the bottleneck.',
    '- **RSS per open subscription (3).** One subscription per connection. Server child started with `--expose-gc`; 20 subscribers opened to warm up, `gc()`, RSS read (baseline); N more idle subscriptions opened (a job that does not change), `gc()`, RSS read; (RSS − baseline) / N. graphql-ws and SSE (POST `accept: text/event-stream`, one HTTP connection each) in separate gateway children; the floor is N plain `ws` sockets on the raw server. The no-forced-GC mode (graphql-ws and its raw floor again) starts the child without `--expose-gc` and reads the same two RSS values with no `gc()`, as a production process would be seen from outside: the figure then includes garbage not yet collected.',
    '- **Upstream status calls per job (4).** Two twin jobs submitted back to back to one gateway (poll interval 100 ms for resolution), with the same simulated life (2 queue steps, a run, logs, result); one followed by 1 subscriber, the other by N. After both complete, the simulator\'s `statusCalls(requestId)` for each; ratio = N-side / 1-side.',
    `- **Submit throughput (5).** ${50} concurrent loops (undici Pool, 50 connections) for ${info.throughputSeconds} s after a warm-up: \`generateVideo\` mutations to the gateway, and, to the same simulator in the same child, the POST the gateway itself sends upstream (same JSON payload, \`Authorization: Key\`). Requests completing inside the window count; p50/p99 are per request. The gateway's poll interval is set to 10 minutes here so no status polls run during the test: both sides measure the submit path (the gateway also validates, stores the job and checks quotas).`,
    `- **Capacity (6).** One gateway child; up to the goal graphql-ws subscriptions on one job, opened 200 at a time, stopping after 100 errors. Event-loop delay (\`perf_hooks.monitorEventLoopDelay\`, 10 ms resolution, resolution subtracted) is read in the server child over three phases: the ramp (job frozen with the simulator's \`pause()\`), an idle hold, and a live hold (job resumed: every poll fans out to every subscription). Errors are failed handshakes, GraphQL errors and sockets closed by the server. The event-loop target uses the live hold.`,
    '',
  );
  lines.push('## Per-run numbers', '');
  lines.push(...perRunTables(results));
  const missingLog = [...results.fanout.values()].some((f) => f.gateway.some((r) => r.publishLogMissing));
  const notes = [
    ...info.notes,
    ...interferenceNotes(results),
    ...(missingLog ? ['The gateway reported no `job:<id>` publishes through its onPublish hook, so publish→delivery and change→delivery could not be measured for it (its event path changed; see scripts/bench/server.ts).'] : []),
    ...results.failures.map((f) => `Scenario failure: ${f}`),
  ];
  if (notes.length) {
    lines.push('## Notes', '');
    for (const n of notes) lines.push(`- ${n}`);
    lines.push('');
  }
  lines.push('## Missed targets', '');
  if (misses.length === 0) lines.push('None in this run.');
  for (const v of misses) lines.push(`- **${v.figure}** (issue ${v.target.issue}): ${measuredText(v)}, target ${targetText(v, info)}: ${verdictText(v)}.`);
  lines.push('');
  lines.push('## Analysis', '');
  lines.push(ANALYSIS_BEGIN);
  if (analysis) lines.push(analysis);
  else {
    lines.push('_For the lead: why each missed target above is missed, and what would close it. `npm run bench` keeps this section (between the markers) when it rewrites the file._', '');
    lines.push('### Why, and what would close it', '', '- (lead)', '');
  }
  lines.push(ANALYSIS_END, '');
  return lines.join('\n');
}

/**
 * The measurement window shared by the fan-out and capacity scenarios, and the delivery analysis.
 *
 * Window: after `warm` updates were fully delivered (every live subscriber reached them), the
 * server's event-loop histogram is reset and its CPU time read; then the bench waits until `updates`
 * more updates were fully delivered (each within a timeout) and reads the CPU time again. Because
 * both reads happen right after a fan-out finished and long before the next poll, the CPU delta is
 * the cost of exactly those updates (plus the poller's upstream calls and the keep-alive pings that
 * fell inside the window).
 */
import type { Fleet } from './clients.ts';
import type { ProcessStats } from './control.ts';
import { Interference, type Child } from './proc.ts';
import { LOAD_CORE, SERVER_CORE } from './gateway.ts';
import { Samples } from './stats.ts';
import type { PublishRecord } from './common.ts';


export interface LatencySummary {
  p50: number;
  p99: number;
  max: number;
  count: number;
}

export interface DeliveryAnalysis {
  /** Server decides to send (gateway: the app's onPublish hook for the job's new state; raw: start of the broadcast loop) -> client receives. ms. */
  publishToDelivery: LatencySummary;
  /** Upstream change (simulator log line appears) -> client receives it. ms. Null when the server reports no change instants. */
  changeToDelivery: LatencySummary | null;
  /** Frames received carrying a window update. */
  deliveries: number;
  /** Window updates x live subscribers. */
  expected: number;
  /** (update, subscriber) pairs where the subscriber never reached the update (nor a newer one). */
  missed: number;
  updates: number;
  /** Upstream changes carried by the window updates. */
  changes: number;
  /** Server side, per update: publish -> last frame handed to a socket. ms. Independent of the load generator's speed. */
  fanoutMs: LatencySummary | null;
}

export interface WindowResult {
  analysis: DeliveryAnalysis;
  /** Server CPU (user + system) over the window, µs. */
  cpuUs: number;
  /** This process's (the load generator's) CPU over the window, µs. */
  clientCpuUs: number;
  windowMs: number;
  start: ProcessStats;
  end: ProcessStats;
  /** Updates that were not fully delivered within the timeout (the window ended early). */
  incomplete: boolean;
  publishLogMissing: boolean;
  /** CPU other processes used on the server core / load core during the window (% of the window); null if unknown. */
  interference: { serverCorePct: number; loadCorePct: number } | null;
}

/** Analyses deliveries of the updates with key in (fromKey, toKey]; publish instants already on our clock. */
export function analyze(fleet: Fleet, publishes: PublishRecord[], fromKey: string, toKey: string): DeliveryAnalysis {
  const window = publishes.filter((p) => p.key > fromKey && p.key <= toKey).sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  const publish = new Samples();
  const change = new Samples();
  let deliveries = 0;
  let missed = 0;
  let subscribersCounted = 0;
  const changes = window.reduce((n, p) => n + p.changesUs.length, 0);
  for (const s of fleet.subscribers) {
    if (!s.ready) continue;
    subscribersCounted++;
    for (const key of s.keys) if (key > fromKey && key <= toKey) deliveries++;
    let j = 0;
    for (const p of window) {
      while (j < s.keys.length && s.keys[j]! < p.key) j++;
      if (j >= s.keys.length) {
        missed++;
        continue;
      }
      const t = s.times[j]!;
      publish.push((t - p.tUs) / 1000);
      for (const c of p.changesUs) change.push((t - c) / 1000);
    }
  }
  const fanout = new Samples();
  for (const p of window) if (typeof p.lastSendUs === 'number' && p.sends > 0) fanout.push((p.lastSendUs - p.tUs) / 1000);
  return {
    fanoutMs: fanout.length ? fanout.summary() : null,
    publishToDelivery: publish.summary(),
    changeToDelivery: changes > 0 ? change.summary() : null,
    deliveries,
    expected: window.length * subscribersCounted,
    missed,
    updates: window.length,
    changes,
  };
}

/** Fetches the child's publish log (since `sinceUs`, child clock) and moves it onto our clock. */
export async function publishLog(child: Child<unknown>, sinceUs: number, topic?: string): Promise<PublishRecord[]> {
  const raw = await child.get<PublishRecord[]>(`/publishes?since=${Math.floor(sinceUs)}`);
  const offset = child.clock.offsetUs;
  return raw
    .filter((p) => topic === undefined || p.topic === topic)
    .map((p) => ({ ...p, tUs: p.tUs - offset, changesUs: p.changesUs.map((c) => c - offset), lastSendUs: typeof p.lastSendUs === 'number' ? p.lastSendUs - offset : null }));
}

export async function measureWindow(
  child: Child<unknown>,
  fleet: Fleet,
  options: { warm: number; updates: number; timeoutMs: number; topic?: string; profilePath?: string },
): Promise<WindowResult> {
  const target = () => fleet.live();
  const newest = () => fleet.tracker.known[fleet.tracker.known.length - 1] ?? '';
  let incomplete = false;
  /** The next update every live subscriber reached; on timeout, the newest update anyone saw (window marked incomplete). */
  const next = async (after: string): Promise<string | null> => {
    const key = await fleet.tracker.nextDelivered(after, target, options.timeoutMs);
    if (key) return key;
    incomplete = true;
    const seen = newest();
    return seen > after ? seen : null;
  };
  let after = newest();
  for (let i = 0; i < options.warm; i++) {
    const key = await next(after);
    if (!key) throw new Error(`no update reached the subscribers within ${options.timeoutMs} ms (warm-up ${i + 1})`);
    after = key;
  }
  const fromKey = after;
  if (options.profilePath) await child.post('/profile/start');
  await child.post('/eld/reset');
  const start = await child.stats();
  const interference = new Interference();
  const clientStart = process.cpuUsage();
  for (let i = 0; i < options.updates; i++) {
    const key = await next(after);
    if (!key) break;
    after = key;
  }
  const clientCpu = process.cpuUsage(clientStart);
  const end = await child.stats();
  if (options.profilePath) await child.post('/profile/stop', { path: options.profilePath });
  const toKey = after;
  const cpuUs = end.cpuUserUs + end.cpuSystemUs - (start.cpuUserUs + start.cpuSystemUs);
  const foreign = interference.finish(cpuUs, SERVER_CORE, LOAD_CORE);
  const publishes = await publishLog(child, start.nowUs - 120e6, options.topic);
  const analysis = analyze(fleet, publishes, fromKey, toKey);
  return { analysis, cpuUs, clientCpuUs: clientCpu.user + clientCpu.system, windowMs: (end.nowUs - start.nowUs) / 1000, start, end, incomplete, publishLogMissing: publishes.length === 0, interference: foreign };
}

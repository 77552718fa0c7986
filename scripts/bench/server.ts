/**
 * The gateway under test, as a child process of `npm run bench`: a fal simulator and the gateway
 * (createApp, configured from the environment like src/main.ts, FAL_QUEUE_URL pointing at the
 * simulator) in one process, plus a control endpoint on its own loopback port.
 *
 * Environment: the gateway's own variables (PORT, HOST, POLL_INTERVAL_MS, SQLITE_PATH, quotas...),
 * and BENCH_SIM_TIMING (JSON, overrides of the simulator timing), BENCH_FAL_KEY.
 *
 * Publish instants come from the app's measurement hooks (AppOptions.observe in src/app.ts):
 * `onPublish` records when the gateway publishes a job's new state on `job:<id>` (the instant it
 * decides to fan a change out), the job's updatedAt (the key clients see), and the simulator instants
 * of the log lines that are new in it (the upstream changes this publish carries). `onDelivered`
 * records when the last frame after each publish was handed to its socket. If the gateway publishes
 * no job states, the log stays empty and the parent reports publish->delivery as unavailable.
 *
 * Prints one line `@@bench-ready {json}` on stdout when ready; everything else on stdout is the
 * gateway's own log (LOG_LEVEL=warn).
 */
import { createApp } from '../../src/app.ts';
import { loadConfig } from '../../src/config.ts';
import type { Job } from '../../src/domain/job.ts';
import { startFalSimulator } from '../../src/fal-simulator/index.ts';
import type { SimulatorTiming } from '../../src/fal-simulator/index.ts';
import { nowUs, READY_PREFIX, wallToCommonOffsetUs, type PublishRecord } from './common.ts';
import { startControl } from './control.ts';

const MAX_RECORDS = 200_000;
const publishes: PublishRecord[] = [];
const lastLogMs = new Map<string, number>();
let wallOffsetUs = wallToCommonOffsetUs();

/** onPublish: one record per published state, with the upstream changes (new log lines) it carries. */
function record(topic: string, job: Job): void {
  const tUs = nowUs();
  if (publishes.length >= MAX_RECORDS) return;
  const previous = lastLogMs.get(topic) ?? -Infinity;
  let newest = previous;
  const changesUs: number[] = [];
  for (const line of job.logs) {
    const ms = line.timestamp ? Date.parse(line.timestamp) : NaN;
    if (!(ms > previous)) continue;
    changesUs.push(ms * 1000 + wallOffsetUs);
    if (ms > newest) newest = ms;
  }
  lastLogMs.set(topic, newest);
  current = { topic, key: job.updatedAt, tUs, status: job.status, queuePosition: job.queuePosition, changesUs, sends: 0, lastSendUs: null };
  publishes.push(current);
}

// Server-side fan-out time: every frame handed to a socket after a publish is attributed to it.
let current: PublishRecord | null = null;
function delivered(): void {
  if (!current) return;
  current.sends++;
  current.lastSendUs = nowUs();
}

const falKey = process.env.BENCH_FAL_KEY || 'bench-fal-key';
const timing = JSON.parse(process.env.BENCH_SIM_TIMING || '{}') as Partial<SimulatorTiming>;

// The simulator's wall origin is Date.now() when it starts: start it right after a millisecond tick
// so log timestamps map back to the common clock within their own 1 ms truncation.
const tick = Date.now();
while (Date.now() === tick);
const simulator = await startFalSimulator({ apiKey: falKey, timing });
wallOffsetUs = wallToCommonOffsetUs();

const config = loadConfig({
  ...process.env,
  FAL_KEY: falKey,
  FAL_QUEUE_URL: simulator.url,
  MEDIA_STORE: process.env.MEDIA_STORE ?? 'off', // durable copies are measured apart; keep the figures comparable
  PORT: process.env.PORT ?? '0',
  HOST: process.env.HOST ?? '127.0.0.1',
});
const app = await createApp(config, { observe: { onPublish: record, onDelivered: delivered } });
const { httpUrl, wsUrl, port } = await app.start();

const control = await startControl({
  'GET /publishes': (_body, query) => {
    const since = Number(query.get('since') ?? 0);
    return publishes.filter((p) => p.tUs >= since);
  },
  'POST /sim/status-calls': (body: { ids?: string[] }) => Object.fromEntries((body.ids ?? []).map((id) => [id, simulator.statusCalls(id)])),
  'GET /sim/stats': () => ({ ...simulator.stats, jobs: simulator.jobCount() }),
  'POST /sim/pause': () => simulator.pause(),
  'POST /sim/resume': () => simulator.resume(),
  'POST /sim/timing': (body: { timing?: Partial<SimulatorTiming> }) => simulator.setTiming(body.timing ?? {}),
});

const stop = () => process.exit(0);
process.on('SIGTERM', stop);
process.on('SIGINT', stop);

process.stdout.write(
  `${READY_PREFIX}${JSON.stringify({ control, httpUrl, wsUrl, port, simulatorUrl: simulator.url, falKey, model: config.falModel, pid: process.pid, pollIntervalMs: config.pollIntervalMs })}\n`,
);

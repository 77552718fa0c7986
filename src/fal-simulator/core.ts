/**
 * The simulator without a server of its own: its state, the request handler, the webhook watcher,
 * the sweep that forgets finished jobs, and persistence. index.ts puts it on a port or mounts it.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createSimClock } from './clock.ts';
import { createFaultRegistry } from './faults.ts';
import { loadSampleVideo } from './files.ts';
import { handleRequest } from './handle-request.ts';
import { endAt, phaseAt } from './jobs.ts';
import type { SimulatorTiming } from './jobs.ts';
import { openJournal } from './persist.ts';
import { createWebhookSigner } from './signer.ts';
import { appPrefixOf } from './state.ts';
import type { State } from './state.ts';
import { createWebhookWatcher } from './webhooks.ts';
import { sendJson } from './wire.ts';
import { isAuthorized } from './routes.ts';
import { createSimulatorStorage, type SimulatorStorage } from './storage.ts';

export interface CoreOptions {
  modelId: string;
  apiKey: string | null;
  timing: SimulatorTiming;
  pathPrefix: string;
  recordRequests: boolean;
  forgetAfterMs: number;
  streamKeepAliveMs: number;
  webhookUserId: string;
  webhookRetryMs: number;
  persistPath: string | null;
}

export interface Core {
  state: State;
  /** fal storage (uploads) and the media-host switches (storage.ts). */
  storage: SimulatorStorage;
  handle(req: IncomingMessage, res: ServerResponse): void;
  /** Sets the simulator's URL (and the origin named in job URLs); then resumes saved webhooks. */
  setUrls(url: string, urlOrigin: string): void;
  /** Stops every timer and stream, and saves. */
  shutdown(): void;
}

/** Forgets finished jobs older than `forgetAfterMs` whose webhook is done; true when any went. */
function sweep(state: State, forgetAfterMs: number): boolean {
  const now = state.clock.now();
  let forgot = false;
  for (const [id, job] of state.jobs) {
    if (phaseAt(job, now).status !== 'COMPLETED' || now - endAt(job) < forgetAfterMs) continue;
    if (job.webhookUrl !== null && !job.webhookDone) continue;
    state.jobs.delete(id);
    state.statusCalls.delete(id);
    forgot = true;
  }
  if (forgot) {
    const kept = state.webhookDeliveries.filter((delivery) => state.jobs.has(delivery.requestId));
    state.webhookDeliveries.splice(0, state.webhookDeliveries.length, ...kept);
  }
  return forgot;
}

export function createCore(options: CoreOptions): Core {
  const clock = createSimClock();
  const journal = options.persistPath ? openJournal(options.persistPath, clock) : null;
  const saved = journal ?? { privateKeyPem: null, jobs: [] };
  const signer = createWebhookSigner(saved.privateKeyPem ?? undefined);
  const compact = () => journal?.compact(signer.privateKeyPem, state.jobs.values());
  const state: State = {
    modelPath: `/${options.modelId}`,
    appPrefix: appPrefixOf(options.modelId),
    pathPrefix: options.pathPrefix,
    apiKey: options.apiKey,
    clock,
    faults: createFaultRegistry(),
    jobs: new Map(saved.jobs.map((job) => [job.id, job])),
    statusCalls: new Map(),
    openStreams: new Map(),
    streamWakers: new Map(),
    inFlight: { now: 0, peak: 0 },
    stats: { submit: 0, status: 0, result: 0, cancel: 0, stream: 0 },
    requests: [],
    recordRequests: options.recordRequests,
    cleanups: new Set(),
    streamKeepAliveMs: options.streamKeepAliveMs,
    signer,
    webhookUserId: options.webhookUserId,
    webhookRetryMs: options.webhookRetryMs,
    webhookDeliveries: [],
    video: loadSampleVideo(),
    submitted: saved.jobs.length,
    timing: options.timing,
    url: '',
    urlOrigin: '',
    closed: false,
    echoAuthorization: false,
    authorization: null,
    onSubmitted(job) {
      state.submitted++;
      journal?.record(job);
      watcher.watch(job);
    },
    onChanged(job) {
      if (!state.closed) journal?.record(job);
      for (const wake of [...(state.streamWakers.get(job.id) ?? [])]) wake();
    },
  };
  compact();
  const storage = createSimulatorStorage({
    url: () => state.url,
    isAuthorized: (header) => isAuthorized(state, header),
    modelPath: state.modelPath,
    pathPrefix: options.pathPrefix,
    onClose: (cleanup) => state.cleanups.add(cleanup),
  });
  const watcher = createWebhookWatcher(state);
  const sweepEveryMs = Math.min(60_000, Math.max(20, options.forgetAfterMs / 4));
  const sweeper = setInterval(() => {
    if (sweep(state, options.forgetAfterMs)) compact();
  }, sweepEveryMs).unref();
  return {
    state,
    storage,
    handle(req, res) {
      const load = state.inFlight;
      load.now++;
      load.peak = Math.max(load.peak, load.now);
      res.once('close', () => load.now--);
      storage
        .intercept(req, res)
        .then((handled) => (handled || state.closed ? undefined : handleRequest(state, req, res)))
        .catch(() => sendJson(res, 500, { detail: 'Internal Server Error' }));
    },
    setUrls(url, urlOrigin) {
      state.url = url;
      state.urlOrigin = urlOrigin;
      for (const job of state.jobs.values()) watcher.watch(job);
    },
    shutdown() {
      state.closed = true;
      clearInterval(sweeper);
      watcher.stop();
      for (const cleanup of [...state.cleanups]) cleanup();
    },
  };
}

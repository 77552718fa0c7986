/**
 * A faithful fake of fal.ai's queue API (see /work/shared/FAL_QUEUE.md) for one model endpoint,
 * served over real HTTP with node:http. Job progress is a pure function of simulated (pausable)
 * time since submit, so idle jobs cost nothing; only open status streams hold timers.
 *
 * It speaks the wire as documented and imports nothing from the gateway's own code.
 */
import { createServer } from 'node:http';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { createCore } from './core.ts';
import type { Core } from './core.ts';
import type { SimulatorFault } from './faults.ts';
import { DEFAULT_SIMULATOR_TIMING, mergeTiming } from './jobs.ts';
import type { SimulatorTiming } from './jobs.ts';
import type { RecordedRequest, SimulatorStats } from './state.ts';
import type { WebhookDelivery } from './webhooks.ts';

export type { SimulatorFault, SimulatorOperation, FaultOperation, WebhookFaultKind } from './faults.ts';
export type { SimulatorTiming } from './jobs.ts';
export { DEFAULT_SIMULATOR_TIMING } from './jobs.ts';
export type { RecordedRequest, SimulatorStats } from './state.ts';
export type { WebhookDelivery } from './webhooks.ts';
export type { WebhookJwk } from './signer.ts';
export { webhookMessage } from './signer.ts';
export { appPrefixOf } from './state.ts';
export type { SimulatorStorage, StoredUpload } from './storage.ts';
import type { SimulatorStorage } from './storage.ts';

/** Options of `startFalSimulator`. */
export interface FalSimulatorOptions {
  /** Default 0 (ephemeral). */
  port?: number;
  /** Default '127.0.0.1'. */
  host?: string;
  /** Default 'fal-ai/kling-video/v2.5-turbo/pro/image-to-video'. */
  modelId?: string;
  /** When set, require 'Authorization: Key <apiKey>' or 'Bearer <apiKey>'; null/undefined accept anything. */
  apiKey?: string | null;
  /** Overrides of DEFAULT_SIMULATOR_TIMING. */
  timing?: Partial<SimulatorTiming>;
  /** Origin named in status_url/response_url/cancel_url; default the simulator's own URL. */
  urlOrigin?: string;
  /** Keep every request in `requests` (tests); default false, so a long-running simulator keeps none. */
  recordRequests?: boolean;
  /** Finished jobs are forgotten this long (simulated ms) after they complete; default 1 h. */
  forgetAfterMs?: number;
  /** A `: keep-alive` comment on status streams this often; default 15 s (fal's). */
  streamKeepAliveMs?: number;
  /** X-Fal-Webhook-User-Id of webhooks; default 'simulator-user'. */
  webhookUserId?: string;
  /** Wait between webhook delivery attempts (up to 10); default 1000 ms. */
  webhookRetryMs?: number;
  /** A JSON file that keeps jobs and the webhook key across restarts; default none (memory only). */
  persistPath?: string | null;
}

/** Options of `createMountedFalSimulator`: served by someone else's server under `pathPrefix`. */
export interface MountedFalSimulatorOptions extends Omit<FalSimulatorOptions, 'port' | 'host'> {
  /** Its public base URL, e.g. 'http://127.0.0.1:4000/fal-simulator'. */
  url: string;
  /** The path it answers under, e.g. '/fal-simulator'. */
  pathPrefix: string;
}

/** A running simulator. */
export interface FalSimulator {
  /** 'http://127.0.0.1:<port>' */
  readonly url: string;
  readonly port: number;
  readonly stats: SimulatorStats;
  /** Every request received, in order (only with `recordRequests`). */
  readonly requests: RecordedRequest[];
  /** `${url}/.well-known/jwks.json`: the public key of its signed webhooks. */
  readonly jwksUrl: string;
  /** Every webhook delivery attempt, in order. */
  readonly webhookDeliveries: WebhookDelivery[];
  /** How many status polls (not streams) named this request id. */
  statusCalls(requestId: string): number;
  /** Status streams open now: for this request id, or in all. */
  openStreams(requestId?: string): number;
  /** Most requests it was answering at the same time, since start (for concurrency caps). */
  peakInFlight(): number;
  /** Changes the timing of jobs submitted from now on (running jobs keep theirs). */
  setTiming(timing: Partial<SimulatorTiming>): void;
  /** Arms a fault; faults are matched in the order added. */
  addFault(fault: SimulatorFault): void;
  clearFaults(): void;
  /** Freezes every job's progress (queue and run clocks stop) until resume(). */
  pause(): void;
  resume(): void;
  /** Number of jobs submitted so far (forgotten ones included). */
  jobCount(): number;
  /** fal storage (uploads) and media-host switches (storage.ts). */
  readonly storage: SimulatorStorage;
  /** Closes the server, destroys open sockets (status streams included) and clears every timer. */
  close(): Promise<void>;
}

/** A simulator served by another server: hand it the requests under its prefix. */
export interface MountedFalSimulator extends FalSimulator {
  /** Answers one request whose path starts with the prefix. */
  handle(req: IncomingMessage, res: ServerResponse): void;
  /** Whether a request path is the simulator's. */
  owns(pathname: string): boolean;
}

const DEFAULT_MODEL_ID = 'fal-ai/kling-video/v2.5-turbo/pro/image-to-video';

function formatOrigin(host: string, port: number): string {
  const reachable = host === '0.0.0.0' ? '127.0.0.1' : host === '::' ? '::1' : host;
  return `http://${reachable.includes(':') ? `[${reachable}]` : reachable}:${port}`;
}

function coreOf(options: FalSimulatorOptions, pathPrefix: string): Core {
  return createCore({
    modelId: (options.modelId ?? DEFAULT_MODEL_ID).replace(/^\/+|\/+$/g, ''),
    apiKey: options.apiKey ?? null,
    timing: mergeTiming(DEFAULT_SIMULATOR_TIMING, options.timing),
    pathPrefix,
    recordRequests: options.recordRequests ?? false,
    forgetAfterMs: options.forgetAfterMs ?? 3_600_000,
    streamKeepAliveMs: options.streamKeepAliveMs ?? 15_000,
    webhookUserId: options.webhookUserId ?? 'simulator-user',
    webhookRetryMs: options.webhookRetryMs ?? 1000,
    persistPath: options.persistPath ?? null,
  });
}

/** The public face of a core; `close` is the owner's. */
function facade(core: Core, port: number, close: () => Promise<void>): FalSimulator {
  const { state } = core;
  return {
    url: state.url,
    port,
    stats: state.stats,
    requests: state.requests,
    jwksUrl: `${state.url}/.well-known/jwks.json`,
    webhookDeliveries: state.webhookDeliveries,
    statusCalls: (requestId) => state.statusCalls.get(requestId) ?? 0,
    openStreams: (requestId) =>
      requestId === undefined ? [...state.openStreams.values()].reduce((sum, n) => sum + n, 0) : (state.openStreams.get(requestId) ?? 0),
    peakInFlight: () => state.inFlight.peak,
    setTiming(timing) {
      state.timing = mergeTiming(state.timing, timing);
    },
    addFault: (fault) => state.faults.add(fault),
    clearFaults: () => state.faults.clear(),
    pause: () => state.clock.pause(),
    resume: () => state.clock.resume(),
    jobCount: () => state.submitted,
    storage: core.storage,
    close,
  };
}

/** Starts a fal queue simulator on `options.port` (default: an ephemeral port) and resolves once it listens. */
export async function startFalSimulator(options: FalSimulatorOptions = {}): Promise<FalSimulator> {
  const host = options.host ?? '127.0.0.1';
  const core = coreOf(options, '');
  const sockets = new Set<Socket>();
  const server = createServer(core.handle);
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  const url = formatOrigin(host, port);
  core.setUrls(url, (options.urlOrigin ?? url).replace(/\/+$/, ''));
  let closing: Promise<void> | null = null;
  return facade(core, port, () => {
    closing ??= new Promise<void>((resolve) => {
      core.shutdown();
      server.close(() => resolve());
      for (const socket of sockets) socket.destroy();
    });
    return closing;
  });
}

/** A simulator without a port of its own, answering under `pathPrefix` of another server. */
export function createMountedFalSimulator(options: MountedFalSimulatorOptions): MountedFalSimulator {
  const prefix = `/${options.pathPrefix.replace(/^\/+|\/+$/g, '')}`;
  const core = coreOf(options, prefix);
  const url = options.url.replace(/\/+$/, '');
  core.setUrls(url, (options.urlOrigin ?? url).replace(/\/+$/, ''));
  const port = Number(new URL(url).port || 80);
  const simulator = facade(core, port, async () => core.shutdown());
  return {
    ...simulator,
    handle: core.handle,
    owns: (pathname) => pathname === prefix || pathname.startsWith(`${prefix}/`),
  };
}

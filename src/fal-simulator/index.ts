/**
 * A faithful fake of fal.ai's queue API (see /work/shared/FAL_QUEUE.md) for one model endpoint,
 * served over real HTTP with node:http. Job progress is a pure function of simulated (pausable)
 * time since submit, so idle jobs cost nothing; only open status streams hold timers.
 *
 * It speaks the wire as documented and imports nothing from the gateway's own code.
 */
import { createServer } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { createSimClock } from './clock.ts';
import { createFaultRegistry } from './faults.ts';
import type { SimulatorFault } from './faults.ts';
import { handleRequest } from './handle-request.ts';
import type { SimulatorTiming } from './jobs.ts';
import { appPrefixOf } from './state.ts';
import type { RecordedRequest, SimulatorStats, State } from './state.ts';
import { sendJson } from './wire.ts';

export type { SimulatorFault, SimulatorOperation } from './faults.ts';
export type { SimulatorTiming } from './jobs.ts';
export type { RecordedRequest, SimulatorStats } from './state.ts';
export { appPrefixOf } from './state.ts';

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
}

/** A running simulator. */
export interface FalSimulator {
  /** 'http://127.0.0.1:<port>' */
  readonly url: string;
  readonly port: number;
  readonly stats: SimulatorStats;
  /** Every request received, in order. */
  readonly requests: RecordedRequest[];
  /** How many status polls (not streams) named this request id. */
  statusCalls(requestId: string): number;
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
  /** Number of jobs submitted so far. */
  jobCount(): number;
  /** Closes the server, destroys open sockets (status streams included) and clears every timer. */
  close(): Promise<void>;
}

/** Demo timing: a job completes in about 16 s (8 s queued, 8 s running). */
export const DEFAULT_SIMULATOR_TIMING: SimulatorTiming = Object.freeze({
  initialQueuePosition: 3,
  queueStepMs: 2000,
  runMs: 8000,
  logEveryMs: 1000,
  logWindowMs: 3000,
});

const DEFAULT_MODEL_ID = 'fal-ai/kling-video/v2.5-turbo/pro/image-to-video';

/** Overrides `base` with the defined values of `patch`. */
function mergeTiming(base: SimulatorTiming, patch: Partial<SimulatorTiming> = {}): SimulatorTiming {
  const defined = Object.entries(patch).filter(([, value]) => typeof value === 'number' && !Number.isNaN(value));
  return { ...base, ...(Object.fromEntries(defined) as Partial<SimulatorTiming>) };
}

function formatOrigin(host: string, port: number): string {
  const reachable = host === '0.0.0.0' ? '127.0.0.1' : host === '::' ? '::1' : host;
  return `http://${reachable.includes(':') ? `[${reachable}]` : reachable}:${port}`;
}

function createState(options: FalSimulatorOptions): State {
  const modelId = (options.modelId ?? DEFAULT_MODEL_ID).replace(/^\/+|\/+$/g, '');
  return {
    modelPath: `/${modelId}`,
    appPrefix: appPrefixOf(modelId),
    apiKey: options.apiKey ?? null,
    clock: createSimClock(),
    faults: createFaultRegistry(),
    jobs: new Map(),
    statusCalls: new Map(),
    inFlight: { now: 0, peak: 0 },
    stats: { submit: 0, status: 0, result: 0, cancel: 0, stream: 0 },
    requests: [],
    cleanups: new Set(),
    timing: mergeTiming(DEFAULT_SIMULATOR_TIMING, options.timing),
    url: '',
    urlOrigin: '',
    closed: false,
  };
}

/** Starts a fal queue simulator on `options.port` (default: an ephemeral port) and resolves once it listens. */
export async function startFalSimulator(options: FalSimulatorOptions = {}): Promise<FalSimulator> {
  const host = options.host ?? '127.0.0.1';
  const state = createState(options);
  const sockets = new Set<Socket>();
  const server = createServer((req, res) => {
    const load = state.inFlight;
    load.now++;
    load.peak = Math.max(load.peak, load.now);
    res.once('close', () => load.now--);
    handleRequest(state, req, res).catch(() => sendJson(res, 500, { detail: 'Internal Server Error' }));
  });
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
  state.url = formatOrigin(host, port);
  state.urlOrigin = (options.urlOrigin ?? state.url).replace(/\/+$/, '');

  let closing: Promise<void> | null = null;
  return {
    url: state.url,
    port,
    stats: state.stats,
    requests: state.requests,
    statusCalls: (requestId) => state.statusCalls.get(requestId) ?? 0,
    peakInFlight: () => state.inFlight.peak,
    setTiming(timing) {
      state.timing = mergeTiming(state.timing, timing);
    },
    addFault: (fault) => state.faults.add(fault),
    clearFaults: () => state.faults.clear(),
    pause: () => state.clock.pause(),
    resume: () => state.clock.resume(),
    jobCount: () => state.jobs.size,
    close() {
      closing ??= new Promise<void>((resolve) => {
        state.closed = true;
        for (const cleanup of [...state.cleanups]) cleanup();
        server.close(() => resolve());
        for (const socket of sockets) socket.destroy();
      });
      return closing;
    },
  };
}

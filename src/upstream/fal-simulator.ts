/**
 * A faithful fake of fal.ai's queue API (see /work/shared/FAL_QUEUE.md) for one model endpoint,
 * served over real HTTP with node:http. Job progress is a pure function of simulated (pausable)
 * time since submit, so idle jobs cost nothing; only open status streams hold timers.
 *
 * It speaks the wire as documented and imports nothing from the gateway's own client code.
 */
import { createServer } from 'node:http';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { randomUUID } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { createFaultRegistry } from './fal-simulator-faults.ts';
import type { FaultRegistry, SimulatorFault, SimulatorOperation } from './fal-simulator-faults.ts';
import { createSimulatorStorage, type SimulatorStorage } from './fal-simulator-storage.ts';

export type { SimulatorFault, SimulatorOperation } from './fal-simulator-faults.ts';
export type { SimulatorStorage, StoredUpload } from './fal-simulator-storage.ts';

// ---------------------------------------------------------------------------------------------
// Public API

/** How fast simulated jobs move through IN_QUEUE, IN_PROGRESS and COMPLETED. */
export interface SimulatorTiming {
  /** queue_position at submit, e.g. 3; 0 = next in line. */
  initialQueuePosition: number;
  /** Every step the position falls by one; after position 0 has lasted one step the job is IN_PROGRESS. */
  queueStepMs: number;
  /** Time IN_PROGRESS before COMPLETED. */
  runMs: number;
  /** One new log line this often while IN_PROGRESS (0 = no logs). */
  logEveryMs: number;
  /** Status responses return only log lines newer than now - logWindowMs (fal's sliding window). */
  logWindowMs: number;
}

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

/** Live counters of calls received per operation, faulted ones included. */
export interface SimulatorStats {
  submit: number;
  status: number;
  result: number;
  cancel: number;
  stream: number;
}

/** One request as received: `path` includes the query; `at` is Date.now(). */
export interface RecordedRequest {
  method: string;
  path: string;
  authorization: string | null;
  at: number;
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
  /** fal storage (uploads) and media-host switches (fal-simulator-storage.ts). */
  readonly storage: SimulatorStorage;
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
const MAX_PROMPT_LENGTH = 2500;
const KEEP_ALIVE_MS = 15_000;
const MAX_BODY_BYTES = 10 * 1024 * 1024;

// ---------------------------------------------------------------------------------------------
// Clock and job model

interface SimClock {
  /** Simulated ms since start; frozen while paused. */
  now(): number;
  pause(): void;
  resume(): void;
  /** Maps a simulated instant to an ISO timestamp (stable for the same instant). */
  iso(simMs: number): string;
}

function createSimClock(): SimClock {
  const origin = performance.now();
  const wallOrigin = Date.now();
  let pausedAt: number | null = null;
  let pausedTotal = 0;
  const real = () => performance.now() - origin;
  return {
    now: () => (pausedAt ?? real()) - pausedTotal,
    pause() {
      pausedAt ??= real();
    },
    resume() {
      if (pausedAt === null) return;
      pausedTotal += real() - pausedAt;
      pausedAt = null;
    },
    iso: (simMs) => new Date(wallOrigin + simMs).toISOString(),
  };
}

type Outcome = 'success' | 'runner_error' | 'image_error' | 'prompt_too_long';

interface Job {
  id: string;
  outcome: Outcome;
  timing: SimulatorTiming;
  startAt: number; // sim ms when IN_PROGRESS begins
  naturalEndAt: number; // sim ms when it would complete
  cancelledAt: number | null;
  submittedAt: number;
}

type Phase =
  | { status: 'IN_QUEUE'; position: number }
  | { status: 'IN_PROGRESS' }
  | { status: 'COMPLETED'; cancelled: boolean };

interface LogEntry {
  message: string;
  level: 'INFO';
  source: 'USER';
  timestamp: string;
}

function createJob(prompt: string, timing: SimulatorTiming, now: number): Job {
  const fast = prompt.includes('[sim:fast]');
  const queueMs = fast ? 0 : (timing.initialQueuePosition + 1) * timing.queueStepMs;
  const outcome: Outcome =
    prompt.length > MAX_PROMPT_LENGTH ? 'prompt_too_long'
    : prompt.includes('[sim:422]') ? 'image_error'
    : prompt.includes('[sim:fail]') ? 'runner_error'
    : 'success';
  const startAt = now + queueMs;
  return { id: randomUUID(), outcome, timing, startAt, naturalEndAt: startAt + timing.runMs, cancelledAt: null, submittedAt: now };
}

function endAt(job: Job): number {
  return job.cancelledAt ?? job.naturalEndAt;
}

function phaseAt(job: Job, now: number): Phase {
  if (now >= endAt(job)) return { status: 'COMPLETED', cancelled: job.cancelledAt !== null };
  if (now >= job.startAt) return { status: 'IN_PROGRESS' };
  const { initialQueuePosition, queueStepMs } = job.timing;
  return { status: 'IN_QUEUE', position: Math.max(0, initialQueuePosition - Math.floor((now - job.submittedAt) / queueStepMs)) };
}

/** Index of the newest log line emitted by `now` (-1 if none). Line k is at startAt + k*logEveryMs, before the end. */
function lastLogIndex(job: Job, now: number): number {
  const every = job.timing.logEveryMs;
  if (!(every > 0) || now < job.startAt) return -1;
  const end = endAt(job);
  if (now >= end) return Math.ceil((end - job.startAt) / every) - 1;
  return Math.floor((now - job.startAt) / every);
}

/** Index of the oldest line still inside the sliding window (timestamp > now - logWindowMs). */
function windowFirstIndex(job: Job, now: number): number {
  const { logEveryMs, logWindowMs } = job.timing;
  return Math.max(0, Math.floor((now - logWindowMs - job.startAt) / logEveryMs) + 1);
}

function logEntries(job: Job, clock: SimClock, from: number, to: number): LogEntry[] {
  const entries: LogEntry[] = [];
  for (let k = Math.max(0, from); k <= to; k++) {
    const message = k === 0 ? 'Starting image-to-video generation' : `Generating video: step ${k}`;
    entries.push({ message, level: 'INFO', source: 'USER', timestamp: clock.iso(job.startAt + k * job.timing.logEveryMs) });
  }
  return entries;
}

const FAILURES: Readonly<Record<Exclude<Outcome, 'success'>, { error: string; error_type: string }>> = {
  runner_error: { error: 'Internal error while generating the video', error_type: 'runner_error' },
  image_error: { error: 'Image could not be downloaded', error_type: 'image_load_error' },
  prompt_too_long: { error: 'String should have at most 2500 characters', error_type: 'string_too_long' },
};

// ---------------------------------------------------------------------------------------------
// Server state and wire shapes

interface State {
  readonly modelPath: string; // '/fal-ai/kling-video/v2.5-turbo/pro/image-to-video'
  readonly appPrefix: string; // 'fal-ai/kling-video'
  readonly apiKey: string | null;
  readonly clock: SimClock;
  readonly faults: FaultRegistry;
  readonly jobs: Map<string, Job>;
  readonly statusCalls: Map<string, number>;
  readonly stats: SimulatorStats;
  inFlight: { now: number; peak: number };
  readonly requests: RecordedRequest[];
  /** Stops timers of streams and delayed calls; run on close(). */
  readonly cleanups: Set<() => void>;
  timing: SimulatorTiming;
  url: string;
  urlOrigin: string;
  closed: boolean;
}

/** `{owner}/{app}` of an endpoint id; `workflows/` and `comfy/` take three segments. */
export function appPrefixOf(modelId: string): string {
  const parts = modelId.split('/').filter((p) => p.length > 0);
  const count = parts[0] === 'workflows' || parts[0] === 'comfy' ? 3 : 2;
  return parts.slice(0, count).join('/');
}

function jobUrls(state: State, id: string) {
  const base = `${state.urlOrigin}/${state.appPrefix}/requests/${id}`;
  return { response_url: base, status_url: `${base}/status`, cancel_url: `${base}/cancel` };
}

function statusBody(state: State, job: Job, phase: Phase, logs: LogEntry[] | null): Record<string, unknown> {
  const body: Record<string, unknown> = { status: phase.status, request_id: job.id, ...jobUrls(state, job.id), logs, metrics: {} };
  if (phase.status === 'IN_QUEUE') body.queue_position = phase.position;
  if (phase.status !== 'COMPLETED') return body;
  if (phase.cancelled) return { ...body, error: 'Request was cancelled', error_type: 'cancelled' };
  body.metrics = { inference_time: Math.round(job.timing.runMs) / 1000 };
  return job.outcome === 'success' ? body : { ...body, ...FAILURES[job.outcome] };
}

function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  sendText(res, status, JSON.stringify(body), { 'content-type': 'application/json', ...headers });
}

function sendText(res: ServerResponse, status: number, text: string, headers: Record<string, string>): void {
  if (res.headersSent || res.destroyed) return;
  res.writeHead(status, { ...headers, 'content-length': String(Buffer.byteLength(text)) });
  res.end(text);
}

/** A small fixed payload that starts like an MP4 (ftyp box) but is not playable. */
const FAKE_VIDEO: Buffer = Buffer.concat([
  Buffer.from([0, 0, 0, 0x20]),
  Buffer.from('ftypisom'),
  Buffer.from([0, 0, 2, 0]),
  Buffer.from('isomiso2avc1mp41'),
  Buffer.from([0, 0, 1, 0x28]),
  Buffer.from('free'),
  Buffer.from('fal-simulator placeholder video. '.repeat(9).slice(0, 288)),
]);

function validationDetail(loc: string, msg: string, type: string) {
  return { detail: [{ loc: ['body', loc], msg, type }] };
}

// ---------------------------------------------------------------------------------------------
// Operations

type ValidationItem = { loc: string[]; msg: string; type: string };

/** Loose version of the model's input schema: `prompt` and `image_url` must be strings. No length check (quirk 2). */
function validateInput(rawBody: string): { prompt: string } | { errors: ValidationItem[] } {
  let input: unknown;
  try {
    input = JSON.parse(rawBody);
  } catch {
    return { errors: [{ loc: ['body'], msg: 'JSON decode error', type: 'json_invalid' }] };
  }
  const fields: Record<string, unknown> = typeof input === 'object' && input !== null && !Array.isArray(input) ? { ...input } : {};
  const errors = ['prompt', 'image_url'].flatMap((name): ValidationItem[] => {
    const value = fields[name];
    if (value === undefined) return [{ loc: ['body', name], msg: 'Field required', type: 'missing' }];
    if (typeof value !== 'string') return [{ loc: ['body', name], msg: 'Input should be a valid string', type: 'string_type' }];
    return [];
  });
  const prompt = fields.prompt;
  return errors.length === 0 && typeof prompt === 'string' ? { prompt } : { errors };
}

function handleSubmit(state: State, res: ServerResponse, rawBody: string): void {
  const input = validateInput(rawBody);
  if ('errors' in input) return sendJson(res, 422, { detail: input.errors }, { 'x-fal-billable-units': '0' });
  const now = state.clock.now();
  const job = createJob(input.prompt, state.timing, now);
  state.jobs.set(job.id, job);
  sendJson(res, 200, statusBody(state, job, phaseAt(job, now), null), { 'x-fal-request-id': job.id });
}

function handleStatus(state: State, res: ServerResponse, job: Job, withLogs: boolean): void {
  const now = state.clock.now();
  const phase = phaseAt(job, now);
  const logs = withLogs ? logEntries(job, state.clock, windowFirstIndex(job, now), lastLogIndex(job, now)) : null;
  sendJson(res, phase.status === 'COMPLETED' ? 200 : 202, statusBody(state, job, phase, logs), { 'x-fal-request-id': job.id });
}

function handleResult(state: State, res: ServerResponse, job: Job): void {
  const phase = phaseAt(job, state.clock.now());
  const headers = { 'x-fal-request-id': job.id };
  if (phase.status !== 'COMPLETED') return sendJson(res, 400, { detail: 'Request is still in progress' }, headers);
  if (phase.cancelled) return sendJson(res, 400, { detail: 'Request was cancelled' }, headers);
  const billing = { ...headers, 'x-fal-billable-units': '0' };
  switch (job.outcome) {
    case 'runner_error':
      return sendJson(res, 500, { detail: 'Internal Server Error' }, billing);
    case 'image_error':
      return sendJson(res, 422, validationDetail('image_url', 'Image could not be downloaded', 'image_load_error'), billing);
    case 'prompt_too_long':
      return sendJson(res, 422, validationDetail('prompt', 'String should have at most 2500 characters', 'string_too_long'), billing);
    case 'success': {
      const video = { url: `${state.url}/files/${job.id}/output.mp4`, content_type: 'video/mp4', file_name: 'output.mp4', file_size: FAKE_VIDEO.length };
      return sendJson(res, 200, { video }, { ...headers, 'x-fal-billable-units': '1' });
    }
  }
}

function handleCancel(state: State, res: ServerResponse, job: Job): void {
  const now = state.clock.now();
  const headers = { 'x-fal-request-id': job.id };
  if (phaseAt(job, now).status === 'COMPLETED') return sendJson(res, 400, { status: 'ALREADY_COMPLETED' }, headers);
  job.cancelledAt = now;
  sendJson(res, 202, { status: 'CANCELLATION_REQUESTED' }, headers);
}

/** SSE: one event now, then one whenever the state changes or new log lines appear; closes after COMPLETED. */
function handleStream(state: State, res: ServerResponse, job: Job, withLogs: boolean): void {
  res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', connection: 'keep-alive', 'x-fal-request-id': job.id });
  let lastSignature = '';
  let lastLogSent: number | null = null;
  const push = (): boolean => {
    const now = state.clock.now();
    const phase = phaseAt(job, now);
    let logs: LogEntry[] | null = null;
    if (withLogs) {
      const to = lastLogIndex(job, now);
      logs = logEntries(job, state.clock, lastLogSent === null ? windowFirstIndex(job, now) : lastLogSent + 1, to);
      lastLogSent = Math.max(lastLogSent ?? -1, to);
    }
    const signature = phase.status === 'IN_QUEUE' ? `IN_QUEUE:${phase.position}` : phase.status;
    if (signature === lastSignature && (logs === null || logs.length === 0)) return false;
    lastSignature = signature;
    res.write(`data: ${JSON.stringify(statusBody(state, job, phase, logs))}\n\n`);
    return phase.status === 'COMPLETED';
  };
  const { queueStepMs, logEveryMs } = job.timing;
  const checkMs = Math.min(50, Math.max(5, Math.min(queueStepMs, logEveryMs > 0 ? logEveryMs : Infinity) / 2));
  const tick = setInterval(() => {
    if (push()) finish();
  }, checkMs);
  const keepAlive = setInterval(() => res.write(': keep-alive\n\n'), KEEP_ALIVE_MS);
  const stop = () => {
    clearInterval(tick);
    clearInterval(keepAlive);
    state.cleanups.delete(stop);
  };
  const finish = () => {
    stop();
    res.end();
  };
  state.cleanups.add(stop);
  res.on('close', stop);
  if (push()) finish();
}

// ---------------------------------------------------------------------------------------------
// Routing

type Route =
  | { op: SimulatorOperation; id: string | null }
  | { op: 'file' }
  | { op: 'method_not_allowed' }
  | { op: 'not_found' };

/** Paths below `/{owner}/{app}/requests/{id}`: method and operation. */
const REQUEST_ROUTES: Readonly<Record<string, readonly [string, SimulatorOperation]>> = {
  '': ['GET', 'result'],
  status: ['GET', 'status'],
  'status/stream': ['GET', 'stream'],
  cancel: ['PUT', 'cancel'],
};

function safeDecode(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    return segment;
  }
}

function matchRoute(state: State, method: string, pathname: string): Route {
  const path = pathname.length > 1 ? pathname.replace(/\/$/, '') : pathname;
  if (path === state.modelPath) return method === 'POST' ? { op: 'submit', id: null } : { op: 'method_not_allowed' };
  if (/^\/files\/[^/]+\/output\.mp4$/.test(path)) return method === 'GET' || method === 'HEAD' ? { op: 'file' } : { op: 'method_not_allowed' };
  const prefix = `/${state.appPrefix}/requests/`;
  if (!path.startsWith(prefix)) return { op: 'not_found' };
  const [rawId, ...rest] = path.slice(prefix.length).split('/');
  const id = safeDecode(rawId ?? '');
  const entry = id ? REQUEST_ROUTES[rest.join('/')] : undefined;
  if (!entry) return { op: 'not_found' };
  return entry[0] === method ? { op: entry[1], id } : { op: 'method_not_allowed' };
}

function isAuthorized(state: State, header: string | undefined): boolean {
  if (state.apiKey === null) return true;
  const match = /^(Key|Bearer)\s+(.+)$/i.exec(header ?? '');
  return match?.[2] === state.apiKey;
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size <= MAX_BODY_BYTES) chunks.push(chunk);
    });
    const done = () => resolve(Buffer.concat(chunks).toString('utf8'));
    req.on('end', done);
    req.on('close', done); // aborted mid-body, e.g. by close()
    req.on('error', done);
  });
}

function sleep(state: State, ms: number): Promise<void> {
  return new Promise((resolve) => {
    const cancel = () => {
      clearTimeout(timer);
      state.cleanups.delete(cancel);
    };
    const timer = setTimeout(() => {
      cancel();
      resolve();
    }, ms);
    state.cleanups.add(cancel);
  });
}

/** The answer's headers and first byte go out at once; the rest after `delayMs` (a slow body). */
function stallBody(state: State, res: ServerResponse, delayMs: number): void {
  const end = res.end.bind(res) as (chunk?: string | Buffer) => ServerResponse;
  res.end = ((chunk?: string | Buffer) => {
    const bytes = chunk === undefined ? Buffer.alloc(0) : Buffer.from(chunk);
    if (bytes.length === 0) return end();
    res.write(bytes.subarray(0, 1));
    void sleep(state, delayMs).then(() => {
      if (!state.closed && !res.destroyed) end(bytes.subarray(1));
    });
    return res;
  }) as typeof res.end;
}

async function handleRequest(state: State, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const body = await readBody(req);
  if (state.closed) return;
  const method = req.method ?? 'GET';
  const target = new URL(req.url ?? '/', 'http://simulator.invalid');
  const authorization = req.headers.authorization;
  state.requests.push({ method, path: req.url ?? '/', authorization: authorization ?? null, at: Date.now() });
  const route = matchRoute(state, method, target.pathname);
  const job = 'id' in route && route.id !== null ? state.jobs.get(route.id) : undefined;

  if ('id' in route) {
    state.stats[route.op] += 1;
    if (route.op === 'status' && route.id) state.statusCalls.set(route.id, (state.statusCalls.get(route.id) ?? 0) + 1);
    const jobCompleted = job !== undefined && phaseAt(job, state.clock.now()).status === 'COMPLETED';
    const action = state.faults.take({ operation: route.op, jobCompleted });
    if (action?.kind === 'drop') return void req.socket.destroy();
    if (action?.kind === 'respond') return sendText(res, action.status, action.body, action.headers);
    if (action?.kind === 'delay') await sleep(state, action.delayMs);
    if (action?.kind === 'slow-body') stallBody(state, res, action.delayMs);
    if (state.closed) return;
  }

  if (route.op !== 'file' && !isAuthorized(state, authorization)) {
    return sendJson(res, 401, { detail: 'No user found for Key ID and Secret' });
  }
  const withLogs = ['1', 'true'].includes((target.searchParams.get('logs') ?? '').toLowerCase());
  switch (route.op) {
    case 'file':
      res.writeHead(200, { 'content-type': 'video/mp4', 'content-length': String(FAKE_VIDEO.length) });
      return void res.end(method === 'HEAD' ? undefined : FAKE_VIDEO);
    case 'not_found':
      return sendJson(res, 404, { detail: `Path ${target.pathname} not found` }, { 'x-fal-billable-units': '0' });
    case 'method_not_allowed':
      return sendJson(res, 405, { detail: 'Method Not Allowed' });
    case 'submit':
      return handleSubmit(state, res, body);
  }
  if (!job) {
    if (route.op === 'cancel') return sendJson(res, 404, { status: 'NOT_FOUND' });
    return sendJson(res, 404, { detail: `Request ${route.id} not found` });
  }
  switch (route.op) {
    case 'status':
      return handleStatus(state, res, job, withLogs);
    case 'stream':
      return handleStream(state, res, job, withLogs);
    case 'result':
      return handleResult(state, res, job);
    case 'cancel':
      return handleCancel(state, res, job);
  }
}

// ---------------------------------------------------------------------------------------------
// Lifecycle

/** Overrides `base` with the defined values of `patch`. */
function mergeTiming(base: SimulatorTiming, patch: Partial<SimulatorTiming> = {}): SimulatorTiming {
  const defined = Object.entries(patch).filter(([, value]) => typeof value === 'number' && !Number.isNaN(value));
  return { ...base, ...(Object.fromEntries(defined) as Partial<SimulatorTiming>) };
}

function formatOrigin(host: string, port: number): string {
  const reachable = host === '0.0.0.0' ? '127.0.0.1' : host === '::' ? '::1' : host;
  return `http://${reachable.includes(':') ? `[${reachable}]` : reachable}:${port}`;
}

/** Starts a fal queue simulator on `options.port` (default: an ephemeral port) and resolves once it listens. */
export async function startFalSimulator(options: FalSimulatorOptions = {}): Promise<FalSimulator> {
  const modelId = (options.modelId ?? DEFAULT_MODEL_ID).replace(/^\/+|\/+$/g, '');
  const host = options.host ?? '127.0.0.1';
  const state: State = {
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
  const sockets = new Set<Socket>();
  const storage = createSimulatorStorage({
    url: () => state.url,
    isAuthorized: (header) => isAuthorized(state, header),
    modelPath: state.modelPath,
    onClose: (cleanup) => state.cleanups.add(cleanup),
  });
  const server = createServer((req, res) => {
    const load = state.inFlight;
    load.now++;
    load.peak = Math.max(load.peak, load.now);
    res.once('close', () => load.now--);
    storage
      .intercept(req, res)
      .then((handled) => (handled || state.closed ? undefined : handleRequest(state, req, res)))
      .catch(() => sendJson(res, 500, { detail: 'Internal Server Error' }));
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
    storage,
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

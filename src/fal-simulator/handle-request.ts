/**
 * One HTTP request: record it (when asked), route it, apply an armed fault, check the key, dispatch.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { serveVideo } from './files.ts';
import { phaseAt } from './jobs.ts';
import { handleCancel, handleResult, handleStatus, handleSubmit } from './queue.ts';
import { isAuthorized, matchRoute, readBody } from './routes.ts';
import type { Route } from './routes.ts';
import { sleep } from './state.ts';
import type { State } from './state.ts';
import { handleStream } from './stream.ts';
import type { StreamFault } from './stream.ts';
import { sendJson, sendText } from './wire.ts';

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

type Faulted = { answered: true } | { answered: false; streamFault: StreamFault | null };

/** Counts the call and applies the first matching armed fault. */
async function applyFaults(state: State, req: IncomingMessage, res: ServerResponse, route: Extract<Route, { id: string | null }>): Promise<Faulted> {
  const job = route.id !== null ? state.jobs.get(route.id) : undefined;
  state.stats[route.op] += 1;
  if (route.op === 'status' && route.id) state.statusCalls.set(route.id, (state.statusCalls.get(route.id) ?? 0) + 1);
  const jobCompleted = job !== undefined && phaseAt(job, state.clock.now()).status === 'COMPLETED';
  const action = state.faults.take({ operation: route.op, jobCompleted });
  const stream = route.op === 'stream';
  if (action?.kind === 'drop' && !stream) {
    req.socket.destroy();
    return { answered: true };
  }
  if (action?.kind === 'respond') {
    sendText(res, action.status, action.body, action.headers);
    return { answered: true };
  }
  if (action?.kind === 'delay') await sleep(state, action.delayMs);
  if (action?.kind === 'slow-body') stallBody(state, res, action.delayMs);
  const cut = stream && (action?.kind === 'drop' || action?.kind === 'stall' || action?.kind === 'end-early');
  return state.closed ? { answered: true } : { answered: false, streamFault: cut ? action : null };
}

/** The path below the simulator's prefix, or null when the request is not for it. */
function localPath(state: State, pathname: string): string | null {
  if (state.pathPrefix === '') return pathname;
  if (pathname === state.pathPrefix) return '/';
  return pathname.startsWith(`${state.pathPrefix}/`) ? pathname.slice(state.pathPrefix.length) : null;
}

export async function handleRequest(state: State, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const body = await readBody(req);
  if (state.closed) return;
  const method = req.method ?? 'GET';
  const target = new URL(req.url ?? '/', 'http://simulator.invalid');
  const authorization = req.headers.authorization;
  if (state.recordRequests) state.requests.push({ method, path: req.url ?? '/', authorization: authorization ?? null, at: Date.now() });
  const path = localPath(state, target.pathname);
  const route: Route = path === null ? { op: 'not_found' } : matchRoute(state, method, path);
  let streamFault: StreamFault | null = null;
  if ('id' in route) {
    const faulted = await applyFaults(state, req, res, route);
    if (faulted.answered) return;
    streamFault = faulted.streamFault;
  }

  if (route.op !== 'file' && route.op !== 'jwks' && !isAuthorized(state, authorization)) {
    return sendJson(res, 401, { detail: 'No user found for Key ID and Secret' });
  }
  const withLogs = ['1', 'true'].includes((target.searchParams.get('logs') ?? '').toLowerCase());
  switch (route.op) {
    case 'file':
      return serveVideo(req, res, state.video);
    case 'jwks':
      return sendJson(res, 200, state.signer.jwks, { 'cache-control': 'public, max-age=300' });
    case 'not_found':
      return sendJson(res, 404, { detail: `Path ${target.pathname} not found` }, { 'x-fal-billable-units': '0' });
    case 'method_not_allowed':
      return sendJson(res, 405, { detail: 'Method Not Allowed' });
    case 'submit':
      return handleSubmit(state, res, body, target.searchParams.get('fal_webhook'));
  }
  const job = route.id !== null ? state.jobs.get(route.id) : undefined;
  if (!job) {
    if (route.op === 'cancel') return sendJson(res, 404, { status: 'NOT_FOUND' });
    return sendJson(res, 404, { detail: `Request ${route.id} not found` });
  }
  switch (route.op) {
    case 'status':
      return handleStatus(state, res, job, withLogs);
    case 'stream':
      return handleStream(state, res, job, withLogs, streamFault);
    case 'result':
      return handleResult(state, res, job);
    case 'cancel':
      return handleCancel(state, res, job);
  }
}

/**
 * Which operation a request addresses, whether it is authorized, and reading its body.
 */
import type { IncomingMessage } from 'node:http';
import type { SimulatorOperation } from './faults.ts';
import type { State } from './state.ts';

export type Route =
  | { op: SimulatorOperation; id: string | null }
  | { op: 'file' }
  | { op: 'jwks' }
  | { op: 'method_not_allowed' }
  | { op: 'not_found' };

const MAX_BODY_BYTES = 10 * 1024 * 1024;

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

export function matchRoute(state: State, method: string, pathname: string): Route {
  const path = pathname.length > 1 ? pathname.replace(/\/$/, '') : pathname;
  if (path === state.modelPath) return method === 'POST' ? { op: 'submit', id: null } : { op: 'method_not_allowed' };
  if (path === '/.well-known/jwks.json') return method === 'GET' ? { op: 'jwks' } : { op: 'method_not_allowed' };
  if (/^\/files\/[^/]+\/output\.mp4$/.test(path)) return method === 'GET' || method === 'HEAD' ? { op: 'file' } : { op: 'method_not_allowed' };
  const prefix = `/${state.appPrefix}/requests/`;
  if (!path.startsWith(prefix)) return { op: 'not_found' };
  const [rawId, ...rest] = path.slice(prefix.length).split('/');
  const id = safeDecode(rawId ?? '');
  const entry = id ? REQUEST_ROUTES[rest.join('/')] : undefined;
  if (!entry) return { op: 'not_found' };
  return entry[0] === method ? { op: entry[1], id } : { op: 'method_not_allowed' };
}

export function isAuthorized(state: State, header: string | undefined): boolean {
  if (state.apiKey === null) return true;
  const match = /^(Key|Bearer)\s+(.+)$/i.exec(header ?? '');
  return match?.[2] === state.apiKey;
}

export function readBody(req: IncomingMessage): Promise<string> {
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

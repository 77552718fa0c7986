/**
 * What the routes served beside Yoga (sse-subscriptions.ts, json-lane.ts) read from a Node request the
 * way Yoga reads it: the body (at most MAX_BODY_BYTES), GraphQL params as Yoga's params check would take
 * them, and a fetch Request for Yoga's pipeline or for Yoga's whole answer.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { sendResponse } from './sse-stream.ts';
import type { GatewayYoga, ServerContext } from './yoga.ts';

export interface GraphQLParams {
  query: string;
  operationName?: string | null;
  variables?: Record<string, unknown> | null;
  extensions?: Record<string, unknown> | null;
}

/** A POST body's GraphQL params (null: leave the request to Yoga, e.g. it is over the limit or not JSON) and the bytes read. */
export async function readPostParams(req: IncomingMessage, maxBodyBytes: number, wanted: (query: string) => boolean): Promise<{ params: GraphQLParams | null; body: Buffer }> {
  const { body, over } = await readBody(req, maxBodyBytes);
  if (over) return { params: null, body };
  try {
    return { params: checkedParams(JSON.parse(body.toString('utf8')), wanted), body };
  } catch {
    return { params: null, body };
  }
}

const EXPECTED = new Set(['query', 'operationName', 'variables', 'extensions']);
const isObject = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null && !Array.isArray(value);

/**
 * The params when Yoga's params check (useCheckGraphQLQueryParams) would take them as they are and the
 * query passes `wanted`; null otherwise (the caller leaves the request to Yoga).
 */
export function checkedParams(value: unknown, wanted: (query: string) => boolean): GraphQLParams | null {
  if (!isObject(value)) return null;
  for (const name in value) if (value[name] != null && !EXPECTED.has(name)) return null;
  const { query, operationName, variables, extensions } = value;
  if (typeof query !== 'string' || !wanted(query)) return null;
  if (operationName != null && typeof operationName !== 'string') return null;
  if (variables != null && !isObject(variables)) return null;
  if (extensions != null && !isObject(extensions)) return null;
  return value as unknown as GraphQLParams;
}

/**
 * Reads the body, at most `maxBytes` (then stops, with what it read: Yoga answers 413). With listeners,
 * not `for await`: the async iterator (its end-of-stream watcher, a promise per chunk) cost more per
 * SSE open than the rest of reading the request.
 */
export function readBody(req: IncomingMessage, maxBytes: number): Promise<{ body: Buffer; over: boolean }> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let bytes = 0;
    const done = (over: boolean) => {
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('error', onError);
      req.off('close', onClose);
      resolve({ body: chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, bytes), over });
    };
    const onData = (chunk: Buffer) => {
      chunks.push(chunk);
      bytes += chunk.length;
      if (bytes > maxBytes) {
        req.pause();
        done(true);
      }
    };
    const onEnd = () => done(false);
    const onError = (error: Error) => {
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('close', onClose);
      reject(error);
    };
    // The client went away before the body was in (as `for await` did: the request is aborted).
    const onClose = () => (req.complete ? onEnd() : onError(Object.assign(new Error('aborted'), { code: 'ECONNRESET' })));
    req.on('data', onData);
    req.on('end', onEnd);
    req.on('error', onError);
    req.on('close', onClose);
  });
}


const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'transfer-encoding', 'upgrade', 'content-length']);

/** A fetch Request for Yoga (its pipeline, or its whole answer), built from the Node request and the body already read. */
export function toFetchRequest(req: IncomingMessage, fetchAPI: { Request: typeof Request }, body: Buffer | null, extra: Record<string, string> = {}): Request {
  const headers: Array<[string, string]> = [];
  for (const [name, value] of Object.entries(req.headers)) {
    if (value === undefined || HOP_BY_HOP.has(name) || name in extra) continue;
    headers.push([name, Array.isArray(value) ? value.join(', ') : value]);
  }
  for (const [name, value] of Object.entries(extra)) headers.push([name, value]);
  const protocol = (req.socket as { encrypted?: boolean }).encrypted ? 'https' : 'http';
  const url = `${protocol}://${req.headers.host ?? 'localhost'}${req.url ?? '/'}`;
  return new fetchAPI.Request(url, { method: req.method ?? 'GET', headers, ...(body && body.length > 0 ? { body: body as unknown as BodyInit } : {}) });
}

/** Yoga answers the request itself, from the bytes already read (the Node request and response are its server context, as in its own Node handler). */
export async function answerWithYoga(yoga: GatewayYoga, req: IncomingMessage, res: ServerResponse, body: Buffer | null): Promise<void> {
  await sendResponse(await yoga.fetch(toFetchRequest(req, yoga.fetchAPI, body), { req, res } as ServerContext), res);
}

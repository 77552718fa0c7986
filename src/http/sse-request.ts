/**
 * What the SSE subscription route (sse-subscriptions.ts) reads from a Node request before it takes it
 * from Yoga: whether it is GraphQL over SSE in graphql-sse's distinct connections mode that Yoga would
 * answer with its SSE processor whatever the outcome, its GraphQL params (read the way Yoga's GET and
 * POST JSON parsers read them), and a fetch Request for Yoga's pipeline. Anything unusual (another
 * media type in Accept, another content type, a missing CSRF header, a body over the limit, params Yoga
 * would refuse) is left to Yoga, which answers it as it always has.
 */
import type { IncomingMessage } from 'node:http';
import { checkedParams, readPostParams, type GraphQLParams } from './http-params.ts';
import { matches, requestTypes } from './media-types.ts';

export type SseParams = GraphQLParams;

export interface SseRequestRules {
  path: string;
  maxBodyBytes: number;
  /** With CSRF prevention on: the headers a "simple" request must carry (limits.ts); null when off. */
  csrfHeaders: readonly string[] | null;
}

/** Yoga answers with its SSE processor whatever the result: SSE is asked for, and no JSON type would win over it. */
function wantsSseOnly(accept: string | undefined): boolean {
  if (accept === 'text/event-stream') return true; // what graphql-sse's client and most others send
  const types = requestTypes(accept ?? '*/*');
  if (!types.includes('text/event-stream')) return false;
  return !types.some((t) => matches('application/json', t) || matches('application/graphql-response+json', t));
}

const firstContentType = (req: IncomingMessage) => req.headers['content-type']?.split(',')[0] ?? null;
const isJson = (type: string | null) => type !== null && /^application\/(graphql\+)?json(;|$)/.test(type);
/** The CSRF plugin's rule: a content type a browser would preflight, or one of the headers. */
const preflighted = (type: string | null) => type !== null && !/^(application\/x-www-form-urlencoded|multipart\/form-data|text\/plain)/i.test(type);

/** 'GET' or 'POST' when this request may be an SSE subscription for the route; null to leave it to Yoga. */
export function sseCandidate(req: IncomingMessage, rules: SseRequestRules): 'GET' | 'POST' | null {
  const method = req.method;
  if (method !== 'GET' && method !== 'POST') return null;
  const url = req.url ?? '/';
  const queryAt = url.indexOf('?');
  if ((queryAt < 0 ? url : url.slice(0, queryAt)) !== rules.path) return null;
  if (!wantsSseOnly(req.headers.accept)) return null;
  // graphql-sse's single connection mode (reservations, streams by token): Yoga's.
  if (req.headers['x-graphql-event-stream-token'] !== undefined) return null;
  const contentType = firstContentType(req);
  if (rules.csrfHeaders && !preflighted(contentType) && !rules.csrfHeaders.some((h) => req.headers[h] !== undefined)) return null;
  if (method === 'GET') {
    const search = new URLSearchParams(queryAt < 0 ? '' : url.slice(queryAt + 1));
    if (search.has('token') || !/\bsubscription\b/.test(search.get('query') ?? '')) return null;
    return 'GET';
  }
  if (!isJson(contentType)) return null;
  if (Number(req.headers['content-length'] ?? 0) > rules.maxBodyBytes) return null; // Yoga answers 413
  return 'POST';
}

/** The GraphQL params (null: leave the request to Yoga) and the body read to find them. */
export async function readSseParams(req: IncomingMessage, kind: 'GET' | 'POST', maxBodyBytes: number): Promise<{ params: SseParams | null; body: Buffer | null }> {
  if (kind === 'GET') {
    const search = new URLSearchParams((req.url ?? '').slice((req.url ?? '').indexOf('?') + 1));
    try {
      const json = (name: string) => (search.get(name) ? JSON.parse(search.get(name) as string) : undefined);
      return { params: checkedParams({ operationName: search.get('operationName') || undefined, query: search.get('query') || undefined, variables: json('variables'), extensions: json('extensions') }, isSubscriptionText), body: null };
    } catch {
      return { params: null, body: null };
    }
  }
  return readPostParams(req, maxBodyBytes, isSubscriptionText);
}

/** A cheap pre-filter: the operation type is checked once the document is parsed. */
const isSubscriptionText = (query: string) => /\bsubscription\b/.test(query);

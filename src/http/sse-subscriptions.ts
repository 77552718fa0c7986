/**
 * GraphQL subscriptions over SSE (graphql-sse distinct connections: GET or POST to /graphql with
 * `Accept: text/event-stream`), served beside Yoga so that SSE subscribers share cohorts like WebSocket
 * ones (cohorts.ts): subscribers who see the same jobs with the same document, operation and variables
 * share ONE execution through Yoga's pipeline and ONE encoded event per result, written straight to
 * each ServerResponse (latest wins for a slow reader). Each stream holds one subscription quota slot,
 * taken here. A replay from a cursor (cohort-policy.ts: 'private') runs its own execution, serialized
 * by Yoga's SSE processor. Whatever this route does not take, or sees go wrong before a stream starts
 * (a refused credential, a query that does not parse or validate, a query or mutation over SSE), Yoga
 * answers itself, exactly as before.
 */
import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { getOperationAST, GraphQLError, type DocumentNode, type ExecutionResult } from 'graphql';
import { getSSEProcessor, isAsyncIterable, mapAsyncIterator } from 'graphql-yoga';
import type { Logger } from 'pino';
import type { Caller } from '../domain/caller.ts';
import { UnauthenticatedError } from '../domain/errors.ts';
import { maskError, toGraphQLError } from '../schema/errors.ts';
import type { GraphQLContext } from '../schema/context.ts';
import type { Authenticator } from './auth.ts';
import { createCohorts } from './cohorts.ts';
import { takeSlot, type AdmitSubscription } from './subscription-slots.ts';
import { cohortKey, cohortPolicy } from './cohort-policy.ts';
import { corsHeaders } from './cors.ts';
import { answerWithYoga, toFetchRequest } from './http-params.ts';
import { readSseParams, sseCandidate, type SseParams } from './sse-request.ts';
import { createKeepAlive, KEEP_ALIVE_MS, MemberStream, sendResponse, SSE_HEADERS, type MemberHooks } from './sse-stream.ts';
import type { GatewayYoga } from './yoga.ts';

export interface SseSubscriptionsOptions {
  yoga: GatewayYoga;
  auth: Authenticator;
  logger: Logger;
  path?: string;
  /** MAX_BODY_BYTES; a bigger POST is left to Yoga (413). */
  maxBodyBytes: number;
  /** With CSRF prevention on, the headers a "simple" request must carry; null when off. */
  csrfHeaders: readonly string[] | null;
  /** CORS_ORIGINS, as Yoga's cors option reads it. */
  corsOrigins: string[];
  /** The subscriber's subscription slot, taken here at the transport (subscription-slots.ts). */
  admitSubscription?: AdmitSubscription;
  /** Each cohort frame written to a subscriber (metrics). */
  onDelivered?: () => void;
  keepAliveMs?: number;
}

export interface SseSubscriptions {
  /** Takes the request (true) when it is an SSE subscription candidate; false: Yoga's. */
  handle(req: IncomingMessage, res: ServerResponse): boolean;
  cohortStats(): { cohorts: number; members: number };
  dispose(): void;
}

/** What a joiner of a live cohort needs from the member that started it. */
interface CohortMeta {
  document: DocumentNode;
  operationName: string | null;
  /** 'snapshot' (a joiner starts with the latest frame) rather than 'live' (cohort-policy.ts). */
  replayLatest: boolean;
}

const expired = (): ExecutionResult => ({ errors: [toGraphQLError(new UnauthenticatedError('The token has expired.'))] });

export function createSseSubscriptions(options: SseSubscriptionsOptions): SseSubscriptions {
  const { yoga, auth, logger, path = '/graphql' } = options;
  const access = logger.child({ component: 'http' });
  const log = logger.child({ component: 'sse' });
  const rules = { path, maxBodyBytes: options.maxBodyBytes, csrfHeaders: options.csrfHeaders };
  const cors = corsHeaders(options.corsOrigins);
  const cohorts = createCohorts();
  const keepAlive = createKeepAlive(options.keepAliveMs ?? KEEP_ALIVE_MS);
  const processSse = getSSEProcessor();
  const hooks: MemberHooks = { keepAlive, onDelivered: options.onDelivered, expired, failed };

  interface Exchange {
    req: IncomingMessage;
    res: ServerResponse;
    params: SseParams;
    body: Buffer | null;
    requestId: string;
    started: number;
  }

  function headersFor(x: Exchange): Record<string, string> {
    const origin = x.req.headers.origin;
    return origin === undefined ? { 'x-request-id': x.requestId } : { ...cors(origin), 'x-request-id': x.requestId };
  }
  /** A stream's headers: one object (no spreads) when there is no Origin, as for most subscribers. */
  function streamHeaders(x: Exchange): Record<string, string> {
    if (x.req.headers.origin !== undefined) return { ...SSE_HEADERS, ...headersFor(x) };
    return { 'content-type': SSE_HEADERS['content-type']!, connection: SSE_HEADERS.connection!, 'cache-control': SSE_HEADERS['cache-control']!, 'content-encoding': SSE_HEADERS['content-encoding']!, 'x-request-id': x.requestId };
  }
  function logged(x: Exchange, status: number) {
    if (!access.isLevelEnabled('info')) return; // not even the line's object, at one per SSE open
    access.info({ requestId: x.requestId, method: x.req.method, path, status, ms: Math.round(performance.now() - x.started) }, 'request');
  }

  /** Yoga answers the request itself, from the bytes already read. */
  const delegate = (req: IncomingMessage, res: ServerResponse, body: Buffer | null) => answerWithYoga(yoga, req, res, body);

  /** A result that is not a stream (NOT_FOUND, a variable that does not coerce, RATE_LIMITED), as Yoga's SSE processor answers it. */
  async function answer(x: Exchange, result: ExecutionResult) {
    const response = await processSse(result, yoga.fetchAPI, 'text/event-stream');
    logged(x, response.status);
    await sendResponse(response, x.res, headersFor(x));
  }

  function failed(error: unknown): ExecutionResult {
    if (error instanceof GraphQLError) return { errors: [error] };
    log.error({ err: error }, 'SSE subscription failed');
    return { errors: [maskError(error, 'Unexpected error.') as GraphQLError] };
  }

  /** Yoga's pipeline for this request: parse and validate; null when Yoga should answer it (it does not parse or validate). */
  function prepare(x: Exchange) {
    const request = toFetchRequest(x.req, yoga.fetchAPI, x.body, { 'x-request-id': x.requestId });
    const enveloped = yoga.getEnveloped({ req: x.req, res: x.res, request, params: x.params } as never);
    try {
      const document = enveloped.parse(x.params.query);
      return enveloped.validate(enveloped.schema, document).length > 0 ? null : { enveloped, document };
    } catch {
      return null;
    }
  }
  type Prepared = NonNullable<ReturnType<typeof prepare>>;

  async function subscribe({ enveloped, document }: Prepared, params: SseParams, shared: boolean) {
    const contextValue = (await enveloped.contextFactory()) as GraphQLContext;
    if (shared) delete contextValue.streamEndsAt; // each member's own token ends its own stream (streamMember)
    return enveloped.subscribe({ schema: enveloped.schema, document, contextValue, operationName: params.operationName ?? null, variableValues: params.variables ?? null });
  }

  /** A slot for one subscriber, or the RATE_LIMITED answer, located on the subscription field (subscription-slots.ts). */
  function admit(tenant: string, meta: CohortMeta): (() => void) | ExecutionResult {
    const slot = takeSlot(options.admitSubscription, tenant, meta);
    return 'refused' in slot ? { errors: [slot.refused] } : slot.release;
  }

  async function joinCohort(x: Exchange, caller: Caller, key: string, meta: CohortMeta, prepared: Prepared | null) {
    const release = admit(caller.tenant, meta);
    if (typeof release !== 'function') return answer(x, release);
    const stream = new MemberStream(x.res, hooks);
    // The common case, a joiner of a running cohort: joined at once.
    const member = prepared ? null : cohorts.joinLiveWithSink(key, stream, release);
    if (member) {
      logged(x, 200);
      return stream.stream(member, streamHeaders(x), caller.expiresAt);
    }
    const start = async () => {
      const ready = prepared ?? prepare(x); // a joiner whose cohort ended meanwhile starts a new one
      return ready ? subscribe(ready, x.params, true) : { errors: [new GraphQLError('The subscription could not be prepared again.')] };
    };
    let joined;
    try {
      joined = await cohorts.joinWithSink(key, start, meta, stream, release, { replayLatest: meta.replayLatest });
    } catch (error) {
      release();
      return answer(x, failed(error));
    }
    if (!(Symbol.asyncIterator in joined)) {
      release();
      return answer(x, joined);
    }
    logged(x, 200);
    stream.stream(joined, streamHeaders(x), caller.expiresAt);
  }

  /** A subscription of its own (a replay from a cursor): Yoga's pipeline and SSE processor for this one request. */
  async function runPrivate(x: Exchange, caller: Caller, prepared: Prepared, meta: CohortMeta) {
    const release = admit(caller.tenant, meta);
    if (typeof release !== 'function') return answer(x, release);
    try {
      let result;
      try {
        result = await subscribe(prepared, x.params, false);
      } catch (error) {
        return await answer(x, failed(error));
      }
      // As Yoga does: an error thrown by the stream becomes its last result.
      await answer(x, isAsyncIterable(result) ? (mapAsyncIterator(result, (v) => v, (error: unknown) => failed(error)) as never) : result);
    } finally {
      release();
    }
  }

  async function serve(req: IncomingMessage, res: ServerResponse, kind: 'GET' | 'POST') {
    const started = performance.now();
    const { params, body } = await readSseParams(req, kind, options.maxBodyBytes);
    if (!params) return delegate(req, res, body);
    const outcome = await auth.authenticate(req.headers.authorization);
    if ('refused' in outcome) return delegate(req, res, body); // Yoga logs the refusal and answers 401
    const requestId = (typeof req.headers['x-request-id'] === 'string' && req.headers['x-request-id'].slice(0, 128)) || randomUUID();
    const x: Exchange = { req, res, params, body, requestId, started };
    const caller = outcome.caller;
    const key = cohortKey(caller, params);
    const live = cohorts.meta(key) as CohortMeta | undefined;
    if (live) return joinCohort(x, caller, key, live, null); // already parsed and validated: nothing to do again
    const prepared = prepare(x);
    if (!prepared || getOperationAST(prepared.document, params.operationName)?.operation !== 'subscription') return delegate(req, res, body);
    const policy = cohortPolicy(prepared.document, params.operationName, params.variables);
    const meta: CohortMeta = { document: prepared.document, operationName: params.operationName ?? null, replayLatest: policy === 'snapshot' };
    if (policy === 'private') return runPrivate(x, caller, prepared, meta);
    return joinCohort(x, caller, key, meta, prepared);
  }

  return {
    handle(req, res) {
      const kind = sseCandidate(req, rules);
      if (!kind) return false;
      serve(req, res, kind).catch((error: unknown) => {
        log.error({ err: error }, 'SSE request failed');
        if (!res.headersSent) res.writeHead(500);
        res.end();
      });
      return true;
    },
    cohortStats: () => cohorts.stats(),
    dispose: () => keepAlive.dispose(),
  };
}

/**
 * Yoga: GraphQL over HTTP (POST, GET), GraphiQL and SSE subscriptions on /graphql, plus /healthz,
 * /readyz and /metrics. Its envelop pipeline (context, masking, limits) is also what the WebSocket
 * transport runs (graphql-ws.ts), so both transports behave alike.
 */
import { randomUUID } from 'node:crypto';
import type { GraphQLSchema } from 'graphql';
import { createYoga, type Plugin, type YogaServerInstance } from 'graphql-yoga';
import type { Logger } from 'pino';
import { UnauthenticatedError } from '../domain/errors.ts';
import type { JobsService } from '../jobs/service.ts';
import type { GraphQLContext } from '../schema/context.ts';
import { maskError, toGraphQLError } from '../schema/errors.ts';
import type { Authenticator } from './auth.ts';
import { tokenExpiryPlugin } from './expiry.ts';
import { useDistinctResults } from './distinct-results.ts';
import { useDashboard } from './dashboard.ts';
import { corsOption } from './cors.ts';
import { useQueryJit } from './query-jit.ts';
import type { uploadFetchApi } from './uploads.ts';

/** What a transport hands Yoga to build a context from: an HTTP request, or a WebSocket's params. */
export interface ServerContext {
  connectionParams?: Readonly<Record<string, unknown>>;
}

export interface YogaOptions {
  schema: GraphQLSchema;
  jobs: JobsService;
  logger: Logger;
  auth: Authenticator;
  /**
   * Resolves when the store (and Redis) answer, with details to report (e.g. the upstream circuit,
   * which is reported but does not make the gateway unready: reads still work); rejects with a short,
   * safe reason otherwise.
   */
  readiness: () => Promise<Record<string, string>>;
  /** Prometheus text for /metrics. */
  metrics: { contentType: string; render: () => Promise<string> };
  plugins?: Plugin[];
  /** Browser origins allowed by CORS: ['*'] any, [] none. */
  cors?: string[];
  /** The fetch API Yoga runs on (uploads.ts sets the multipart limits). */
  fetchAPI?: ReturnType<typeof uploadFetchApi>;
  /** Extra routes answered before GraphQL (e.g. /media/...). */
  routes?: Array<(request: Request, url: URL) => Promise<Response | null>>;
}

export type GatewayYoga = YogaServerInstance<ServerContext, GraphQLContext>;

const EXAMPLE = `# Submit a job, then follow it (paste the id into the subscription).
mutation Submit {
  generateVideo(input: {
    prompt: "A cat surfing a wave at sunset, cinematic"
    imageUrl: "https://picsum.photos/seed/cat/1024/576.jpg"
    duration: SECONDS_5
  }) { id status queuePosition }
}

subscription Follow($id: ID!) {
  jobUpdates(id: $id) { id status queuePosition logs { message } video { url } error { code message } }
}

query Recent {
  jobs(first: 5) { edges { node { id status createdAt video { url } } } pageInfo { hasNextPage endCursor } }
}
`;

export function createYogaHandler(options: YogaOptions): GatewayYoga {
  const { schema, jobs, logger, auth, readiness, metrics } = options;
  const log = logger.child({ component: 'yoga' });
  const access = logger.child({ component: 'http' });
  /** Each request's id (the caller's `x-request-id`, or a new one): in the context, the access log and the answer. */
  const requestIds = new WeakMap<Request, { id: string; started: number; path: string }>();

  const accessLog: Plugin = {
    onRequest({ request, url }) {
      // `url` is the one Yoga parsed for this request: the path is kept from it, not parsed again.
      requestIds.set(request, { id: request.headers.get('x-request-id')?.slice(0, 128) || randomUUID(), started: performance.now(), path: url.pathname });
    },
    onResponse({ request, response }) {
      const entry = requestIds.get(request);
      if (!entry) return;
      response.headers.set('x-request-id', entry.id);
      if (entry.path === '/healthz' || entry.path === '/metrics' || !access.isLevelEnabled('info')) return;
      access.info(
        { requestId: entry.id, method: request.method, path: entry.path, status: response.status, ms: Math.round(performance.now() - entry.started) },
        'request',
      );
    },
  };

  // The onRequest hooks below return nothing (not a promise) for a request that is not theirs, so a
  // GraphQL request runs through them without a promise and a microtask hop each.
  const metricsEndpoint: Plugin = {
    onRequest({ url, endResponse }) {
      if (url.pathname !== '/metrics') return;
      return metrics.render().then((text) => endResponse(new Response(text, { headers: { 'content-type': metrics.contentType } })));
    },
  };

  const extraRoutes = options.routes ?? [];
  const routes: Plugin = {
    onRequest({ request, url, endResponse }) {
      if (extraRoutes.length === 0) return;
      return (async () => {
        for (const route of extraRoutes) {
          const response = await route(request, url);
          if (response) return endResponse(response);
        }
      })();
    },
  };

  return createYoga<ServerContext, GraphQLContext>({
    schema,
    ...(options.fetchAPI ? { fetchAPI: options.fetchAPI } : {}),
    graphqlEndpoint: '/graphql',
    // Bodies are limited by body-limit.ts (MAX_BODY_BYTES, MAX_UPLOAD_BYTES), whatever their framing;
    // Yoga's own 25 MB limit would wrap every body in a second counting stream.
    maxRequestBodySize: false,
    healthCheckEndpoint: '/healthz',
    landingPage: false,
    cors: corsOption(options.cors ?? ['*']),
    // GraphiQL with every asset inlined by the gateway (no CDN, works offline). Subscriptions over SSE,
    // so the headers of its Headers tab (Authorization) reach them when keys are on.
    graphiql: { title: 'fal video gateway', defaultQuery: EXAMPLE, subscriptionsProtocol: 'SSE' },
    renderGraphiQL: offlineGraphiQL(),
    maskedErrors: { maskError },
    logging: {
      // Yoga logs several debug lines per request: their text is built only when the level is on.
      debug: (...args) => log.isLevelEnabled('debug') && log.debug(args.map(String).join(' ')),
      info: (...args) => log.info(args.map(String).join(' ')),
      warn: (...args) => log.warn(args.map(String).join(' ')),
      error: (...args) => log.error({ err: args.find((a) => a instanceof Error) }, args.filter((a) => !(a instanceof Error)).map(String).join(' ')),
    },
    context: async (initial): Promise<GraphQLContext> => {
      const request = (initial as { request?: Request }).request;
      const authorization = initial.connectionParams ? initial.connectionParams.authorization : request?.headers.get('authorization');
      const outcome = await auth.authenticate(authorization);
      // A request built by the SSE route (sse-subscriptions.ts) carries the id it answered with.
      const requestId = (request && (requestIds.get(request)?.id || request.headers.get('x-request-id')?.slice(0, 128))) || randomUUID();
      if ('refused' in outcome) {
        // An expected refusal, not a fault: one line at info, and a GraphQL error Yoga answers (401) without logging it.
        access.info({ requestId, reason: outcome.reason, detail: outcome.refused }, 'credential refused (401 UNAUTHENTICATED)');
        throw toGraphQLError(new UnauthenticatedError(outcome.refused));
      }
      // Over HTTP (SSE), a subscription ends when the token does (expiry.ts); a WebSocket closes instead.
      const streamEndsAt = initial.connectionParams ? undefined : outcome.caller.expiresAt;
      return { jobs, caller: outcome.caller, requestId, ...(streamEndsAt === undefined ? {} : { streamEndsAt }) };
    },
    plugins: [
      accessLog,
      metricsEndpoint,
      tokenExpiryPlugin(),
      useDashboard(), // /dashboard: the built-in dashboard (dashboard.ts)
      routes,
      readinessEndpoint(readiness),
      ...(options.plugins ?? []),
      useQueryJit(), // queries polled again and again run compiled (query-jit.ts)
      useDistinctResults(), // rule 5: no two identical payloads in a row, on every transport
    ],
  });
}

/**
 * GET /readyz. (Yoga's useReadinessCheck also matched every other request against a URLPattern: a
 * per-request cost on /graphql for a literal path.)
 */
function readinessEndpoint(readiness: YogaOptions['readiness']): Plugin {
  return {
    onRequest({ url, endResponse }) {
      if (url.pathname !== '/readyz') return;
      return readiness().then(
        (details) => endResponse(Response.json({ status: 'ready', ...details })),
        (error: unknown) => endResponse(Response.json({ status: 'unavailable', reason: error instanceof Error ? error.message : String(error) }, { status: 503 })),
      );
    },
  };
}

/**
 * GraphiQL's page with every asset inlined (@graphql-yoga/render-graphiql). Its 9 MB module is loaded
 * on the first GraphiQL request, not at start-up, and the page (always the same options) is built once.
 */
function offlineGraphiQL(): (options: unknown) => Promise<string> {
  let page: Promise<string> | null = null;
  return (options) => {
    page ??= import('@graphql-yoga/render-graphiql').then(({ renderGraphiQL }) => renderGraphiQL(options as never));
    return page;
  };
}

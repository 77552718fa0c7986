/**
 * GraphQL over WebSocket (graphql-transport-ws) on the HTTP server's /graphql path. Every operation
 * runs through Yoga's envelop pipeline (`yoga.getEnveloped`): same context factory, same plugins,
 * same error masking as HTTP and SSE. A connection without a valid key is refused in `onConnect`
 * (close code 4403) when keys are configured.
 */
import { randomUUID } from 'node:crypto';
import type { Server } from 'node:http';
import { getOperationAST, type ExecutionArgs, type ExecutionResult, type GraphQLError } from 'graphql';
import type { Context } from 'graphql-ws';
import { WebSocketServer, type WebSocket } from 'ws';
import type { Logger } from 'pino';
import type { Caller } from '../domain/caller.ts';
import type { GraphQLContext } from '../schema/context.ts';
import type { Authenticator } from './auth.ts';
import { createCohorts, type FrameSink } from './cohorts.ts';
import { closeAtExpiry, SocketSink } from './ws-socket.ts';
import { cohortKey, cohortPolicy } from './cohort-policy.ts';
import { holdingSlot, takeSlot, type AdmitSubscription } from './subscription-slots.ts';
import { startSweep } from './sweep.ts';
import { serveGraphQLWs, type SocketBounds, type WsExtra } from './ws-server.ts';
import type { GatewayYoga } from './yoga.ts';

export interface GraphQLWsOptions {
  server: Server;
  yoga: GatewayYoga;
  auth: Authenticator;
  logger: Logger;
  path?: string;
  /** Ping interval; a client that misses a pong is dropped. */
  keepAliveMs?: number;
  /** Largest accepted message; a bigger one closes the socket (1009). */
  maxMessageBytes?: number;
  /** How long a socket may stay open without connection_init (then 4408). */
  initTimeoutMs?: number;
  /** Most open sockets per tenant (0 = no limit); one more is closed with 4429. */
  connectionsPerTenant?: number;
  onLimited?: () => void;
  /**
   * Takes one of a tenant's subscription slots for one subscriber (subscription-slots.ts): taken here,
   * at the transport, for every subscription; cohort members each hold their own slot.
   */
  admitSubscription?: AdmitSubscription;
  /** Each cohort frame written to a subscriber (metrics). */
  onDelivered?: () => void;
  /** Each message graphql-ws itself hands to a socket (a measurement hook: see AppObserver in app.ts). */
  onSent?: () => void;
  /** Per-socket bounds: operations in flight and unread bytes (see ws-server.ts). */
  bounds?: SocketBounds;
}

/** Defaults of WS_MAX_OPERATIONS_IN_FLIGHT and WS_MAX_BUFFERED_BYTES. */
export const DEFAULT_SOCKET_BOUNDS: SocketBounds = { maxOperationsInFlight: 8, maxBufferedBytes: 4 * 1024 * 1024 };

/** Close code for a tenant over its WebSocket connection quota (graphql-ws uses 4429 for "too many"). */
export const CLOSE_RATE_LIMITED = 4429;
/** A cohort joiner's own context: the cohort's services, this subscriber's caller and request id. */
function joinerContext(cohort: GraphQLContext, caller: Caller): GraphQLContext {
  return { jobs: cohort.jobs, caller, requestId: randomUUID() };
}

export interface GraphQLWsHandle {
  /**
   * Closes every client with 1001 (Going away) and stops accepting; a client that has not finished the
   * close handshake within `graceMs` is terminated.
   */
  dispose(graceMs?: number): Promise<void>;
  clientCount(): number;
  cohortStats(): { cohorts: number; members: number };
}

type WsContext = Context<Record<string, unknown> | undefined, WsExtra>;
type SubscribeResult = Promise<AsyncIterable<ExecutionResult> | ExecutionResult>;
type SubscribePayload = { query: string; operationName?: string | null; variables?: Record<string, unknown> | null };
/** Yoga's pipeline for one operation (its envelop `execute` and `subscribe`, plugins included). */
interface Pipeline {
  execute: (args: ExecutionArgs) => unknown;
  subscribe: (args: ExecutionArgs) => SubscribeResult;
}
/** What a joiner of a live cohort reuses from the member that started it (already parsed and validated). */
interface CohortTemplate {
  args: ExecutionArgs & { contextValue: GraphQLContext };
  pipeline: Pipeline;
  replayLatest: boolean;
}
/**
 * What this integration knows about an operation beside the ExecutionArgs it hands graphql-ws: kept
 * in a WeakMap keyed by those args (graphql-ws passes the object onSubscribe returned to `execute` /
 * `subscribe`, which test/http/graphql-ws-contract.test.ts pins), never in fields added to them.
 */
interface Ticket {
  /** The pipeline to run the operation with; a cohort joiner's `start` builds its own when needed. */
  pipeline: Pipeline;
  /** This subscriber's subscription slot (subscriptions only), given back once when it ends. */
  slot?: () => void;
  cohort?: {
    key: string;
    socket: WebSocket;
    operationId: string;
    /** What joiners of the cohort reuse (the live cohort's, or this subscriber's own when it starts one). */
    template: CohortTemplate;
    /** Starts the cohort's shared execution if this subscriber turns out to be the first. */
    start: () => SubscribeResult;
  };
}

export function attachGraphQLWs(options: GraphQLWsOptions): GraphQLWsHandle {
  const { server, yoga, auth, logger, path = '/graphql', keepAliveMs = 12_000, connectionsPerTenant = 0 } = options;
  const wss = new WebSocketServer({ server, path, maxPayload: options.maxMessageBytes ?? 64 * 1024 });
  const log = logger.child({ component: 'graphql-ws' });
  // ws re-emits the HTTP server's errors (a port in use, ...); listen() already reports them.
  wss.on('error', (error) => log.debug({ err: error }, 'http server error (reported by listen)'));
  const openPerTenant = new Map<string, number>();

  /** Counts a socket against its tenant's quota; false when the tenant has no room left. */
  function admitConnection(tenant: string): boolean {
    const open = openPerTenant.get(tenant) ?? 0;
    if (connectionsPerTenant > 0 && open >= connectionsPerTenant) return false;
    openPerTenant.set(tenant, open + 1);
    return true;
  }
  /** An admitted socket closed (called by the binding's one 'close' listener: no listener of its own per socket). */
  function releaseConnection(tenant: string): void {
    const left = (openPerTenant.get(tenant) ?? 1) - 1;
    if (left <= 0) openPerTenant.delete(tenant);
    else openPerTenant.set(tenant, left);
  }

  const cohorts = createCohorts();
  const tickets = new WeakMap<ExecutionArgs, Ticket>();
  /** The operation's ticket, taken out: once running, the operation needs it no more. */
  const ticketOf = (args: ExecutionArgs): Ticket => {
    const ticket = tickets.get(args);
    if (!ticket) throw new Error('graphql-ws ran an operation this integration did not prepare');
    tickets.delete(args);
    return ticket;
  };

  /** The full path: Yoga's pipeline builds, parses, validates and makes the context, as for HTTP. */
  async function prepare(ctx: WsContext, params: SubscribePayload): Promise<readonly GraphQLError[] | { args: ExecutionArgs & { contextValue: GraphQLContext }; pipeline: Pipeline }> {
    const { schema, execute, subscribe, contextFactory, parse, validate } = yoga.getEnveloped({
      ...ctx,
      socket: ctx.extra.socket,
      params,
      connectionParams: ctx.connectionParams ?? {},
    });
    let document;
    try {
      document = parse(params.query);
      const errors = validate(schema, document);
      if (errors.length > 0) return [...errors];
    } catch (error) {
      return [error as GraphQLError];
    }
    const args = {
      schema,
      operationName: params.operationName ?? null,
      document,
      variableValues: params.variables ?? null,
      contextValue: (await contextFactory()) as GraphQLContext,
    };
    return { args, pipeline: { execute, subscribe: subscribe as Pipeline['subscribe'] } };
  }

  /** Subscribers who see the same jobs, with the same operation and variables, share a cohort; null for non-subscriptions. */
  function cohortKeyOf(caller: Caller, params: SubscribePayload): string | null {
    if (!/\bsubscription\b/.test(params.query)) return null; // a cheap pre-filter; the operation type is checked once parsed
    return cohortKey(caller, params);
  }

  /** A cohort member's frames go straight to its socket, as shared bytes; a congested socket gets the latest later. */
  function sinkFor(socket: WebSocket, operationId: string): FrameSink {
    return new SocketSink(socket, operationId, options.onDelivered);
  }

  /** Joins (or starts) the subscriber's cohort; the member's slot goes back when it leaves. */
  async function subscribeInCohort(cohort: NonNullable<Ticket['cohort']>, slot: () => void): Promise<AsyncIterable<never> | ExecutionResult> {
    const { key, start, template, socket, operationId } = cohort;
    const joined = await cohorts.joinWithSink(key, start, template, sinkFor(socket, operationId), slot, { replayLatest: template.replayLatest });
    if (!(Symbol.asyncIterator in joined)) slot();
    return joined;
  }

  /** Records the operation's ticket and hands graphql-ws its args. */
  function ticketed<A extends ExecutionArgs>(args: A, ticket: Ticket): A {
    tickets.set(args, ticket);
    return args;
  }

  const disposable = serveGraphQLWs(
    {
      execute: (args) => ticketOf(args).pipeline.execute(args) as never,
      subscribe: async (args) => {
        const { pipeline, slot = () => undefined, cohort } = ticketOf(args);
        try {
          if (cohort) return (await subscribeInCohort(cohort, slot)) as never;
          return holdingSlot(await pipeline.subscribe(args), slot) as never;
        } catch (error) {
          slot();
          throw error;
        }
      },
      connectionInitWaitTimeout: options.initTimeoutMs ?? 3_000,
      onConnect: async (ctx) => {
        const outcome = await auth.authenticate(ctx.connectionParams?.authorization);
        if ('refused' in outcome) {
          log.info({ reason: outcome.reason, detail: outcome.refused }, 'credential refused (WebSocket closed 4403)');
          return false; // 4403 Forbidden
        }
        const caller = outcome.caller;
        if (caller.expiresAt !== undefined) closeAtExpiry(ctx.extra.socket, caller.expiresAt);
        const tenant = caller.tenant;
        // The upgrade request (and its headers) is not needed after the handshake: the context comes
        // from connection params. Dropping it saves about a kilobyte per open socket.
        (ctx.extra as { request?: unknown }).request = undefined;
        if (ctx.extra.socket.readyState !== ctx.extra.socket.OPEN) return false; // closed while authenticating: nothing to count
        if (!admitConnection(tenant)) {
          options.onLimited?.();
          log.info({ tenant, closeCode: CLOSE_RATE_LIMITED }, 'WebSocket refused: too many connections for this tenant');
          ctx.extra.socket.close(CLOSE_RATE_LIMITED, 'RATE_LIMITED: too many WebSocket connections for this tenant');
          return false;
        }
        // Set once admitted: when the socket closes, a socket with a caller gives its slot back.
        (ctx.extra as { caller?: Caller }).caller = caller;
        return true;
      },
      onSubscribe: async (ctx, id, params) => {
        const caller = (ctx.extra as { caller?: Caller }).caller as Caller;
        const key = cohortKeyOf(caller, params);
        const live = key === null ? undefined : (cohorts.meta(key) as CohortTemplate | undefined);
        if (key !== null && live) {
          // A live cohort for the same visibility, document and variables: nothing to parse, validate or
          // build. The joiner's args are the cohort's, with its own context (its caller, its request id).
          const slot = takeSlot(options.admitSubscription, caller.tenant);
          if ('refused' in slot) return [slot.refused];
          const { schema, document, operationName } = live.args;
          // A literal of fixed shape, not a spread: it lives as long as the subscription.
          const args = { schema, document, operationName, variableValues: params.variables ?? null, contextValue: joinerContext(live.args.contextValue, caller) };
          return ticketed(args, {
            pipeline: live.pipeline,
            slot: slot.release,
            cohort: {
              key,
              socket: ctx.extra.socket,
              operationId: id,
              template: live,
              // The cohort may have ended meanwhile: then this subscriber starts a new one, on the full path.
              start: async () => {
                const prepared = await prepare(ctx, params);
                if (Array.isArray(prepared)) return { errors: prepared as GraphQLError[] };
                const { args: fresh, pipeline } = prepared as Exclude<typeof prepared, readonly GraphQLError[]>;
                return pipeline.subscribe(fresh);
              },
            },
          });
        }
        const prepared = await prepare(ctx, params);
        if (Array.isArray(prepared)) return prepared as GraphQLError[];
        const { args, pipeline } = prepared as Exclude<typeof prepared, readonly GraphQLError[]>;
        if (getOperationAST(args.document, params.operationName)?.operation !== 'subscription') return ticketed(args, { pipeline });
        const slot = takeSlot(options.admitSubscription, caller.tenant);
        if ('refused' in slot) return [slot.refused];
        const policy = key === null ? 'private' : cohortPolicy(args.document, params.operationName, params.variables);
        // A replay from a cursor is its own: no cohort.
        if (key === null || policy === 'private') return ticketed(args, { pipeline, slot: slot.release });
        const template: CohortTemplate = { args, pipeline, replayLatest: policy === 'snapshot' };
        return ticketed(args, {
          pipeline,
          slot: slot.release,
          cohort: { key, socket: ctx.extra.socket, operationId: id, template, start: () => pipeline.subscribe(args) },
        });
      },
      onError: (_ctx, id, _payload, errors) => {
        log.debug({ operationId: id, errors: errors.map((e) => e.message) }, 'operation error');
      },
    },
    wss,
    // Keep-alive below: one timer for all sockets instead of two per socket.
    {
      bounds: options.bounds ?? DEFAULT_SOCKET_BOUNDS,
      logger: log,
      onClosed: (extra) => {
        const caller = (extra as { caller?: Caller }).caller;
        if (caller) releaseConnection(caller.tenant);
      },
      ...(options.onSent ? { onSent: options.onSent } : {}),
    },
  );

  // The ws heartbeat pattern: every keepAliveMs, ping each socket; one that did not answer the last
  // ping is gone (a dead peer or a proxy that dropped it) and is terminated.
  const answered = new WeakSet<WebSocket>();
  function onPong(this: WebSocket) {
    answered.add(this);
  }
  wss.on('connection', (socket) => {
    answered.add(socket);
    socket.on('pong', onPong);
  });
  // Spread over the interval (sweep.ts): a sweep of every socket at once would land inside a fan-out.
  const stopHeartbeat = keepAliveMs > 0
    ? startSweep(wss.clients, keepAliveMs, (socket) => {
        if (!answered.has(socket)) return socket.terminate();
        answered.delete(socket);
        socket.ping();
      })
    : null;

  return {
    async dispose(graceMs = 1_000) {
      stopHeartbeat?.();
      await disposable.dispose(graceMs);
    },
    clientCount: () => wss.clients.size,
    cohortStats: () => cohorts.stats(),
  };
}

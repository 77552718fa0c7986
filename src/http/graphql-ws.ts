/**
 * GraphQL over WebSocket (graphql-transport-ws) on the HTTP server's /graphql path. Every operation
 * runs through Yoga's envelop pipeline (`yoga.getEnveloped`): same context factory, same plugins,
 * same error masking as HTTP and SSE. A connection without a valid key is refused in `onConnect`
 * (close code 4403) when keys are configured.
 */
import { createHash } from 'node:crypto';
import type { Server } from 'node:http';
import { getOperationAST, type ExecutionArgs, type ExecutionResult } from 'graphql';
import type { Context } from 'graphql-ws';
import { WebSocketServer, type WebSocket } from 'ws';
import type { Logger } from 'pino';
import { visibilityKey, type Caller } from '../domain/caller.ts';
import { GatewayError } from '../domain/errors.ts';
import { toGraphQLError } from '../schema/errors.ts';
import type { Authenticator } from './auth.ts';
import { createCohorts, encodeNext, type Frame, type FrameSink } from './cohorts.ts';
import { cohortPolicy } from './cohort-policy.ts';
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
   * Takes one of a tenant's subscription slots for one subscriber (throws the quota's error when none
   * is left); the returned function gives it back. Cohort members each hold their own slot.
   */
  admitSubscription?: (tenant: string) => () => void;
  /** Each cohort frame written to a subscriber (metrics). */
  onDelivered?: () => void;
  /** Per-socket bounds: operations in flight and unread bytes (see ws-server.ts). */
  bounds?: SocketBounds;
}

/** Defaults of WS_MAX_OPERATIONS_IN_FLIGHT and WS_MAX_BUFFERED_BYTES. */
export const DEFAULT_SOCKET_BOUNDS: SocketBounds = { maxOperationsInFlight: 8, maxBufferedBytes: 4 * 1024 * 1024 };

/** Past this much unsent data on a socket, a subscriber is congested: it gets the latest state later. */
const CONGESTED_BYTES = 1024 * 1024;

/** Close code for a tenant over its WebSocket connection quota (graphql-ws uses 4429 for "too many"). */
export const CLOSE_RATE_LIMITED = 4429;
/** Close code when the socket's token expires (graphql-ws's Forbidden): the client reconnects with a fresh one. */
export const CLOSE_TOKEN_EXPIRED = 4403;
/** setTimeout's longest delay; a later expiry re-arms the timer. */
const MAX_TIMER_MS = 2 ** 31 - 1;

/** Closes the socket with 4403 when its token expires (one timer per socket, cleared when it closes). */
function closeAtExpiry(socket: WebSocket, expiresAt: number): void {
  let timer: NodeJS.Timeout;
  const arm = () => {
    const left = expiresAt - Date.now();
    if (left <= 0) {
      socket.close(CLOSE_TOKEN_EXPIRED, 'Forbidden: the token expired');
      return;
    }
    timer = setTimeout(arm, Math.min(left, MAX_TIMER_MS));
  };
  arm();
  socket.on('close', () => clearTimeout(timer));
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
type EnvelopedArgs = ExecutionArgs & {
  rootValue: { execute: (args: ExecutionArgs) => unknown; subscribe: (args: ExecutionArgs) => SubscribeResult };
  /** Set for subscriptions: subscribers with the same key share one execution. */
  cohortKey?: string;
  releaseSlot?: () => void;
  /** Starts the cohort's shared execution when this subscriber is the first. */
  start?: () => SubscribeResult;
  /** The subscriber's socket and graphql-ws operation id, where cohort frames are written. */
  socket?: WebSocket;
  operationId?: string;
  /** False for jobEvents: a joiner gets only the events after it joined. */
  replayLatest?: boolean;
};
type SubscribePayload = { query: string; operationName?: string | null; variables?: Record<string, unknown> | null };
/** What a joiner of a live cohort reuses from the member that started it (already parsed and validated). */
type CohortTemplate = Pick<EnvelopedArgs, 'schema' | 'document' | 'operationName' | 'rootValue' | 'replayLatest'>;

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
  /** The full path: Yoga's pipeline builds, parses, validates and makes the context, as for HTTP. */
  async function prepare(ctx: WsContext, params: SubscribePayload) {
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
      return [error as never];
    }
    const args: EnvelopedArgs = {
      schema,
      operationName: params.operationName ?? null,
      document,
      variableValues: params.variables ?? null,
      contextValue: await contextFactory(),
      rootValue: { execute, subscribe: subscribe as EnvelopedArgs['rootValue']['subscribe'] },
    };
    return args;
  }

  /** A subscription quota slot for one subscriber, or the RATE_LIMITED error to send instead. */
  function admit(tenant: string) {
    try {
      return options.admitSubscription?.(tenant) ?? (() => undefined);
    } catch (error) {
      if (error instanceof GatewayError) return [toGraphQLError(error)];
      throw error;
    }
  }

  /** Subscribers who see the same jobs, with the same operation and variables, share a cohort; null for non-subscriptions. */
  function cohortKeyOf(caller: Caller, params: SubscribePayload): string | null {
    if (!/\bsubscription\b/.test(params.query)) return null; // a cheap pre-filter; the operation type is checked once parsed
    // A digest, so that each subscriber holds 44 bytes rather than its own copy of the whole document.
    return createHash('sha256').update(JSON.stringify([visibilityKey(caller), params.operationName ?? null, params.query, params.variables ?? null])).digest('base64');
  }

  /** A cohort member's frames go straight to its socket, as shared bytes; a congested socket gets the latest later. */
  function sinkFor(socket: WebSocket, operationId: string): FrameSink {
    return new SocketSink(socket, operationId, options.onDelivered);
  }

  async function subscribeInCohort(args: EnvelopedArgs): Promise<AsyncIterable<never> | ExecutionResult> {
    const release = args.releaseSlot ?? (() => undefined);
    const replayLatest = args.replayLatest ?? true;
    const template: CohortTemplate = { schema: args.schema, document: args.document, operationName: args.operationName ?? null, rootValue: args.rootValue, replayLatest };
    let joined;
    try {
      const start = args.start ?? (() => args.rootValue.subscribe(args));
      joined = await cohorts.joinWithSink(args.cohortKey as string, start, template, sinkFor(args.socket as WebSocket, args.operationId as string), release, { replayLatest });
    } catch (error) {
      release();
      throw error;
    }
    // Joined: the fallback (and what it holds) and this subscriber's copy of the key are no longer needed.
    args.start = undefined;
    args.cohortKey = undefined;
    if (!(Symbol.asyncIterator in joined)) release();
    return joined;
  }

  const disposable = serveGraphQLWs(
    {
      execute: (args) => (args as EnvelopedArgs).rootValue.execute(args) as never,
      subscribe: (args) => {
        const enveloped = args as EnvelopedArgs;
        return (enveloped.cohortKey ? subscribeInCohort(enveloped) : enveloped.rootValue.subscribe(args)) as never;
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
        const tenant = caller.tenant;
        const key = cohortKeyOf(caller, params);
        const template = key === null ? undefined : (cohorts.meta(key) as CohortTemplate | undefined);
        if (key !== null && template) {
          // A live cohort for the same tenant, document and variables: nothing to parse, validate or build.
          const releaseSlot = admit(tenant);
          if (Array.isArray(releaseSlot)) return releaseSlot;
          return {
            ...template,
            variableValues: params.variables ?? null,
            contextValue: { caller, quotaHeld: true },
            cohortKey: key,
            releaseSlot,
            socket: ctx.extra.socket,
            operationId: id,
            start: async () => {
              const prepared = await prepare(ctx, params);
              return Array.isArray(prepared) ? { errors: prepared } : prepared.rootValue.subscribe(prepared);
            },
          } satisfies EnvelopedArgs;
        }
        const prepared = await prepare(ctx, params);
        if (Array.isArray(prepared) || key === null) return prepared;
        if (getOperationAST(prepared.document, params.operationName)?.operation !== 'subscription') return prepared;
        const policy = cohortPolicy(prepared.document, params.operationName, params.variables);
        if (policy === 'private') return prepared; // a replay from a cursor is its own (it takes its slot in the resolver)
        prepared.replayLatest = policy === 'snapshot';
        const releaseSlot = admit(tenant);
        if (Array.isArray(releaseSlot)) return releaseSlot;
        (prepared.contextValue as { quotaHeld?: boolean }).quotaHeld = true;
        prepared.cohortKey = key;
        prepared.releaseSlot = releaseSlot;
        prepared.socket = ctx.extra.socket;
        prepared.operationId = id;
        return prepared;
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
  const heartbeat = keepAliveMs > 0
    ? setInterval(() => {
        for (const socket of wss.clients) {
          if (!answered.has(socket)) {
            socket.terminate();
            continue;
          }
          answered.delete(socket);
          socket.ping();
        }
      }, keepAliveMs).unref()
    : null;

  return {
    async dispose(graceMs = 1_000) {
      if (heartbeat) clearInterval(heartbeat);
      await disposable.dispose(graceMs);
    },
    clientCount: () => wss.clients.size,
    cohortStats: () => cohorts.stats(),
  };
}

/**
 * Where a cohort member's frames go: its socket, as shared bytes (one class, so that a subscriber
 * holds one object and one callback rather than three closures). Drained: every frame of this
 * member has been handed to the OS (ws's send callback).
 */
class SocketSink implements FrameSink {
  private unsent = 0;
  private waiters: Array<() => void> | null = null;
  private readonly socket: WebSocket;
  private readonly operationId: string;
  private readonly onDelivered: (() => void) | undefined;
  private readonly sent = () => {
    this.unsent -= 1;
    if (this.unsent > 0 || !this.waiters) return;
    const ready = this.waiters;
    this.waiters = null;
    for (const callback of ready) callback();
  };

  constructor(socket: WebSocket, operationId: string, onDelivered: (() => void) | undefined) {
    this.socket = socket;
    this.operationId = operationId;
    this.onDelivered = onDelivered;
  }

  write(frame: Frame): boolean {
    this.unsent += 1;
    this.socket.send(encodeNext(frame, this.operationId), { binary: false }, this.sent);
    this.onDelivered?.();
    return this.socket.bufferedAmount < CONGESTED_BYTES;
  }
  onDrain(callback: () => void): void {
    if (this.unsent === 0) setImmediate(callback);
    else (this.waiters ??= []).push(callback);
  }
}

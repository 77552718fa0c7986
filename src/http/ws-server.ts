/**
 * graphql-ws's protocol server (`makeServer`) bound to `ws` sockets: our own binding in place of
 * graphql-ws/use/ws, so that every socket is bounded and every error goes to the logger (never to
 * console). Per socket:
 * - messages are handled in order, one per turn of the event loop, so a burst on one socket cannot
 *   hold the loop against every other client;
 * - operations in flight (queries and mutations, until their answer is handed to the OS; a live
 *   subscription does not count, cohorts and latest-wins bound those): at `maxOperationsInFlight`
 *   the socket is paused (nothing more is read from it) until an operation finishes;
 * - bytes queued: a message is written only while `bufferedAmount` is under `maxBufferedBytes`; past
 *   it the client is not reading, and the socket is closed (1008) and, unless the close handshake
 *   ends within `closeGraceMs`, terminated;
 * - no connection_init within `connectionInitWaitTimeout`: closed with 4408 (our timer, not
 *   graphql-ws's, which would keep its timer and closure for the socket's whole life).
 * Memory: an idle socket with one subscription holds one SocketBinding and shared listeners, no
 * closures of its own (measured with scripts/bench/ws-memory-probe.ts).
 */
import type { IncomingMessage } from 'node:http';
import { handleProtocols, makeServer, type ServerOptions } from 'graphql-ws';
import type { WebSocket, WebSocketServer } from 'ws';
import type { Logger } from 'pino';

export interface SocketBounds {
  maxOperationsInFlight: number;
  maxBufferedBytes: number;
}

export interface WsExtra {
  readonly socket: WebSocket;
  request: IncomingMessage | undefined;
}

/** Close code and reason for a socket whose client stopped reading. */
export const CLOSE_NOT_READING = 1008;

const isAsyncIterable = (value: unknown): boolean => typeof value === 'object' && value !== null && Symbol.asyncIterator in value;

/** What every socket's binding shares: one object per server, so that a socket holds one pointer to it. */
interface Shared {
  bounds: SocketBounds;
  log: Logger;
  closeGraceMs: number;
  onClosed: ((extra: WsExtra) => void) | undefined;
  onSent: (() => void) | undefined;
}

export function serveGraphQLWs<P extends Record<string, unknown> | undefined>(
  options: ServerOptions<P, WsExtra>,
  wss: WebSocketServer,
  deps: {
    bounds: SocketBounds;
    logger: Logger;
    closeGraceMs?: number;
    /** Called once when a socket closes, at once (before graphql-ws ends its operations). */
    onClosed?: (extra: WsExtra) => void;
    /** Each message handed to a socket (a measurement hook). */
    onSent?: () => void;
  },
): { dispose(graceMs: number): Promise<void> } {
  const shared: Shared = { bounds: deps.bounds, log: deps.logger, closeGraceMs: deps.closeGraceMs ?? 1_000, onClosed: deps.onClosed, onSent: deps.onSent };
  const log = shared.log;
  const bindings = new WeakMap<WebSocket, SocketBinding>();
  // graphql-ws's own wait keeps a timer and its closure for the socket's whole life; ours is dropped once it fires.
  const initWaitMs = options.connectionInitWaitTimeout ?? 3_000;
  wss.options.handleProtocols = handleProtocols;
  const server = makeServer<P, WsExtra>({
    ...options,
    connectionInitWaitTimeout: 0,
    onConnect: (ctx) => {
      const binding = bindings.get(ctx.extra.socket);
      if (binding) binding.initialised = true;
      return options.onConnect?.(ctx);
    },
    onOperation: async (ctx, id, payload, args, result) => {
      const replaced = await options.onOperation?.(ctx, id, payload, args, result);
      if (isAsyncIterable(replaced ?? result)) bindings.get(ctx.extra.socket)?.subscriptionLive(id);
      return replaced;
    },
    onComplete: async (ctx, id, payload) => {
      bindings.get(ctx.extra.socket)?.subscriptionEnded(id);
      await options.onComplete?.(ctx, id, payload);
    },
  });

  // Listeners shared by every socket (`this` is the socket): no closures per socket.
  function onError(error: Error & { code?: string }) {
    // ws closes the socket itself (1009 for an oversized message); the client sees the close code.
    if (error.code === 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH') log.info({ code: error.code }, 'WebSocket closed: message larger than WS_MAX_MESSAGE_BYTES');
    else log.info({ err: error.message, code: error.code }, 'WebSocket protocol error: socket closed');
  }
  function onMessage(this: WebSocket, data: unknown) {
    bindings.get(this)?.receive(String(data));
  }
  function onClose(this: WebSocket, code: number, reason: Buffer) {
    bindings.get(this)?.ended(code, String(reason));
  }
  function closeUninitialised(socket: WebSocket) {
    if (bindings.get(socket)?.initialised === false && socket.readyState === socket.OPEN) socket.close(4408, 'Connection initialisation timeout');
  }

  wss.on('connection', (socket: WebSocket, request: IncomingMessage) => {
    socket.on('error', onError);
    // `caller` is set in onConnect (graphql-ws.ts): declared here, so that the object keeps one shape.
    const extra: WsExtra & { caller?: unknown } = { socket, request, caller: undefined };
    const binding = new SocketBinding(socket, extra, shared);
    bindings.set(socket, binding);
    binding.closed = server.opened(binding, extra);
    if (initWaitMs > 0 && Number.isFinite(initWaitMs)) setTimeout(closeUninitialised, initWaitMs, socket).unref();
    socket.on('message', onMessage);
    socket.on('close', onClose);
  });

  return {
    /** 1001 (Going away) to every client; those that do not finish the close handshake within `graceMs` are terminated. */
    async dispose(graceMs) {
      await Promise.all([...wss.clients].map((socket) => closeOrTerminate(socket, 1001, 'Going away', graceMs)));
      wss.removeAllListeners();
      await new Promise<void>((resolve) => wss.close(() => resolve()));
    },
  };
}

/** Closes a socket now, and terminates it if its close handshake does not end within `graceMs`. */
function closeOrTerminate(socket: WebSocket, code: number, reason: string, graceMs: number): Promise<void> {
  if (socket.readyState === socket.CLOSED) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(() => socket.terminate(), graceMs);
    timer.unref();
    socket.once('close', () => {
      clearTimeout(timer);
      resolve();
    });
    socket.close(code, reason);
  });
}

/**
 * One socket: graphql-ws's view of it (`protocol`, `send`, `close`, `onMessage`) and its operations in
 * flight: every message being handled, less the live subscriptions. Messages are handled in order,
 * one per turn of the event loop (so one socket's burst cannot hold the loop against every other
 * client), at most `maxOperationsInFlight` at once; at the bound the socket is paused and what was
 * already read waits for room. A class, so that the per-socket state is one object and its methods
 * are shared (closures per socket cost a few hundred bytes each connection).
 */
class SocketBinding {
  readonly socket: WebSocket;
  readonly protocol: string;
  private readonly extra: WsExtra;
  private readonly shared: Shared;
  /** graphql-ws's message handler (`onMessage`) and its close handler (`opened`'s result). */
  private handle: ((data: string) => Promise<void>) | null = null;
  closed: ((code: number, reason: string) => Promise<void>) | null = null;
  /** connection_init received: graphql-ws's onConnect ran. */
  initialised = false;
  private handling = 0;
  /** Live subscriptions' ids (usually one or a few). */
  private live: string[] | null = null;
  private waiting: string[] | null = null;
  private paused = false;
  private scheduled = false;

  constructor(socket: WebSocket, extra: WsExtra, shared: Shared) {
    this.socket = socket;
    this.protocol = socket.protocol;
    this.extra = extra;
    this.shared = shared;
  }

  // graphql-ws's socket interface.
  send(data: string): Promise<void> {
    const { socket } = this;
    const { bounds, log, closeGraceMs } = this.shared;
    return new Promise((resolve) => {
      if (socket.readyState !== socket.OPEN) return resolve();
      if (socket.bufferedAmount > bounds.maxBufferedBytes) {
        log.info({ bufferedBytes: socket.bufferedAmount, limit: bounds.maxBufferedBytes }, 'closing a WebSocket whose client does not read its messages');
        void closeOrTerminate(socket, CLOSE_NOT_READING, `Policy violation: more than ${bounds.maxBufferedBytes} bytes unread`, closeGraceMs);
        return resolve();
      }
      // An error here means the socket is gone; its 'close' event ends its operations.
      socket.send(data, () => resolve());
      this.shared.onSent?.();
    });
  }
  close(code: number, reason: string): void {
    this.socket.close(code, reason);
  }
  onMessage(callback: (data: string) => Promise<void>): void {
    this.handle = callback;
  }

  /** The socket closed: what it sent and was not handled yet is dropped, and graphql-ws ends its operations. */
  ended(code: number, reason: string): void {
    this.waiting = null;
    this.shared.onClosed?.(this.extra);
    void this.closed?.(code, reason);
  }

  private inFlight(): number {
    return this.handling - (this.live?.length ?? 0);
  }
  receive(data: string): void {
    (this.waiting ??= []).push(data);
    this.schedule();
  }
  subscriptionLive(id: string): void {
    (this.live ??= []).push(id);
    this.schedule();
  }
  subscriptionEnded(id: string): void {
    const at = this.live?.indexOf(id) ?? -1;
    if (at >= 0) this.live!.splice(at, 1);
  }
  private run(data: string): void {
    this.handling += 1;
    const handle = this.handle as (data: string) => Promise<void>;
    void handle(data).then(
      () => this.ran(),
      (error: unknown) => {
        this.shared.log.warn({ err: error }, 'WebSocket message handling failed: socket closed');
        this.socket.close(1011, 'Internal server error');
        this.ran();
      },
    );
  }
  private ran(): void {
    this.handling -= 1;
    this.schedule();
  }
  private schedule(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(pump, this);
  }
  pump(): void {
    this.scheduled = false;
    const { socket } = this;
    const max = this.shared.bounds.maxOperationsInFlight;
    if (socket.readyState !== socket.OPEN) {
      // A socket on its way out runs nothing more of what it sent.
      this.waiting = null;
      return;
    }
    if (this.queued() > 0 && this.inFlight() < max) {
      const data = this.waiting!.shift() as string;
      if (this.waiting!.length === 0) this.waiting = null; // an idle socket holds no queue
      this.run(data);
    }
    if (this.queued() > 0 && this.inFlight() < max) this.schedule();
    const full = this.inFlight() >= max || this.queued() >= max;
    if (full !== this.paused) {
      this.paused = full;
      if (full) socket.pause();
      else socket.resume();
    }
  }
  private queued(): number {
    return this.waiting?.length ?? 0;
  }
}

function pump(binding: SocketBinding): void {
  binding.pump();
}

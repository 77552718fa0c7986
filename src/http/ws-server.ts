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
 *   ends within `closeGraceMs`, terminated.
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

interface Budget {
  receive(data: string): void;
  subscriptionLive(id: string): void;
  subscriptionEnded(id: string): void;
}

const isAsyncIterable = (value: unknown): boolean => typeof value === 'object' && value !== null && Symbol.asyncIterator in value;

export function serveGraphQLWs<P extends Record<string, unknown> | undefined>(
  options: ServerOptions<P, WsExtra>,
  wss: WebSocketServer,
  deps: { bounds: SocketBounds; logger: Logger; closeGraceMs?: number; /** Each message handed to a socket (a measurement hook). */ onSent?: () => void },
): { dispose(graceMs: number): Promise<void> } {
  const { bounds, logger: log, closeGraceMs = 1_000, onSent } = deps;
  const budgets = new WeakMap<WebSocket, Budget>();
  wss.options.handleProtocols = handleProtocols;
  const server = makeServer<P, WsExtra>({
    ...options,
    onOperation: async (ctx, id, payload, args, result) => {
      const replaced = await options.onOperation?.(ctx, id, payload, args, result);
      if (isAsyncIterable(replaced ?? result)) budgets.get(ctx.extra.socket)?.subscriptionLive(id);
      return replaced;
    },
    onComplete: async (ctx, id, payload) => {
      budgets.get(ctx.extra.socket)?.subscriptionEnded(id);
      await options.onComplete?.(ctx, id, payload);
    },
  });

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

  function send(socket: WebSocket, data: string): Promise<void> {
    return new Promise((resolve) => {
      if (socket.readyState !== socket.OPEN) return resolve();
      if (socket.bufferedAmount > bounds.maxBufferedBytes) {
        log.info({ bufferedBytes: socket.bufferedAmount, limit: bounds.maxBufferedBytes }, 'closing a WebSocket whose client does not read its messages');
        void closeOrTerminate(socket, CLOSE_NOT_READING, `Policy violation: more than ${bounds.maxBufferedBytes} bytes unread`, closeGraceMs);
        return resolve();
      }
      // An error here means the socket is gone; its 'close' event ends its operations.
      socket.send(data, () => resolve());
      onSent?.();
    });
  }

  wss.on('connection', (socket: WebSocket, request: IncomingMessage) => {
    socket.on('error', (error: Error & { code?: string }) => {
      // ws closes the socket itself (1009 for an oversized message); the client sees the close code.
      if (error.code === 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH') log.info({ code: error.code }, 'WebSocket closed: message larger than WS_MAX_MESSAGE_BYTES');
      else log.info({ err: error.message, code: error.code }, 'WebSocket protocol error: socket closed');
    });
    const extra: WsExtra = { socket, request };
    let handle!: (data: string) => Promise<void>;
    const closed = server.opened(
      {
        protocol: socket.protocol,
        send: (data) => send(socket, data),
        close: (code, reason) => socket.close(code, reason),
        onMessage: (callback) => (handle = callback),
      },
      extra,
    );
    const budget = createBudget(socket, bounds.maxOperationsInFlight, (data) =>
      handle(data).catch((error: unknown) => {
        log.warn({ err: error }, 'WebSocket message handling failed: socket closed');
        socket.close(1011, 'Internal server error');
      }),
    );
    budgets.set(socket, budget);
    socket.on('message', (data) => budget.receive(String(data)));
    socket.once('close', (code, reason) => void closed(code, String(reason)));
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

/**
 * One socket's operations in flight: every message being handled, less the live subscriptions.
 * Messages are handled in order, one per turn of the event loop (so one socket's burst cannot hold
 * the loop against every other client), at most `max` at once; at the bound the socket is paused and
 * what was already read waits for room.
 */
function createBudget(socket: WebSocket, max: number, handle: (data: string) => Promise<void>): Budget {
  let handling = 0;
  const live = new Set<string>();
  const waiting: string[] = [];
  let paused = false;
  let scheduled = false;
  const inFlight = () => handling - live.size;

  // A socket on its way out runs nothing more of what it sent.
  socket.once('close', () => (waiting.length = 0));
  function run(data: string) {
    handling += 1;
    void handle(data).finally(() => {
      handling -= 1;
      schedule();
    });
  }
  function schedule() {
    if (scheduled) return;
    scheduled = true;
    setImmediate(pump);
  }
  function pump() {
    scheduled = false;
    if (socket.readyState !== socket.OPEN) return;
    if (waiting.length > 0 && inFlight() < max) run(waiting.shift() as string);
    if (waiting.length > 0 && inFlight() < max) schedule();
    const full = inFlight() >= max || waiting.length >= max;
    if (full !== paused) {
      paused = full;
      if (full) socket.pause();
      else socket.resume();
    }
  }
  return {
    receive(data) {
      waiting.push(data);
      schedule();
    },
    subscriptionLive(id) {
      live.add(id);
      schedule();
    },
    subscriptionEnded(id) {
      live.delete(id);
    },
  };
}

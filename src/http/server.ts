/**
 * The node:http server around Yoga. It remembers its sockets so that stop() can end keep-alive
 * and SSE connections instead of waiting for them forever.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { StartupError } from '../config.ts';
import type { GatewayYoga } from './yoga.ts';

export interface HttpServerHandle {
  server: Server;
  listen(port: number, host: string): Promise<{ port: number }>;
  /** Stops accepting new connections (open ones go on). */
  stopAccepting(): void;
  /**
   * Ends SSE streams at once (clients reconnect elsewhere and get the current state first), lets other
   * in-flight requests finish until `graceMs`, then destroys what is left.
   */
  close(graceMs: number): Promise<void>;
  /** Open SSE responses (metrics). */
  streamCount(): number;
}

/** Another request handler served beside Yoga under its own path prefix (the built-in fal simulator). */
export interface MountedHandler {
  owns(pathname: string): boolean;
  handle(request: IncomingMessage, response: ServerResponse): void;
}

/** A handler tried before everything else (the SSE subscription route): true when it took the request. */
export type FirstHandler = (request: IncomingMessage, response: ServerResponse) => boolean;

/** How often a closing server closes the keep-alive connections that went idle since it last looked. */
const IDLE_SWEEP_MS = 50;

export function createHttpServer(yoga: GatewayYoga, options: { requestTimeoutMs: number; mounted?: MountedHandler | null; first?: FirstHandler | null }): HttpServerHandle {
  const { requestTimeoutMs, mounted = null, first = null } = options;
  const handler = mounted === null && first === null ? yoga : (request: IncomingMessage, response: ServerResponse) => {
    if (first?.(request, response)) return;
    const pathname = (request.url ?? '/').split('?')[0] ?? '/';
    if (mounted?.owns(pathname)) mounted.handle(request, response);
    else void yoga(request, response);
  };
  // `requestTimeout` bounds receiving a request (headers and body: a slow or stalled body gets 408);
  // it stops once the request is in, so SSE responses and upgraded WebSockets are not cut. Node checks
  // it every `connectionsCheckingInterval`.
  const server = createServer({
    requestTimeout: requestTimeoutMs,
    headersTimeout: Math.min(30_000, requestTimeoutMs),
    connectionsCheckingInterval: Math.max(50, Math.min(1_000, Math.floor(requestTimeoutMs / 4))),
    keepAliveTimeout: 65_000,
  }, handler);
  const sockets = new Set<Socket>();
  const streams = new Set<Socket>();
  // One listener for every socket ('on': a socket closes once; once's wrapper would cost ~120 bytes each).
  function forget(this: Socket) {
    sockets.delete(this);
  }
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('close', forget);
  });
  // One 'close' listener function for every stream (no closure per SSE response).
  function streamEnded(this: ServerResponse) {
    streams.delete(this.req.socket);
  }
  server.on('request', (request, response) => {
    if (!request.headers.accept?.includes('text/event-stream')) return;
    streams.add(request.socket);
    response.on('close', streamEnded);
  });
  let closed: Promise<void> | null = null;
  const stopAccepting = () => {
    closed ??= new Promise<void>((resolve) => (server.listening ? server.close(() => resolve()) : resolve()));
  };

  return {
    server,
    listen(port, host) {
      return new Promise((resolve, reject) => {
        const onError = (error: NodeJS.ErrnoException) =>
          reject(error.code === 'EADDRINUSE'
            ? new StartupError(`Port ${port} on ${host} is already in use (another gateway?): stop that process, or set PORT to a free port.`)
            : error);
        server.once('error', onError);
        server.listen(port, host, () => {
          server.off('error', onError);
          const address = server.address();
          resolve({ port: typeof address === 'object' && address ? address.port : port });
        });
      });
    },
    stopAccepting,
    async close(graceMs) {
      stopAccepting();
      for (const socket of streams) socket.destroy();
      // A keep-alive connection whose response ends during the grace is closed as it goes idle (Node
      // closes only the connections idle at the moment it is asked), so the close waits for the
      // requests in flight, not for the deadline.
      server.closeIdleConnections();
      const idle = setInterval(() => server.closeIdleConnections(), IDLE_SWEEP_MS);
      const timer = setTimeout(() => {
        for (const socket of sockets) socket.destroy();
      }, graceMs);
      await closed;
      clearInterval(idle);
      clearTimeout(timer);
    },
    streamCount: () => streams.size,
  };
}

/**
 * The node:http server around Yoga. It remembers its sockets so that stop() can end keep-alive
 * and SSE connections instead of waiting for them forever.
 */
import { createServer, type Server } from 'node:http';
import type { Socket } from 'node:net';
import type { GatewayYoga } from './yoga.ts';

export interface HttpServerHandle {
  server: Server;
  listen(port: number, host: string): Promise<{ port: number }>;
  /** Stops accepting, lets in-flight requests finish until `graceMs`, then destroys what is left. */
  close(graceMs: number): Promise<void>;
}

export function createHttpServer(yoga: GatewayYoga): HttpServerHandle {
  const server = createServer({ requestTimeout: 0, headersTimeout: 30_000, keepAliveTimeout: 65_000 }, yoga);
  const sockets = new Set<Socket>();
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  });

  return {
    server,
    listen(port, host) {
      return new Promise((resolve, reject) => {
        server.once('error', reject);
        server.listen(port, host, () => {
          server.off('error', reject);
          const address = server.address();
          resolve({ port: typeof address === 'object' && address ? address.port : port });
        });
      });
    },
    async close(graceMs) {
      if (!server.listening) return;
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeIdleConnections();
      const timer = setTimeout(() => {
        for (const socket of sockets) socket.destroy();
      }, graceMs);
      await closed;
      clearTimeout(timer);
    },
  };
}

/**
 * GraphQL over WebSocket (graphql-transport-ws) on the HTTP server's /graphql path. Every operation
 * runs through Yoga's envelop pipeline (`yoga.getEnveloped`): same context factory, same plugins,
 * same error masking as HTTP and SSE. A connection without a valid key is refused in `onConnect`
 * (close code 4403) when keys are configured.
 */
import type { Server } from 'node:http';
import type { ExecutionArgs } from 'graphql';
import { useServer } from 'graphql-ws/use/ws';
import { WebSocketServer } from 'ws';
import type { Logger } from 'pino';
import type { Authenticator } from './auth.ts';
import type { GatewayYoga } from './yoga.ts';

export interface GraphQLWsOptions {
  server: Server;
  yoga: GatewayYoga;
  auth: Authenticator;
  logger: Logger;
  path?: string;
  /** Ping interval; a client that misses a pong is dropped. */
  keepAliveMs?: number;
}

export interface GraphQLWsHandle {
  /** Closes every client with 1001 (Going away) and stops accepting. */
  dispose(): Promise<void>;
  clientCount(): number;
}

type EnvelopedArgs = ExecutionArgs & { rootValue: { execute: (args: ExecutionArgs) => unknown; subscribe: (args: ExecutionArgs) => unknown } };

export function attachGraphQLWs({ server, yoga, auth, logger, path = '/graphql', keepAliveMs = 12_000 }: GraphQLWsOptions): GraphQLWsHandle {
  const wss = new WebSocketServer({ server, path, maxPayload: 1024 * 1024 });
  const log = logger.child({ component: 'graphql-ws' });

  const disposable = useServer(
    {
      execute: (args) => (args as EnvelopedArgs).rootValue.execute(args) as never,
      subscribe: (args) => (args as EnvelopedArgs).rootValue.subscribe(args) as never,
      onConnect: (ctx) => auth.tenantFor(ctx.connectionParams?.authorization) !== null,
      onSubscribe: async (ctx, _id, params) => {
        const { schema, execute, subscribe, contextFactory, parse, validate } = yoga.getEnveloped({
          ...ctx,
          req: ctx.extra.request,
          socket: ctx.extra.socket,
          params,
          connectionParams: ctx.connectionParams ?? {},
        });
        let document;
        try {
          document = parse(params.query);
        } catch (error) {
          return [error as never];
        }
        const errors = validate(schema, document);
        if (errors.length > 0) return errors;
        const args: EnvelopedArgs = {
          schema,
          operationName: params.operationName ?? null,
          document,
          variableValues: params.variables ?? null,
          contextValue: await contextFactory(),
          rootValue: { execute, subscribe },
        };
        return args;
      },
      onError: (_ctx, id, _payload, errors) => {
        log.debug({ operationId: id, errors: errors.map((e) => e.message) }, 'operation error');
      },
    },
    wss,
    keepAliveMs,
  );

  return {
    async dispose() {
      await disposable.dispose();
    },
    clientCount: () => wss.clients.size,
  };
}

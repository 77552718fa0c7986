/**
 * A subscription never outlives the token it was started with. Over SSE, this plugin ends the stream
 * at the token's `exp` with a final UNAUTHENTICATED error (the client signs in again and resubscribes).
 * A WebSocket needs nothing here: graphql-ws.ts closes the whole socket with 4403 at expiry.
 */
import type { ExecutionResult } from 'graphql';
import type { Plugin } from 'graphql-yoga';
import { UnauthenticatedError } from '../domain/errors.ts';
import { toGraphQLError } from '../schema/errors.ts';
import type { GraphQLContext } from '../schema/context.ts';

const EXPIRED = Symbol('expired');

/** Yields `source` until `endsAt` (epoch ms), then one error result, then ends (and returns the source). */
export async function* untilExpiry<T>(source: AsyncIterable<T>, endsAt: number, expired: () => T): AsyncGenerator<T> {
  const iterator = source[Symbol.asyncIterator]();
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<typeof EXPIRED>((resolve) => {
    timer = setTimeout(() => resolve(EXPIRED), Math.max(0, Math.min(endsAt - Date.now(), 2 ** 31 - 1)));
  });
  try {
    for (;;) {
      const next = await Promise.race([iterator.next(), deadline]);
      if (next === EXPIRED) {
        yield expired();
        return;
      }
      if (next.done) return;
      yield next.value;
    }
  } finally {
    clearTimeout(timer);
    await iterator.return?.();
  }
}

export function tokenExpiryPlugin(): Plugin<GraphQLContext> {
  return {
    onSubscribe() {
      return {
        onSubscribeResult({ args, result, setResult }) {
          const endsAt = (args.contextValue as GraphQLContext).streamEndsAt;
          if (endsAt === undefined || !(Symbol.asyncIterator in Object(result))) return;
          const expired = (): ExecutionResult => ({ errors: [toGraphQLError(new UnauthenticatedError('The token has expired.'))] });
          setResult(untilExpiry(result as AsyncIterable<ExecutionResult>, endsAt, expired));
        },
      };
    },
  };
}

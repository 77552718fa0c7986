/**
 * The per-tenant subscription quota is the transports' business, not the schema's or the service's:
 * each transport takes ONE slot per subscriber when its subscription starts (a cohort member holds its
 * own, though it shares an execution) and gives it back once when it ends, however it ends.
 * - WebSocket: graphql-ws.ts, in its onSubscribe (the refusal is graphql-ws's `error` message).
 * - SSE: the SSE subscription route.
 * - Any other subscription Yoga serves over HTTP (multipart): `useHttpSubscriptionSlots` below, for the
 *   requests Yoga itself parsed; a pipeline run by another transport (`yoga.getEnveloped`) is not one.
 */
import { getOperationAST, GraphQLError, Kind, type DocumentNode, type ExecutionResult } from 'graphql';
import type { Plugin } from 'graphql-yoga';
import { GatewayError } from '../domain/errors.ts';
import { toGraphQLError } from '../schema/errors.ts';

/** Takes one of a tenant's subscription slots (throws the quota's RATE_LIMITED error when none is left); returns its release. */
export type AdmitSubscription = (tenant: string) => () => void;

/**
 * A slot, or the GraphQL error to answer instead (RATE_LIMITED); other failures throw. With the
 * operation, the refusal is located on its subscription field (as a resolver's error would be).
 */
export function takeSlot(
  admit: AdmitSubscription | undefined,
  tenant: string,
  operation?: { document: DocumentNode; operationName: string | null },
): { release: () => void } | { refused: ReturnType<typeof toGraphQLError> } {
  try {
    const release = admit?.(tenant);
    let released = false;
    return {
      release: () => {
        if (released) return;
        released = true;
        release?.();
      },
    };
  } catch (error) {
    if (!(error instanceof GatewayError)) throw error;
    const field = operation && getOperationAST(operation.document, operation.operationName)?.selectionSet.selections.find((s) => s.kind === Kind.FIELD);
    const at = field?.kind === Kind.FIELD ? new GraphQLError('', { nodes: [field], path: [field.alias?.value ?? field.name.value] }) : undefined;
    return { refused: toGraphQLError(error, at) };
  }
}

const isAsyncIterable = (value: unknown): value is AsyncIterable<unknown> => typeof value === 'object' && value !== null && Symbol.asyncIterator in value;

/**
 * What a subscribe call answered, holding `release` until it ends: an answer that is not a stream
 * (e.g. NOT_FOUND) gives the slot back at once; a stream gives it back when it finishes, throws or is
 * returned (the client left).
 */
export function holdingSlot<T>(result: AsyncIterable<T> | ExecutionResult, release: () => void): AsyncIterableIterator<T> | ExecutionResult {
  if (!isAsyncIterable(result)) {
    release();
    return result;
  }
  const iterator = result[Symbol.asyncIterator]();
  const held: AsyncIterableIterator<T> = {
    async next() {
      try {
        const step = await iterator.next();
        if (step.done) release();
        return step;
      } catch (error) {
        release();
        throw error;
      }
    },
    async return(value?: unknown) {
      release();
      return (await iterator.return?.(value as never)) ?? { value: undefined as never, done: true };
    },
    async throw(error?: unknown) {
      release();
      if (iterator.throw) return iterator.throw(error);
      throw error;
    },
    [Symbol.asyncIterator]() {
      return held;
    },
  };
  return held;
}

/** The subscription slot for subscriptions Yoga serves over HTTP itself (see the module comment). */
export function useHttpSubscriptionSlots(admit: AdmitSubscription): Plugin<{ caller?: { tenant: string }; request?: Request }> {
  const parsedByYoga = new WeakSet<Request>();
  return {
    onParams({ request }) {
      parsedByYoga.add(request);
    },
    onSubscribe({ args, subscribeFn, setSubscribeFn }) {
      const { request, caller } = args.contextValue;
      if (!request || !caller || !parsedByYoga.has(request)) return;
      setSubscribeFn(async (subscribeArgs) => {
        const slot = takeSlot(admit, caller.tenant);
        if ('refused' in slot) return { errors: [slot.refused] };
        try {
          return holdingSlot(await subscribeFn(subscribeArgs), slot.release) as never;
        } catch (error) {
          slot.release();
          throw error;
        }
      });
    },
  };
}

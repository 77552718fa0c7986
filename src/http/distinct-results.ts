/**
 * Rule 5 of the subscriptions: no subscriber receives two identical payloads in a row. An envelop
 * plugin, so it holds on every transport (HTTP/SSE and WebSocket all subscribe through Yoga's
 * pipeline): it compares what the subscriber would receive (the serialized result, for its own
 * selection), not the job, and drops a result equal to the previous one. For example, a selection
 * without `logs` sees nothing of a change that only added log lines.
 */
import type { ExecutionResult } from 'graphql';
import type { Plugin } from 'graphql-yoga';

const isAsyncIterable = (value: unknown): value is AsyncIterable<ExecutionResult> =>
  typeof value === 'object' && value !== null && Symbol.asyncIterator in value;

/**
 * `source` without consecutive repeats (by JSON text). Hand-written rather than an async generator:
 * `return()` must reach the source at once, even while a `next()` is waiting (a generator would queue it).
 */
export function dropRepeats<T>(source: AsyncIterable<T>): AsyncIterableIterator<T> {
  const inner = source[Symbol.asyncIterator]();
  let last: string | undefined;
  const iterator: AsyncIterableIterator<T> = {
    async next() {
      for (;;) {
        const step = await inner.next();
        if (step.done) return step;
        const text = JSON.stringify(step.value);
        if (text === last) continue;
        last = text;
        return step;
      }
    },
    async return(value?: unknown) {
      return (await inner.return?.(value)) ?? { value: undefined, done: true };
    },
    async throw(error?: unknown) {
      if (inner.throw) return inner.throw(error);
      throw error;
    },
    [Symbol.asyncIterator]() {
      return iterator;
    },
  };
  return iterator;
}

export function useDistinctResults(): Plugin {
  return {
    onSubscribe() {
      return {
        onSubscribeResult({ result, setResult }) {
          if (isAsyncIterable(result)) setResult(dropRepeats(result) as never);
        },
      };
    },
  };
}

/**
 * A controllable result stream, for tests of code that consumes subscription results (cohorts, the
 * graphql-ws protocol server): push results, end it, and see how often it was returned.
 */
import type { ExecutionResult } from 'graphql';

export function streamSource() {
  const queue: ExecutionResult[] = [];
  let wake: (() => void) | null = null;
  let ended = false;
  let returned = 0;
  const iterator: AsyncIterableIterator<ExecutionResult> = {
    async next() {
      while (queue.length === 0 && !ended) await new Promise<void>((resolve) => (wake = resolve));
      if (queue.length > 0) return { value: queue.shift()!, done: false };
      return { value: undefined, done: true };
    },
    async return() {
      returned++;
      ended = true;
      wake?.();
      return { value: undefined, done: true };
    },
    [Symbol.asyncIterator]() {
      return iterator;
    },
  };
  return {
    /** The stream itself (an async iterable whose iterator is itself). */
    iterable: iterator as AsyncIterable<ExecutionResult>,
    iterator,
    /** Queues `{ data: { n } }`. */
    push(n: number) {
      queue.push({ data: { n } });
      wake?.();
    },
    end() {
      ended = true;
      wake?.();
    },
    returned: () => returned,
    queued: () => queue.length,
  };
}

/** Decorating an UpstreamQueue: the same wrapper around each of its four calls (metrics, circuit breaker). */
import type { UpstreamQueue } from './upstream-queue.ts';

export type Operation = 'submit' | 'status' | 'result' | 'cancel';

export type CallWrapper = <A extends unknown[], R>(operation: Operation, call: (...args: A) => Promise<R>) => (...args: A) => Promise<R>;

export function wrapQueue(queue: UpstreamQueue, wrap: CallWrapper): UpstreamQueue {
  return {
    submit: wrap('submit', queue.submit.bind(queue)),
    status: wrap('status', queue.status.bind(queue)),
    result: wrap('result', queue.result.bind(queue)),
    cancel: wrap('cancel', queue.cancel.bind(queue)),
    close: () => queue.close(),
  };
}

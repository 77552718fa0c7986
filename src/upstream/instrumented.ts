/** Wraps an UpstreamQueue to report every call's operation, outcome and duration (metrics, logs). */
import { UpstreamError, type UpstreamQueue } from './upstream-queue.ts';
import { wrapQueue, type Operation } from './wrap-queue.ts';

export type CallObserver = (operation: Operation, outcome: string, seconds: number) => void;

export function instrumentUpstream(queue: UpstreamQueue, observe: CallObserver): UpstreamQueue {
  return wrapQueue(queue, (operation, call) => async (...args) => {
    const started = performance.now();
    try {
      const result = await call(...args);
      observe(operation, 'ok', (performance.now() - started) / 1000);
      return result;
    } catch (error) {
      observe(operation, error instanceof UpstreamError ? error.kind : 'error', (performance.now() - started) / 1000);
      throw error;
    }
  });
}

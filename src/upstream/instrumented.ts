/** Wraps an UpstreamQueue to report every call's operation, outcome and duration (metrics, logs). */
import { UpstreamError, type UpstreamQueue } from './upstream-queue.ts';

export type CallObserver = (operation: 'submit' | 'status' | 'result' | 'cancel', outcome: string, seconds: number) => void;

export function instrumentUpstream(queue: UpstreamQueue, observe: CallObserver): UpstreamQueue {
  const timed = <A extends unknown[], R>(operation: 'submit' | 'status' | 'result' | 'cancel', call: (...args: A) => Promise<R>) =>
    async (...args: A): Promise<R> => {
      const started = performance.now();
      try {
        const result = await call(...args);
        observe(operation, 'ok', (performance.now() - started) / 1000);
        return result;
      } catch (error) {
        observe(operation, error instanceof UpstreamError ? error.kind : 'error', (performance.now() - started) / 1000);
        throw error;
      }
    };
  return {
    submit: timed('submit', queue.submit.bind(queue)),
    status: timed('status', queue.status.bind(queue)),
    result: timed('result', queue.result.bind(queue)),
    cancel: timed('cancel', queue.cancel.bind(queue)),
    close: () => queue.close(),
  };
}

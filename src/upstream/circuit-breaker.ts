/**
 * A circuit breaker around the upstream (cockatiel): after `failures` consecutive transient failures
 * (unreachable, rate limited, malformed) every call fails fast for `halfOpenAfterMs`, then one trial
 * call decides whether to close again. The poller and the mutations stop hammering an upstream that
 * keeps failing, and clients get UPSTREAM_UNAVAILABLE with a retry hint at once.
 */
import { BrokenCircuitError, ConsecutiveBreaker, CircuitState, circuitBreaker, handleWhen } from 'cockatiel';
import { UpstreamError, type UpstreamQueue } from './upstream-queue.ts';
import { wrapQueue } from './wrap-queue.ts';

export type CircuitStatus = 'closed' | 'open' | 'half-open';

export interface GuardedUpstream extends UpstreamQueue {
  circuit(): CircuitStatus;
}

export interface CircuitOptions {
  failures: number;
  halfOpenAfterMs: number;
  onStateChange?: (state: CircuitStatus) => void;
}

const STATUS: Record<CircuitState, CircuitStatus> = {
  [CircuitState.Closed]: 'closed',
  [CircuitState.Open]: 'open',
  [CircuitState.HalfOpen]: 'half-open',
  [CircuitState.Isolated]: 'open',
};

export function withCircuitBreaker(queue: UpstreamQueue, { failures, halfOpenAfterMs, onStateChange }: CircuitOptions): GuardedUpstream {
  const breaker = circuitBreaker(
    handleWhen((error) => error instanceof UpstreamError && error.transient),
    { halfOpenAfter: halfOpenAfterMs, breaker: new ConsecutiveBreaker(failures) },
  );
  let openedAt = 0;
  breaker.onStateChange((state) => {
    if (state === CircuitState.Open) openedAt = Date.now();
    onStateChange?.(STATUS[state]);
  });

  const guarded = wrapQueue(queue, (operation, call) => async (...args) => {
    try {
      return await breaker.execute(() => call(...args));
    } catch (error) {
      if (!(error instanceof BrokenCircuitError)) throw error;
      const retryAfterSeconds = Math.max(1, Math.ceil((openedAt + halfOpenAfterMs - Date.now()) / 1000));
      // Never sent: not ambiguous, even for a submit.
      throw new UpstreamError('unreachable', `fal ${operation}: not attempted, the upstream circuit is open`, { retryAfterSeconds, notSent: true });
    }
  });

  return { ...guarded, circuit: () => STATUS[breaker.state] };
}

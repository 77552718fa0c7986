/**
 * Retry policy for idempotent upstream calls: capped exponential backoff with full jitter, and the
 * upstream's Retry-After when it gives one (capped too). undici's RetryHandler honours Retry-After
 * but adds no jitter, and the poller needs to see each failure, so the loop is ours.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { UpstreamError } from './upstream-queue.ts';

export interface RetryPolicy {
  /** Attempts after the first. */
  maxRetries: number;
  baseDelayMs: number;
  maxDelayMs: number;
}

export const DEFAULT_RETRY: RetryPolicy = { maxRetries: 3, baseDelayMs: 250, maxDelayMs: 10_000 };

export function backoffDelayMs(attempt: number, policy: RetryPolicy, retryAfterSeconds: number | null, random = Math.random): number {
  if (retryAfterSeconds !== null) return Math.min(retryAfterSeconds * 1000, policy.maxDelayMs);
  const ceiling = Math.min(policy.baseDelayMs * 2 ** attempt, policy.maxDelayMs);
  return Math.round(ceiling / 2 + random() * (ceiling / 2));
}

/** Runs `call` until it succeeds, fails for good, or the retries run out. */
export async function withRetry<T>(
  call: () => Promise<T>,
  policy: RetryPolicy,
  options: {
    signal?: AbortSignal;
    /** Which failures to try again; by default every transient one. */
    shouldRetry?: (error: UpstreamError) => boolean;
    onRetry?: (error: UpstreamError, delayMs: number) => void;
  } = {},
): Promise<T> {
  const shouldRetry = options.shouldRetry ?? ((error: UpstreamError) => error.transient);
  for (let attempt = 0; ; attempt++) {
    try {
      return await call();
    } catch (error) {
      if (!(error instanceof UpstreamError) || options.signal?.aborted || !shouldRetry(error) || attempt >= policy.maxRetries) throw error;
      const delayMs = backoffDelayMs(attempt, policy, error.retryAfterSeconds);
      options.onRetry?.(error, delayMs);
      await sleep(delayMs, undefined, { signal: options.signal });
    }
  }
}

/** Retry-After as seconds: delta-seconds or an HTTP date; null when absent or unreadable. */
export function parseRetryAfter(value: string | string[] | undefined, now = Date.now()): number | null {
  const raw = Array.isArray(value) ? value[0] : value;
  if (!raw) return null;
  const seconds = Number(raw);
  if (Number.isFinite(seconds)) return Math.max(0, seconds);
  const date = Date.parse(raw);
  return Number.isNaN(date) ? null : Math.max(0, Math.ceil((date - now) / 1000));
}

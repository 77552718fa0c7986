/**
 * Per-tenant quotas and the global cap, checked before anything reaches the upstream:
 * unfinished jobs per tenant and in total (counted in the store, so every replica sees the same
 * numbers), submissions per minute (rate-limiter-flexible: in memory, or in Redis for replicas),
 * and open subscriptions per tenant (counted per process). A limit of 0 means none.
 */
import type { RateLimiterAbstract } from 'rate-limiter-flexible';
import { RateLimitedError } from '../domain/errors.ts';
import type { Owned } from '../domain/caller.ts';
import type { JobStore } from '../store/job-store.ts';

export interface QuotaLimits {
  activeJobsPerTenant: number;
  submitsPerMinutePerTenant: number;
  subscriptionsPerTenant: number;
  activeJobsTotal: number;
  /** Per signed-in user inside its tenant (0 = none); API keys have no user and count only per tenant. */
  activeJobsPerUser?: number;
  submitsPerMinutePerUser?: number;
}

export type QuotaName =
  | 'active_jobs' | 'submits_per_minute' | 'subscriptions' | 'active_jobs_total' | 'ws_connections' | 'user_active_jobs' | 'user_submits_per_minute';

/** An admitted submission; `refund()` when it was never sent upstream, so it does not count. */
export interface Admission {
  refund(): Promise<void>;
}

export interface Quotas {
  /** For a job just stored (and so counted): throws RateLimitedError when the tenant may not submit it now. */
  admitSubmission(owner: Owned): Promise<Admission>;
  /** Takes one of the tenant's subscription slots, or throws RateLimitedError; call the returned function once to give it back. */
  openSubscription(tenant: string): () => void;
}

export interface QuotaDeps {
  limits: QuotaLimits;
  store: JobStore;
  /** Counts submissions per tenant over 60 s; null when submitsPerMinutePerTenant is 0. */
  submitLimiter: RateLimiterAbstract | null;
  /** Counts submissions per user over 60 s; null when submitsPerMinutePerUser is 0. */
  userSubmitLimiter?: RateLimiterAbstract | null;
  onLimited?: (quota: QuotaName) => void;
}

/** Seconds a client should wait when no better figure is known (a job or a subscription must end first). */
const SLOT_RETRY_SECONDS = 10;

export function createQuotas({ limits, store, submitLimiter, userSubmitLimiter = null, onLimited }: QuotaDeps): Quotas {
  const subscriptions = new Map<string, number>();

  function refuse(quota: QuotaName, message: string, retryAfterSeconds: number): never {
    onLimited?.(quota);
    throw new RateLimitedError(message, retryAfterSeconds);
  }

  async function consume(limiter: RateLimiterAbstract | null, key: string, quota: QuotaName, message: string): Promise<void> {
    if (!limiter) return;
    try {
      await limiter.consume(key, 1);
    } catch (rejection) {
      if (rejection instanceof Error) throw rejection; // the limiter's store failed: not a quota answer
      const waitMs = (rejection as { msBeforeNext?: number }).msBeforeNext ?? 60_000;
      refuse(quota, message, Math.max(1, Math.ceil(waitMs / 1000)));
    }
  }

  return {
    async admitSubmission({ tenant, userId }) {
      if (limits.activeJobsTotal > 0 && (await store.countUnfinished(null, limits.activeJobsTotal + 1)) > limits.activeJobsTotal) {
        refuse('active_jobs_total', 'The gateway is at its limit of unfinished jobs; try again later.', SLOT_RETRY_SECONDS);
      }
      if (limits.activeJobsPerTenant > 0 && (await store.countUnfinished(tenant, limits.activeJobsPerTenant + 1)) > limits.activeJobsPerTenant) {
        refuse('active_jobs', `At most ${limits.activeJobsPerTenant} unfinished jobs per tenant; wait for one to finish.`, SLOT_RETRY_SECONDS);
      }
      const perUser = limits.activeJobsPerUser ?? 0;
      if (userId && perUser > 0 && (await store.countUnfinished(tenant, perUser + 1, userId)) > perUser) {
        refuse('user_active_jobs', `At most ${perUser} unfinished jobs per user; wait for one to finish.`, SLOT_RETRY_SECONDS);
      }
      await consume(submitLimiter, tenant, 'submits_per_minute', `At most ${limits.submitsPerMinutePerTenant} submissions per minute per tenant.`);
      if (userId) {
        await consume(userSubmitLimiter, `${tenant}\u0000${userId}`, 'user_submits_per_minute', `At most ${limits.submitsPerMinutePerUser ?? 0} submissions per minute per user.`);
      }
      let refunded = false;
      return {
        async refund() {
          if (refunded) return;
          refunded = true;
          await submitLimiter?.reward(tenant, 1);
          if (userId) await userSubmitLimiter?.reward(`${tenant}\u0000${userId}`, 1);
        },
      };
    },

    openSubscription(tenant) {
      const open = subscriptions.get(tenant) ?? 0;
      if (limits.subscriptionsPerTenant > 0 && open >= limits.subscriptionsPerTenant) {
        refuse('subscriptions', `At most ${limits.subscriptionsPerTenant} open subscriptions per tenant; close one first.`, SLOT_RETRY_SECONDS);
      }
      subscriptions.set(tenant, open + 1);
      let released = false;
      return () => {
        if (released) return;
        released = true;
        const left = (subscriptions.get(tenant) ?? 1) - 1;
        if (left <= 0) subscriptions.delete(tenant);
        else subscriptions.set(tenant, left);
      };
    },
  };
}

/**
 * Part of the composition root: the state backends chosen by REDIS_URL. Embedded (SQLite, in-memory
 * events, local leases, in-memory rate limits) by default; Redis for replicas (one store, pub/sub
 * across processes, one poller per job by lease, shared rate limits). Only app.ts imports this.
 */
import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import type { Logger } from 'pino';
import { RateLimiterMemory, RateLimiterRedis, type RateLimiterAbstract } from 'rate-limiter-flexible';
import type { Config } from './config.ts';
import type { JobEventTarget } from './pubsub/job-event-target.ts';
import { createMemoryEventTarget, createRedisJobEventTarget } from './pubsub/event-target.ts';
import { createLocalLeases, type JobLeases } from './store/job-leases.ts';
import type { JobStore } from './store/job-store.ts';
import { createRedisJobLeases } from './store/redis-job-leases.ts';
import { createRedisJobStore } from './store/redis-job-store.ts';
import { createSqliteJobStore } from './store/sqlite-job-store.ts';
import { fileChangedReason, missingStoreReason, openedIdentity } from './store/store-file.ts';

export interface Backends {
  kind: 'sqlite' | 'redis';
  store: JobStore;
  eventTarget: JobEventTarget;
  leases: JobLeases;
  submitLimiter: RateLimiterAbstract | null;
  /** Submissions per user per minute (USER_SUBMITS_PER_MINUTE); null when 0. */
  userSubmitLimiter: RateLimiterAbstract | null;
  /** Rejects with a short reason when a backend does not answer. */
  ready(): Promise<void>;
  /** Set when start-up created a new, empty store where jobs were expected (logged at warn). */
  unexpectedEmptyStore: string | null;
  /** Calls back each time pub/sub comes back after an outage (events may have been missed). */
  onResubscribed(callback: () => void): void;
  close(): Promise<void>;
}

export function createBackends(config: Config, logger: Logger): Backends {
  const perMinute = config.quotas.submitsPerMinutePerTenant;
  const perUser = config.quotas.submitsPerMinutePerUser;
  if (!config.redisUrl) {
    const path = config.sqlitePath;
    const missing = missingStoreReason(path);
    const store = createSqliteJobStore({ path });
    const opened = path === ':memory:' ? null : openedIdentity(path);
    if (missing) {
      logger.warn({ path, reason: missing }, 'created a new, empty store where one was expected: earlier jobs and idempotency keys are not here');
    }
    return {
      kind: 'sqlite',
      store,
      eventTarget: createMemoryEventTarget(),
      leases: createLocalLeases(),
      submitLimiter: perMinute > 0 ? new RateLimiterMemory({ points: perMinute, duration: 60 }) : null,
      userSubmitLimiter: perUser > 0 ? new RateLimiterMemory({ points: perUser, duration: 60 }) : null,
      unexpectedEmptyStore: missing,
      async ready() {
        const changed = opened && fileChangedReason(path, opened);
        if (changed) throw new Error(changed);
        await store.ping().catch(() => Promise.reject(new Error('store unavailable')));
      },
      onResubscribed: () => undefined,
      close: () => store.close(),
    };
  }

  const log = logger.child({ component: 'redis' });
  const connect = (role: string) => {
    const client = new Redis(config.redisUrl as string, { connectionName: `fal-gateway-${role}`, maxRetriesPerRequest: null, enableAutoPipelining: true });
    client.on('error', (error: Error) => log.warn({ role, err: error.message }, 'redis connection error'));
    return client;
  };
  const commands = connect('commands');
  const publisher = connect('publish');
  const subscriber = connect('subscribe');
  const prefix = config.redisKeyPrefix;
  const owner = `${hostname()}:${process.pid}:${randomBytes(4).toString('hex')}`;
  const resubscribed: Array<() => void> = [];
  let lostSubscriber = false;
  subscriber.on('close', () => (lostSubscriber = true));
  subscriber.on('ready', () => {
    if (!lostSubscriber) return;
    lostSubscriber = false;
    log.warn('redis pub/sub is back; re-reading every followed job from the store (nothing is lost: state lives in the store)');
    for (const callback of resubscribed) callback();
  });
  const store = createRedisJobStore({ redis: commands, keyPrefix: prefix });
  log.info({ owner, prefix }, 'state in Redis: replicas share jobs, updates and poll leases');
  return {
    kind: 'redis',
    store,
    // Channels carry the prefix too, so gateways sharing a Redis never hear each other.
    eventTarget: prefixTopics(createRedisJobEventTarget(publisher, subscriber), prefix),
    leases: createRedisJobLeases({ redis: commands, keyPrefix: prefix, owner, ttlMs: config.pollLeaseMs }),
    submitLimiter: perMinute > 0 ? new RateLimiterRedis({ storeClient: commands, keyPrefix: `${prefix}rate`, points: perMinute, duration: 60 }) : null,
    userSubmitLimiter: perUser > 0 ? new RateLimiterRedis({ storeClient: commands, keyPrefix: `${prefix}urate`, points: perUser, duration: 60 }) : null,
    async ready() {
      if (subscriber.status !== 'ready') throw new Error(`redis pub/sub ${subscriber.status}`);
      await store.ping().catch(() => Promise.reject(new Error('redis unavailable')));
    },
    unexpectedEmptyStore: null,
    onResubscribed: (callback) => void resubscribed.push(callback),
    async close() {
      await store.close();
      await Promise.allSettled([commands.quit(), publisher.quit(), subscriber.quit()]);
    },
  };
}

function prefixTopics(target: JobEventTarget, prefix: string): JobEventTarget {
  return {
    addEventListener: (type, listener) => target.addEventListener(prefix + type, listener),
    removeEventListener: (type, listener) => target.removeEventListener(prefix + type, listener),
    dispatchEvent: (event) => target.dispatchEvent(new CustomEvent(prefix + event.type, { detail: (event as CustomEvent).detail })),
    listening: (type) => target.listening?.(prefix + type) ?? Promise.resolve(),
  };
}

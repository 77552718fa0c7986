import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRedisJobStore } from '../../src/store/redis-job-store.ts';
import { describeJobStoreContract, makeJob } from '../helpers/job-store-contract.ts';
import { describeJobStoreMoneyContract } from '../helpers/job-store-money-contract.ts';

const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';

let redis: Redis;
beforeAll(() => {
  redis = new Redis(REDIS_URL, { maxRetriesPerRequest: 1 });
});
afterAll(async () => {
  await redis.quit();
});

/** Deletes every key under `prefix` (SCAN, never KEYS). */
async function deletePrefix(client: Redis, prefix: string): Promise<void> {
  let cursor = '0';
  do {
    const [nextCursor, keys] = await client.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 500);
    if (keys.length > 0) await client.del(...keys);
    cursor = nextCursor;
  } while (cursor !== '0');
}

function freshPrefix(): string {
  return `test-${randomUUID()}:`;
}

describeJobStoreContract('redis', async () => {
  const keyPrefix = freshPrefix();
  return { store: createRedisJobStore({ redis, keyPrefix }), cleanup: () => deletePrefix(redis, keyPrefix) };
});

describeJobStoreMoneyContract('redis', async () => {
  const keyPrefix = freshPrefix();
  return { store: createRedisJobStore({ redis, keyPrefix }), cleanup: () => deletePrefix(redis, keyPrefix) };
});

describe('Redis job store', () => {
  it('creates exactly one job when two replicas race on one tenant and key', async () => {
    const keyPrefix = freshPrefix();
    const replicas = [new Redis(REDIS_URL), new Redis(REDIS_URL)];
    try {
      const stores = replicas.map((client) => createRedisJobStore({ redis: client, keyPrefix }));
      const attempts = stores.flatMap((store) => Array.from({ length: 20 }, () => store.create(makeJob({ idempotencyKey: 'race' }))));
      const outcomes = await Promise.all(attempts);
      const created = outcomes.filter((outcome) => outcome.created);
      expect(created).toHaveLength(1);
      const winnerId = created[0]?.job.id;
      expect(new Set(outcomes.map((outcome) => outcome.job.id))).toEqual(new Set([winnerId]));
      expect(await stores[0]?.list({ tenant: 'tenant-a', limit: 100, after: null, status: null })).toHaveLength(1);
    } finally {
      await Promise.all(replicas.map((client) => client.quit()));
      await deletePrefix(redis, keyPrefix);
    }
  });

  it('leaves no index entries behind: terminal jobs leave the unfinished set, deleted jobs leave nothing', async () => {
    const keyPrefix = freshPrefix();
    const store = createRedisJobStore({ redis, keyPrefix });
    try {
      const job = makeJob({ idempotencyKey: 'tidy' });
      await store.create(job);
      expect(await store.update({ ...job, status: 'COMPLETED', version: 2 })).toBe(true);
      expect(await redis.zcard(`${keyPrefix}unfinished`)).toBe(0);
      await store.delete(job.id);
      const [, left] = await redis.scan('0', 'MATCH', `${keyPrefix}*`, 'COUNT', 1000);
      // The event log is not the job's: it keeps its entries until trimmed by time (JOB_EVENTS_RETENTION_MS).
      expect(left.filter((key) => key !== `${keyPrefix}events`)).toEqual([]);
    } finally {
      await deletePrefix(redis, keyPrefix);
    }
  });

  it('keeps the finished set in step and leaves nothing behind after a purge', async () => {
    const keyPrefix = freshPrefix();
    const store = createRedisJobStore({ redis, keyPrefix });
    const finishedKey = `${keyPrefix}finished`;
    try {
      const created = makeJob({ idempotencyKey: 'a', status: 'FAILED', completedAt: '2025-01-01T00:00:01.000Z' });
      const updated = makeJob({ idempotencyKey: 'b', minute: 1 });
      const deleted = makeJob({ minute: 2, status: 'COMPLETED', completedAt: '2025-01-01T00:00:03.000Z' });
      for (const job of [created, updated, deleted]) await store.create(job);
      expect(await redis.zrange(finishedKey, 0, -1, 'WITHSCORES')).toEqual([created.id, String(Date.parse('2025-01-01T00:00:01.000Z')), deleted.id, String(Date.parse('2025-01-01T00:00:03.000Z'))]);
      expect(await store.update({ ...updated, status: 'CANCELLED', completedAt: '2025-01-01T00:00:02.000Z', version: 2 })).toBe(true);
      expect(await redis.zscore(finishedKey, updated.id)).toBe(String(Date.parse('2025-01-01T00:00:02.000Z')));
      await store.delete(deleted.id);
      expect(await redis.zrange(finishedKey, 0, -1)).toEqual([created.id, updated.id]);

      expect(await store.purgeFinished('2030-01-01T00:00:00.000Z', 10)).toEqual([created.id, updated.id]);
      const [, left] = await redis.scan('0', 'MATCH', `${keyPrefix}*`, 'COUNT', 1000);
      // The event log is not the job's: it keeps its entries until trimmed by time (JOB_EVENTS_RETENTION_MS).
      expect(left.filter((key) => key !== `${keyPrefix}events`)).toEqual([]);
    } finally {
      await deletePrefix(redis, keyPrefix);
    }
  });

  it('only drops stray finished-set members: a missing job, or one that is unfinished', async () => {
    const keyPrefix = freshPrefix();
    const store = createRedisJobStore({ redis, keyPrefix });
    const finishedKey = `${keyPrefix}finished`;
    try {
      // As an older replica (without the finished set) could leave it: a member for an unfinished job.
      const queued = makeJob({ idempotencyKey: 'q' });
      const done = makeJob({ minute: 1, status: 'COMPLETED', completedAt: '2025-01-01T00:00:05.000Z' });
      const failed = makeJob({ minute: 2, status: 'FAILED', completedAt: '2025-01-01T00:00:06.000Z' });
      for (const job of [queued, done, failed]) await store.create(job);
      await redis.zadd(finishedKey, 1, queued.id, 2, 'no-such-job');
      // Strays do not count towards the limit: a short batch still means nothing eligible is left.
      expect(await store.purgeFinished('2030-01-01T00:00:00.000Z', 2)).toEqual([done.id, failed.id]);
      expect(await store.get(queued.id)).toEqual(queued);
      expect(await store.listUnfinished()).toEqual([queued]);
      expect(await redis.zcard(finishedKey)).toBe(0);
      expect((await store.create(makeJob({ idempotencyKey: 'q' }))).created).toBe(false);
    } finally {
      await deletePrefix(redis, keyPrefix);
    }
  });

  it('reloads its scripts when Redis has forgotten them', async () => {
    const keyPrefix = freshPrefix();
    const store = createRedisJobStore({ redis, keyPrefix });
    try {
      await redis.script('FLUSH');
      const job = makeJob();
      expect(await store.create(job)).toEqual({ job, created: true });
      expect(await store.list({ tenant: job.tenant, limit: 1, after: null, status: null })).toEqual([job]);
    } finally {
      await deletePrefix(redis, keyPrefix);
    }
  });

  it('leaves the shared connection open on close', async () => {
    const store = createRedisJobStore({ redis, keyPrefix: freshPrefix() });
    await store.close();
    expect(redis.status).toBe('ready');
    await expect(store.ping()).resolves.toBeUndefined();
  });

  it('rejects ping when Redis cannot be reached', async () => {
    const unreachable = new Redis({ port: 1, host: '127.0.0.1', lazyConnect: true, retryStrategy: () => null, maxRetriesPerRequest: 0 });
    unreachable.on('error', () => {});
    try {
      await expect(createRedisJobStore({ redis: unreachable, keyPrefix: freshPrefix() }).ping()).rejects.toThrow();
    } finally {
      unreachable.disconnect();
    }
  });

  it('refuses a client that has its own keyPrefix', () => {
    const prefixed = new Redis({ lazyConnect: true, keyPrefix: 'x:' });
    try {
      expect(() => createRedisJobStore({ redis: prefixed, keyPrefix: 'y:' })).toThrow(/keyPrefix/);
    } finally {
      prefixed.disconnect();
    }
  });
});

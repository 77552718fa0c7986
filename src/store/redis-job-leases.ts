/**
 * Job leases in Redis: `{prefix}lease:{jobId}` holds the owner's id with a TTL. Claim is SET NX PX;
 * renew and release check the owner first (Lua), so a replica never extends or drops another's lease.
 */
import type { Redis } from 'ioredis';
import type { JobLeases } from './job-leases.ts';

const RENEW = `
local held = {}
for i, key in ipairs(KEYS) do
  if redis.call('GET', key) == ARGV[1] then
    redis.call('PEXPIRE', key, ARGV[2])
    held[#held + 1] = i
  end
end
return held`;

const CLAIM = `
local held = {}
for i, key in ipairs(KEYS) do
  if redis.call('SET', key, ARGV[1], 'NX', 'PX', ARGV[2]) or redis.call('GET', key) == ARGV[1] then
    redis.call('PEXPIRE', key, ARGV[2])
    held[#held + 1] = i
  end
end
return held`;

const RELEASE = `
for _, key in ipairs(KEYS) do
  if redis.call('GET', key) == ARGV[1] then redis.call('DEL', key) end
end
return 0`;

export interface RedisJobLeasesOptions {
  redis: Redis;
  keyPrefix: string;
  /** This process's identity, unique among replicas. */
  owner: string;
  ttlMs: number;
}

/** Batches stay small so one script never blocks Redis for long. */
const BATCH = 500;

export function createRedisJobLeases({ redis, keyPrefix, owner, ttlMs }: RedisJobLeasesOptions): JobLeases {
  const keyOf = (id: string) => `${keyPrefix}lease:${id}`;

  async function run(script: string, ids: string[], withTtl: boolean): Promise<string[]> {
    const held: string[] = [];
    for (let start = 0; start < ids.length; start += BATCH) {
      const batch = ids.slice(start, start + BATCH);
      const args = withTtl ? [owner, String(Math.ceil(ttlMs))] : [owner];
      const indexes = (await redis.eval(script, batch.length, ...batch.map(keyOf), ...args)) as number[] | number;
      if (Array.isArray(indexes)) for (const index of indexes) held.push(batch[index - 1] as string);
    }
    return held;
  }

  return {
    shared: true,
    ttlMs,
    claim: (ids) => run(CLAIM, ids, true),
    renew: (ids) => run(RENEW, ids, true),
    async release(ids) {
      await run(RELEASE, ids, false);
    },
  };
}

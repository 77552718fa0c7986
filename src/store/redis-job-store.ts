/**
 * The replica store: jobs in one Redis (a primary, optionally with read replicas; not Redis Cluster,
 * because a job's keys span hash slots). Same semantics as the SQLite store; every write is one Lua
 * script, so it is atomic across processes.
 *
 * Key layout (P = keyPrefix, T = the tenant with '%' and ':' percent-escaped, so no two tenants or
 * (tenant, key) pairs share a key name):
 *   P job:{id}               hash: data (the job JSON), version, status, and the index entries to undo on
 *                            delete: member, idx (the tenant index key), idem (the claim key or '')
 *   P tenant:T               sorted set, every score 0, member `${createdAt}\0${id}`: ZREVRANGEBYLEX lists
 *                            newest first by (createdAt desc, id desc), byte-wise like SQLite's TEXT order
 *   P tenant:T:{status}      the same, per status (kept right by update), so a status filter is one range
 *   P unfinished             the same members, for non-terminal jobs
 *   P finished               sorted set of terminal jobs' ids, score = completedAt in epoch ms (a terminal
 *                            job without a valid completedAt is left out: it is never purged), for retention
 *   P idem:T:{key}           the job id holding that tenant's idempotency key
 * The NUL separator sorts below every other byte, so (createdAt, id) order is exact even for createdAt
 * strings of different lengths (a client-supplied cursor).
 */
import { createHash } from 'node:crypto';
import type { Redis } from 'ioredis';
import { isTerminal, type Job } from '../domain/job.ts';
import { APPEND_EVENT, appendArgs, redisEventLog, redisEventLogKeys } from './redis-job-event-log.ts';
import { completionTime, purgeCutoff, type CreateOutcome, type JobStore, type ListQuery } from './job-store.ts';

export interface RedisJobStoreOptions {
  /** A shared connection: the store never quits it (close() is a no-op), its owner does. */
  redis: Redis;
  /** Prepended to every key, e.g. 'fal-gateway:'. Use this instead of ioredis's own keyPrefix option. */
  keyPrefix: string;
}

// KEYS: job, tenant index, tenant status index, unfinished, finished, [idem claim]. ARGV: data, version,
// status, member, terminal (1/0), id, job key prefix, completion score ('' for none). Returns {1} created,
// {0, existing data}, or {-1} id taken. ARGV 9-11: the event log's append_event arguments (redis-job-event-log.ts).
const CREATE = `${APPEND_EVENT}
if KEYS[6] then
  local existing = redis.call('GET', KEYS[6])
  if existing then return {0, redis.call('HGET', ARGV[7] .. existing, 'data')} end
end
if redis.call('EXISTS', KEYS[1]) == 1 then return {-1} end
redis.call('HSET', KEYS[1], 'data', ARGV[1], 'version', ARGV[2], 'status', ARGV[3], 'member', ARGV[4],
  'idx', KEYS[2], 'idem', KEYS[6] or '')
redis.call('ZADD', KEYS[2], 0, ARGV[4])
redis.call('ZADD', KEYS[3], 0, ARGV[4])
if ARGV[5] == '0' then redis.call('ZADD', KEYS[4], 0, ARGV[4]) end
if ARGV[8] ~= '' then redis.call('ZADD', KEYS[5], ARGV[8], ARGV[6]) end
if KEYS[6] then redis.call('SET', KEYS[6], ARGV[6]) end
append_event(ARGV[9], ARGV[10], ARGV[1], ARGV[11])
return {1}`;

// KEYS: job, unfinished, finished. ARGV: expected version, new version, status, data, terminal (1/0), id,
// completion score ('' for none). Returns 1 or 0. ARGV 8-10: the event log's append_event arguments.
const UPDATE = `${APPEND_EVENT}
local stored = redis.call('HMGET', KEYS[1], 'version', 'status', 'member', 'idx')
if not stored[1] or tonumber(stored[1]) ~= tonumber(ARGV[1]) then return 0 end
if stored[2] ~= ARGV[3] then
  redis.call('ZREM', stored[4] .. ':' .. stored[2], stored[3])
  redis.call('ZADD', stored[4] .. ':' .. ARGV[3], 0, stored[3])
end
if ARGV[5] == '1' then redis.call('ZREM', KEYS[2], stored[3]) else redis.call('ZADD', KEYS[2], 0, stored[3]) end
if ARGV[7] ~= '' then redis.call('ZADD', KEYS[3], ARGV[7], ARGV[6]) else redis.call('ZREM', KEYS[3], ARGV[6]) end
redis.call('HSET', KEYS[1], 'version', ARGV[2], 'status', ARGV[3], 'data', ARGV[4])
append_event(ARGV[8], ARGV[9], ARGV[4], ARGV[10])
return 1`;

// Shared by DELETE and PURGE, so a purged job goes exactly as a deleted one does: the job hash, its
// tenant and status index entries, the unfinished and finished sets, and its idempotency claim (only
// while the claim still names this job). Returns 1, or 0 when the job was not there. The event log gets a
// deletion entry (the job's last state) in the same script: DELETE's ARGV 2-3, PURGE's ARGV 4-5 name it.
const REMOVE_JOB = `${APPEND_EVENT}
local function remove_job(job_key, unfinished_key, finished_key, id, stream, trimmed)
  redis.call('ZREM', finished_key, id)
  local stored = redis.call('HMGET', job_key, 'status', 'member', 'idx', 'idem')
  if not stored[2] then return 0 end
  redis.call('ZREM', stored[3], stored[2])
  redis.call('ZREM', stored[3] .. ':' .. stored[1], stored[2])
  redis.call('ZREM', unfinished_key, stored[2])
  if stored[4] ~= '' and redis.call('GET', stored[4]) == id then redis.call('DEL', stored[4]) end
  append_event(stream, trimmed, redis.call('HGET', job_key, 'data'), nil, true)
  redis.call('DEL', job_key)
  return 1
end
`;

// KEYS: job, unfinished, finished. ARGV: id.
const DELETE = `${REMOVE_JOB}
return remove_job(KEYS[1], KEYS[2], KEYS[3], ARGV[1], ARGV[2], ARGV[3])`;

// KEYS: finished, unfinished. ARGV: job key prefix, cutoff (epoch ms, exclusive), limit (> 0). Returns the
// ids deleted, oldest first (score, then id). A member whose job is gone or, against the invariant, still
// unfinished is only dropped from the finished set (an unfinished job is never deleted) and does not count
// towards the limit: fewer than `limit` ids back means nothing eligible is left. Every member looked at
// leaves the set, so the loop ends.
const PURGE = `${REMOVE_JOB}
local limit = tonumber(ARGV[3])
local out = {}
while #out < limit do
  local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', '(' .. ARGV[2], 'LIMIT', 0, limit - #out)
  if #ids == 0 then break end
  for _, id in ipairs(ids) do
    local job_key = ARGV[1] .. id
    local member = redis.call('HGET', job_key, 'member')
    if member and redis.call('ZSCORE', KEYS[2], member) then
      redis.call('ZREM', KEYS[1], id)
    elseif remove_job(job_key, KEYS[2], KEYS[1], id, ARGV[4], ARGV[5]) == 1 then
      out[#out + 1] = id
    end
  end
end
return out`;

// KEYS: index. ARGV: job key prefix, upper bound ('+' or '(' .. member), limit. Returns the jobs' data.
const LIST = `
local members = redis.call('ZREVRANGEBYLEX', KEYS[1], ARGV[2], '-', 'LIMIT', 0, tonumber(ARGV[3]))
local out = {}
for i, member in ipairs(members) do
  local id = string.sub(member, string.find(member, '\\0', 1, true) + 1)
  out[i] = redis.call('HGET', ARGV[1] .. id, 'data')
end
return out`;

/**
 * Jobs in Redis, for several replicas sharing one store.
 *
 * Atomic (one Lua script each, so never half-applied and never interleaved with another replica):
 * `create` including the idempotency claim (N concurrent creates with one tenant+key: exactly one
 * `created: true`), `update`'s compare-and-set on version with its index moves, `delete` with its
 * indexes and claim, `purgeFinished` (one script: picks and deletes its whole batch), and each `list`
 * page (a consistent snapshot of that page).
 * Not atomic: `listUnfinished` (a range, then the jobs; a job finished or deleted meanwhile is left
 * out) and anything across calls (pages of one listing may see changes made between them).
 */
export function createRedisJobStore({ redis, keyPrefix }: RedisJobStoreOptions): JobStore {
  // Key names built inside the scripts would miss ioredis's own prefix; refuse rather than mix both.
  if (redis.options.keyPrefix) throw new Error('createRedisJobStore: pass keyPrefix to the store, not to the ioredis client');

  const escape = (tenant: string) => tenant.replaceAll('%', '%25').replaceAll(':', '%3A');
  const jobPrefix = `${keyPrefix}job:`;
  const unfinishedKey = `${keyPrefix}unfinished`;
  const finishedKey = `${keyPrefix}finished`;
  const tenantKey = (tenant: string) => `${keyPrefix}tenant:${escape(tenant)}`;
  const member = (createdAt: string, id: string) => `${createdAt}\0${id}`;
  const parse = (data: unknown): Job | null => (typeof data === 'string' ? (JSON.parse(data) as Job) : null);

  /** EVALSHA, falling back to EVAL (which caches the script) when the server does not know it yet. */
  function script(source: string) {
    const sha = createHash('sha1').update(source).digest('hex');
    return async (keys: string[], args: (string | number)[]): Promise<unknown> => {
      try {
        return await redis.evalsha(sha, keys.length, ...keys, ...args);
      } catch (error) {
        if (!(error instanceof Error) || !error.message.startsWith('NOSCRIPT')) throw error;
        return redis.eval(source, keys.length, ...keys, ...args);
      }
    };
  }
  const scripts = { create: script(CREATE), update: script(UPDATE), remove: script(DELETE), purge: script(PURGE), list: script(LIST) };
  /** The job's score in the finished set, or '' when it does not belong there. */
  const finishedScore = (job: Job): number | '' => completionTime(job) ?? '';
  const eventKeys = redisEventLogKeys(keyPrefix);

  return {
    ...redisEventLog(eventKeys, script),

    async create(job: Job): Promise<CreateOutcome> {
      const keys = [`${jobPrefix}${job.id}`, tenantKey(job.tenant), `${tenantKey(job.tenant)}:${job.status}`, unfinishedKey, finishedKey];
      if (job.idempotencyKey !== null) keys.push(`${keyPrefix}idem:${escape(job.tenant)}:${job.idempotencyKey}`);
      const terminal = isTerminal(job.status) ? 1 : 0;
      const args = [JSON.stringify(job), job.version, job.status, member(job.createdAt, job.id), terminal, job.id, jobPrefix, finishedScore(job)];
      args.push(...appendArgs(eventKeys, job));
      const [outcome, existing] = (await scripts.create(keys, args)) as [number, string?];
      if (outcome === 1) return { job, created: true };
      if (outcome === 0) return { job: parse(existing) as Job, created: false };
      throw new Error(`job ${job.id} already exists`);
    },

    async get(id: string) {
      return parse(await redis.hget(`${jobPrefix}${id}`, 'data'));
    },

    async update(job: Job) {
      const terminal = isTerminal(job.status) ? 1 : 0;
      const args = [job.version - 1, job.version, job.status, JSON.stringify(job), terminal, job.id, finishedScore(job)];
      args.push(...appendArgs(eventKeys, job));
      return (await scripts.update([`${jobPrefix}${job.id}`, unfinishedKey, finishedKey], args)) === 1;
    },

    async list(query: ListQuery) {
      const index = query.status ? `${tenantKey(query.tenant)}:${query.status}` : tenantKey(query.tenant);
      const upper = query.after ? `(${member(query.after.createdAt, query.after.id)}` : '+';
      const rows = (await scripts.list([index], [jobPrefix, upper, query.limit])) as string[];
      return rows.map((data) => parse(data) as Job);
    },

    async listUnfinished() {
      const members = await redis.zrange(unfinishedKey, 0, -1);
      if (members.length === 0) return [];
      const ids = members.map((m) => m.slice(m.indexOf('\0') + 1));
      const replies = (await redis.pipeline(ids.map((id) => ['hget', `${jobPrefix}${id}`, 'data'])).exec()) ?? [];
      const jobs: Job[] = [];
      for (const [error, data] of replies) {
        if (error) throw error;
        const job = parse(data);
        if (job && !isTerminal(job.status)) jobs.push(job);
      }
      return jobs;
    },

    async countUnfinished(tenant: string | null, upTo?: number) {
      // Both sets share members (createdAt \0 id), so their intersection is the tenant's unfinished jobs.
      if (tenant === null) {
        const count = await redis.zcard(unfinishedKey);
        return upTo === undefined ? count : Math.min(count, upTo);
      }
      const limit = upTo === undefined ? [] : ['LIMIT', String(Math.max(0, upTo))];
      return Number(await redis.call('ZINTERCARD', '2', unfinishedKey, tenantKey(tenant), ...limit));
    },

    async delete(id: string) {
      await scripts.remove([`${jobPrefix}${id}`, unfinishedKey, finishedKey], [id, eventKeys.stream, eventKeys.trimmed]);
    },

    async purgeFinished(completedBefore: string, limit: number) {
      const cutoff = purgeCutoff(completedBefore, limit);
      if (limit === 0) return [];
      return (await scripts.purge([finishedKey, unfinishedKey], [jobPrefix, cutoff, limit, eventKeys.stream, eventKeys.trimmed])) as string[];
    },

    async ping() {
      // 'wait' is a lazyConnect client not yet connected: PING connects it. Otherwise anything but
      // 'ready' means down or reconnecting, and a PING would only sit in the offline queue.
      if (redis.status !== 'ready' && redis.status !== 'wait') throw new Error(`redis is ${redis.status}`);
      await redis.ping();
    },

    /** A no-op: the connection is shared and belongs to whoever created it. */
    async close() {},
  };
}

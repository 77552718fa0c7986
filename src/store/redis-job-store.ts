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
 *   P idem:T:{key}           the job id holding that tenant's idempotency key (API keys: no user)
 *   P uidem:T:U:{key}        the same for one user U of the tenant (percent-escaped like T)
 *   P user:T:U[:{status}]    like tenant:T[:{status}], for one user's jobs
 *   P tspend:T:{day}         the tenant's spend that UTC day (nano-dollars, sum of chargeOf), moved by
 *   P uspend:T:U:{day}       create, update and delete in their scripts; the user's likewise; 3-day TTL
 * The NUL separator sorts below every other byte, so (createdAt, id) order is exact even for createdAt
 * strings of different lengths (a client-supplied cursor).
 */
import { createHash } from 'node:crypto';
import type { Redis } from 'ioredis';
import { isTerminal, type Job, type JobStatus } from '../domain/job.ts';
import { chargeOf, dayOf } from '../domain/money.ts';
import { APPEND_EVENT, appendArgs, redisEventLog, redisEventLogKeys } from './redis-job-event-log.ts';
import {
  completionTime, purgeCutoff, type CreateOutcome, type DailyBudget, type JobStore, type ListQuery, type UsageQuery, type UsageTotals,
} from './job-store.ts';

/** How long a readiness PING may take before Redis counts as down. */
const PING_TIMEOUT_MS = 2_000;

export interface RedisJobStoreOptions {
  /** A shared connection: the store never quits it (close() is a no-op), its owner does. */
  redis: Redis;
  /** Prepended to every key, e.g. 'fal-gateway:'. Use this instead of ioredis's own keyPrefix option. */
  keyPrefix: string;
}

// KEYS: job, tenant index, tenant status index, unfinished, finished, idem claim, user index, tenant
// spend, user spend. ARGV: data, version, status, member, terminal (1/0), id, job key prefix, completion
// score ('' for none), has user (1/0), has idem (1/0), charge, tenant budget, user budget (0 = none).
// ARGV 14-16: the event log's append_event arguments (redis-job-event-log.ts).
// Returns {1} created, {0, existing data}, {-1} id taken, or {-2, 'tenant' | 'user'} over budget.
const CREATE = `${APPEND_EVENT}
local has_user, has_idem = ARGV[9] == '1', ARGV[10] == '1'
if has_idem then
  local existing = redis.call('GET', KEYS[6])
  if existing then return {0, redis.call('HGET', ARGV[7] .. existing, 'data')} end
end
if redis.call('EXISTS', KEYS[1]) == 1 then return {-1} end
local charge = tonumber(ARGV[11])
if charge > 0 then
  local tenant_budget, user_budget = tonumber(ARGV[12]), tonumber(ARGV[13])
  if tenant_budget > 0 and tonumber(redis.call('GET', KEYS[8]) or '0') + charge > tenant_budget then return {-2, 'tenant'} end
  if has_user and user_budget > 0 and tonumber(redis.call('GET', KEYS[9]) or '0') + charge > user_budget then return {-2, 'user'} end
end
local uidx = has_user and KEYS[7] or ''
redis.call('HSET', KEYS[1], 'data', ARGV[1], 'version', ARGV[2], 'status', ARGV[3], 'member', ARGV[4],
  'idx', KEYS[2], 'idem', has_idem and KEYS[6] or '', 'uidx', uidx, 'charge', ARGV[11],
  'spend', KEYS[8], 'uspend', has_user and KEYS[9] or '')
redis.call('ZADD', KEYS[2], 0, ARGV[4])
redis.call('ZADD', KEYS[3], 0, ARGV[4])
if has_user then
  redis.call('ZADD', uidx, 0, ARGV[4])
  redis.call('ZADD', uidx .. ':' .. ARGV[3], 0, ARGV[4])
end
if ARGV[5] == '0' then redis.call('ZADD', KEYS[4], 0, ARGV[4]) end
if ARGV[8] ~= '' then redis.call('ZADD', KEYS[5], ARGV[8], ARGV[6]) end
if has_idem then redis.call('SET', KEYS[6], ARGV[6]) end
if charge ~= 0 then
  redis.call('INCRBY', KEYS[8], ARGV[11])
  redis.call('EXPIRE', KEYS[8], 259200)
  if has_user then
    redis.call('INCRBY', KEYS[9], ARGV[11])
    redis.call('EXPIRE', KEYS[9], 259200)
  end
end
append_event(ARGV[14], ARGV[15], ARGV[1], ARGV[16])
return {1}`;

// Moves a job's day counters by delta (a number): the job hash names its counters.
const MOVE_SPEND = `
local function move_spend(tenant_key, user_key, delta)
  if delta == 0 then return end
  local text = string.format('%d', delta)
  if tenant_key and tenant_key ~= '' then redis.call('INCRBY', tenant_key, text) end
  if user_key and user_key ~= '' then redis.call('INCRBY', user_key, text) end
end
`;

// KEYS: job, unfinished, finished. ARGV: expected version, new version, status, data, terminal (1/0), id,
// completion score ('' for none), charge. Returns 1 or 0. ARGV 9-11: the event log's append_event arguments.
const UPDATE = `${APPEND_EVENT}${MOVE_SPEND}
local stored = redis.call('HMGET', KEYS[1], 'version', 'status', 'member', 'idx', 'uidx', 'charge', 'spend', 'uspend')
if not stored[1] or tonumber(stored[1]) ~= tonumber(ARGV[1]) then return 0 end
if stored[2] ~= ARGV[3] then
  redis.call('ZREM', stored[4] .. ':' .. stored[2], stored[3])
  redis.call('ZADD', stored[4] .. ':' .. ARGV[3], 0, stored[3])
  if stored[5] and stored[5] ~= '' then
    redis.call('ZREM', stored[5] .. ':' .. stored[2], stored[3])
    redis.call('ZADD', stored[5] .. ':' .. ARGV[3], 0, stored[3])
  end
end
if ARGV[5] == '1' then redis.call('ZREM', KEYS[2], stored[3]) else redis.call('ZADD', KEYS[2], 0, stored[3]) end
if ARGV[7] ~= '' then redis.call('ZADD', KEYS[3], ARGV[7], ARGV[6]) else redis.call('ZREM', KEYS[3], ARGV[6]) end
move_spend(stored[7], stored[8], tonumber(ARGV[8]) - tonumber(stored[6] or '0'))
redis.call('HSET', KEYS[1], 'version', ARGV[2], 'status', ARGV[3], 'data', ARGV[4], 'charge', ARGV[8])
append_event(ARGV[9], ARGV[10], ARGV[4], ARGV[11])
return 1`;

// Shared by DELETE and PURGE, so a purged job goes exactly as a deleted one does: the job hash, its
// tenant and status index entries, the unfinished and finished sets, and its idempotency claim (only
// while the claim still names this job). Returns 1, or 0 when the job was not there. The event log gets a
// deletion entry (the job's last state) in the same script: DELETE's ARGV 2-3, PURGE's ARGV 4-5 name it.
const REMOVE_JOB = `${APPEND_EVENT}
local function remove_job(job_key, unfinished_key, finished_key, id, stream, trimmed)
  redis.call('ZREM', finished_key, id)
  local stored = redis.call('HMGET', job_key, 'status', 'member', 'idx', 'idem', 'uidx')
  if not stored[2] then return 0 end
  redis.call('ZREM', stored[3], stored[2])
  redis.call('ZREM', stored[3] .. ':' .. stored[1], stored[2])
  if stored[5] and stored[5] ~= '' then
    redis.call('ZREM', stored[5], stored[2])
    redis.call('ZREM', stored[5] .. ':' .. stored[1], stored[2])
  end
  redis.call('ZREM', unfinished_key, stored[2])
  if stored[4] ~= '' and redis.call('GET', stored[4]) == id then redis.call('DEL', stored[4]) end
  append_event(stream, trimmed, redis.call('HGET', job_key, 'data'), nil, true)
  redis.call('DEL', job_key)
  return 1
end
`;

// KEYS: job, unfinished, finished. ARGV: id. A deleted job gives its charge back (a purged one does not:
// its spend happened).
const DELETE = `${REMOVE_JOB}${MOVE_SPEND}
local spend = redis.call('HMGET', KEYS[1], 'charge', 'spend', 'uspend')
move_spend(spend[2], spend[3], -tonumber(spend[1] or '0'))
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

// KEYS: index. ARGV: job key prefix, min ('[' .. from), max ('(' .. to). Returns {status, count, spent, ...}.
const USAGE = `
local members = redis.call('ZRANGEBYLEX', KEYS[1], ARGV[2], ARGV[3])
local counts, spent = {}, {}
for _, member in ipairs(members) do
  local id = string.sub(member, string.find(member, '\\0', 1, true) + 1)
  local job = redis.call('HMGET', ARGV[1] .. id, 'status', 'charge')
  if job[1] then
    counts[job[1]] = (counts[job[1]] or 0) + 1
    spent[job[1]] = (spent[job[1]] or 0) + tonumber(job[2] or '0')
  end
end
local out = {}
for status, n in pairs(counts) do
  out[#out + 1] = status
  out[#out + 1] = n
  out[#out + 1] = string.format('%d', spent[status])
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
  const scripts = { create: script(CREATE), update: script(UPDATE), remove: script(DELETE), purge: script(PURGE), list: script(LIST), usage: script(USAGE) };
  const userKey = (tenant: string, userId: string) => `${keyPrefix}user:${escape(tenant)}:${escape(userId)}`;
  const tenantSpendKey = (tenant: string, day: string) => `${keyPrefix}tspend:${escape(tenant)}:${day}`;
  const userSpendKey = (tenant: string, userId: string, day: string) => `${keyPrefix}uspend:${escape(tenant)}:${escape(userId)}:${day}`;
  /** Idempotency claims are per (tenant, user, key); API keys (no user) keep the first release's key names. */
  const idemKey = (job: Job) =>
    job.userId ? `${keyPrefix}uidem:${escape(job.tenant)}:${escape(job.userId)}:${job.idempotencyKey}` : `${keyPrefix}idem:${escape(job.tenant)}:${job.idempotencyKey}`;
  /** The job's score in the finished set, or '' when it does not belong there. */
  const finishedScore = (job: Job): number | '' => completionTime(job) ?? '';
  const eventKeys = redisEventLogKeys(keyPrefix);

  return {
    ...redisEventLog(eventKeys, script),

    async create(job: Job, budget?: DailyBudget): Promise<CreateOutcome> {
      const day = dayOf(job.createdAt);
      const user = job.userId ?? '';
      const keys = [
        `${jobPrefix}${job.id}`, tenantKey(job.tenant), `${tenantKey(job.tenant)}:${job.status}`, unfinishedKey, finishedKey,
        job.idempotencyKey === null ? `${keyPrefix}idem:-` : idemKey(job),
        user ? userKey(job.tenant, user) : `${keyPrefix}user:-`,
        tenantSpendKey(job.tenant, day),
        user ? userSpendKey(job.tenant, user, day) : `${keyPrefix}uspend:-`,
      ];
      const terminal = isTerminal(job.status) ? 1 : 0;
      const args = [
        JSON.stringify(job), job.version, job.status, member(job.createdAt, job.id), terminal, job.id, jobPrefix, finishedScore(job),
        user ? 1 : 0, job.idempotencyKey === null ? 0 : 1, chargeOf(job), budget?.tenantNanos ?? 0, budget?.userNanos ?? 0,
        ...appendArgs(eventKeys, job),
      ];
      const [outcome, existing] = (await scripts.create(keys, args)) as [number, string?];
      if (outcome === 1) return { job, created: true };
      if (outcome === 0) return { job: parse(existing) as Job, created: false };
      if (outcome === -2) return { job, created: false, overBudget: existing === 'user' ? 'user' : 'tenant' };
      throw new Error(`job ${job.id} already exists`);
    },

    async get(id: string) {
      return parse(await redis.hget(`${jobPrefix}${id}`, 'data'));
    },

    async update(job: Job) {
      const terminal = isTerminal(job.status) ? 1 : 0;
      const args = [job.version - 1, job.version, job.status, JSON.stringify(job), terminal, job.id, finishedScore(job), chargeOf(job)];
      args.push(...appendArgs(eventKeys, job));
      return (await scripts.update([`${jobPrefix}${job.id}`, unfinishedKey, finishedKey], args)) === 1;
    },

    async list(query: ListQuery) {
      const base = query.userId ? userKey(query.tenant, query.userId) : tenantKey(query.tenant);
      const index = query.status ? `${base}:${query.status}` : base;
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

    async countUnfinished(tenant: string | null, upTo?: number, userId?: string | null) {
      // Both sets share members (createdAt \0 id), so their intersection is the tenant's unfinished jobs.
      if (tenant === null) {
        const count = await redis.zcard(unfinishedKey);
        return upTo === undefined ? count : Math.min(count, upTo);
      }
      const limit = upTo === undefined ? [] : ['LIMIT', String(Math.max(0, upTo))];
      const index = userId ? userKey(tenant, userId) : tenantKey(tenant);
      return Number(await redis.call('ZINTERCARD', '2', unfinishedKey, index, ...limit));
    },

    async usage(query: UsageQuery) {
      const index = query.userId ? userKey(query.tenant, query.userId) : tenantKey(query.tenant);
      const flat = (await scripts.usage([index], [jobPrefix, `[${query.from}`, `(${query.to}`])) as (string | number)[];
      const totals: UsageTotals = { spentNanos: 0, jobs: 0, byStatus: {} };
      for (let i = 0; i + 2 < flat.length; i += 3) {
        const n = Number(flat[i + 1]);
        totals.byStatus[flat[i] as JobStatus] = n;
        totals.jobs += n;
        totals.spentNanos += Number(flat[i + 2]);
      }
      return totals;
    },

    async spentOn(day: string, tenant: string, userId?: string | null) {
      return Number((await redis.get(userId ? userSpendKey(tenant, userId, day) : tenantSpendKey(tenant, day))) ?? 0);
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
      // Bounded: a PING sent as the server goes away is kept for the reconnection (maxRetriesPerRequest
      // null), and /readyz would hang until Redis is back instead of saying it is down.
      let timer: NodeJS.Timeout | undefined;
      const late = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`redis did not answer PING within ${PING_TIMEOUT_MS} ms`)), PING_TIMEOUT_MS);
      });
      try {
        await Promise.race([redis.ping(), late]);
      } finally {
        clearTimeout(timer);
      }
    },

    /** A no-op: the connection is shared and belongs to whoever created it. */
    async close() {},
  };
}

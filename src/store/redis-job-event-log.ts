/**
 * The Redis store's event log (job-event-log.ts): one stream, `P events`, appended by the store's
 * CREATE and UPDATE scripts themselves (APPEND_EVENT below), so an entry and its change are one atomic
 * step on every replica. Entry ids are `<ms>-<n>` with ms the job's updatedAt (raised to the last id's
 * ms when a replica's clock is behind, so ids only grow); a sequence is the stream id. `P events:trimmed`
 * holds the last id trimmed away, so an emptied stream still knows where it stands.
 */
import { eventTime, type JobEventLog, type StoredJobEvent } from './job-event-log.ts';
import type { Job } from '../domain/job.ts';

/**
 * Lua, prepended to the CREATE, UPDATE, DELETE and PURGE scripts: append_event(stream key, trimmed key,
 * job data, at ms, deleted). A deletion passes at = nil: the server's clock.
 */
export const APPEND_EVENT = `
local function append_event(stream, trimmed, data, at, deleted)
  local ms = tonumber(at)
  if not ms then
    local now = redis.call('TIME')
    ms = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000)
  end
  local last = redis.call('XREVRANGE', stream, '+', '-', 'COUNT', 1)[1]
  local top = last and last[1] or redis.call('GET', trimmed)
  if top then
    local top_ms = tonumber(string.match(top, '^(%d+)'))
    if top_ms > ms then ms = top_ms end
  end
  if deleted then
    redis.call('XADD', stream, string.format('%.0f', ms) .. '-*', 'job', data, 'deleted', '1')
  else
    redis.call('XADD', stream, string.format('%.0f', ms) .. '-*', 'job', data)
  end
end
`;

const IDS = `
local function parse(id)
  local ms, n = string.match(id or '', '^(%d+)%-(%d+)$')
  if not ms then return nil end
  return { tonumber(ms), tonumber(n) }
end
local function less(a, b) return a[1] < b[1] or (a[1] == b[1] and a[2] < b[2]) end
local function head(stream, trimmed)
  local last = redis.call('XREVRANGE', stream, '+', '-', 'COUNT', 1)[1]
  return last and last[1] or redis.call('GET', trimmed) or '0-0'
end
`;

// KEYS: stream, trimmed. ARGV: after, limit. Returns the entries, or nil when `after` is not continuable.
const AFTER = `${IDS}
local after = parse(ARGV[1])
if not after then return false end
if less(after, parse(redis.call('GET', KEYS[2]) or '0-0')) then return false end
if less(parse(head(KEYS[1], KEYS[2])), after) then return false end
return redis.call('XRANGE', KEYS[1], '(' .. ARGV[1], '+', 'COUNT', tonumber(ARGV[2]))`;

// KEYS: stream, trimmed.
const HEAD = `${IDS}
return head(KEYS[1], KEYS[2])`;

// KEYS: stream, trimmed. ARGV: cutoff ms. Removes every entry with id < cutoff-0, remembering the last one.
const TRIM = `
local last = redis.call('XREVRANGE', KEYS[1], '(' .. ARGV[1] .. '-0', '-', 'COUNT', 1)[1]
if not last then return 0 end
redis.call('SET', KEYS[2], last[1])
return redis.call('XTRIM', KEYS[1], 'MINID', ARGV[1] .. '-0')`;

type Script = (keys: string[], args: (string | number)[]) => Promise<unknown>;

export interface RedisEventLogKeys {
  stream: string;
  trimmed: string;
}

export function redisEventLogKeys(keyPrefix: string): RedisEventLogKeys {
  return { stream: `${keyPrefix}events`, trimmed: `${keyPrefix}events:trimmed` };
}

/** The arguments APPEND_EVENT takes after the job data: stream key, trimmed key, at. */
export function appendArgs(keys: RedisEventLogKeys, job: Job): [string, string, number] {
  return [keys.stream, keys.trimmed, eventTime(job)];
}

/** The log's reads and trim; `script` turns Lua source into a callable (the store's EVALSHA helper). */
export function redisEventLog(keys: RedisEventLogKeys, script: (source: string) => Script): JobEventLog {
  const scripts = { after: script(AFTER), head: script(HEAD), trim: script(TRIM) };
  const both = [keys.stream, keys.trimmed];
  return {
    async eventsAfter(after, limit) {
      const entries = (await scripts.after(both, [after, limit])) as [string, string[]][] | null;
      if (!entries) return null;
      return entries.map(([seq, fields]) => ({ seq, job: JSON.parse(fields[1] as string) as Job, deleted: fields[3] === '1' }) satisfies StoredJobEvent);
    },
    async lastEventSeq() {
      return (await scripts.head(both, [])) as string;
    },
    async trimEvents(before) {
      const cutoff = Date.parse(before);
      if (Number.isNaN(cutoff)) throw new RangeError(`trimEvents: before is not a date: ${JSON.stringify(before)}`);
      return Number(await scripts.trim(both, [Math.max(0, cutoff)]));
    },
  };
}

/**
 * Where job events travel: in memory for one process, or through Redis pub/sub
 * (@graphql-yoga/redis-event-target) so that every replica sees every job's changes.
 */
import { createRedisEventTarget } from '@graphql-yoga/redis-event-target';
import type { Redis } from 'ioredis';
import type { JobEventTarget } from '../jobs/events.ts';

export function createMemoryEventTarget(): JobEventTarget {
  const target = new EventTarget();
  return target;
}

export function createRedisJobEventTarget(publishClient: Redis, subscribeClient: Redis): JobEventTarget {
  return createRedisEventTarget({ publishClient, subscribeClient }) as unknown as JobEventTarget;
}

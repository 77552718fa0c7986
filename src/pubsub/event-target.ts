/**
 * Where job events travel: in memory for one process, or through Redis pub/sub
 * (@graphql-yoga/redis-event-target) so that every replica sees every job's changes.
 */
import { setMaxListeners } from 'node:events';
import { createRedisEventTarget } from '@graphql-yoga/redis-event-target';
import type { Redis } from 'ioredis';
import type { JobEventTarget } from './job-event-target.ts';

export function createMemoryEventTarget(): JobEventTarget {
  const target = new EventTarget();
  // One listener per follower of a job (each SSE subscriber, each WebSocket cohort): many on a popular
  // job is normal, and TENANT_MAX_SUBSCRIPTIONS bounds them; Node's leak heuristic (warn past 10) does not apply.
  setMaxListeners(0, target);
  return target;
}

export function createRedisJobEventTarget(publishClient: Redis, subscribeClient: Redis): JobEventTarget {
  // The event target fires (un)subscribe and publish without awaiting them: a listener let go while the
  // gateway shuts down would leave an unhandled "Connection is closed". State lives in the store, and a
  // lost message is healed by the resync and the event log, so these failures are dropped here.
  const quiet = () => undefined;
  const target = createRedisEventTarget({
    publishClient: { publish: (channel: string, message: string) => publishClient.publish(channel, message).catch(quiet) } as unknown as Redis,
    subscribeClient: {
      on: subscribeClient.on.bind(subscribeClient),
      subscribe: (channel: string) => subscribeClient.subscribe(channel).catch(quiet),
      unsubscribe: (channel: string) => subscribeClient.unsubscribe(channel).catch(quiet),
    } as unknown as Redis,
  }) as unknown as JobEventTarget;
  // The event target subscribes without telling when Redis acknowledged it. SUBSCRIBE is idempotent
  // and commands on one connection are answered in order: when ours is answered, so was its.
  target.listening = async (type) => {
    await subscribeClient.subscribe(type);
  };
  return target;
}

/**
 * The README's urql example, for real: a client that follows jobEvents, keeps its last cursor, and
 * after the socket drops (here: the gateway restarts on the same port and SQLite file) subscribes again
 * with that cursor. It sees the job's whole life, in order, with nothing twice.
 */
import { freePort } from '../helpers/gateway-process.ts';
import { Client, fetchExchange, subscriptionExchange } from '@urql/core';
import { createClient as createWsClient } from 'graphql-ws';
import WebSocket from 'ws';
import { expect, it } from 'vitest';
import { startSimulator, startTestGateway, submitJob, tempSqlitePath } from '../helpers/start-gateway.ts';
import { waitFor } from '../helpers/wait-for.ts';

const EVENTS = `subscription Events($after: String) {
  jobEvents(after: $after) { cursor job { id status queuePosition video { url } } }
}`;

type JobEvent = { cursor: string; job: { id: string; status: string } };

/** As in the README: follow jobEvents from `cursor`, and on any drop subscribe again from the last one. */
function followJobEvents(httpUrl: string, onEvent: (event: JobEvent) => void) {
  const ws = createWsClient({ url: httpUrl.replace(/^http/, 'ws'), webSocketImpl: WebSocket, retryAttempts: 0, lazy: true });
  const client = new Client({
    url: httpUrl,
    exchanges: [
      subscriptionExchange({ forwardSubscription: (request) => ({ subscribe: (sink) => ({ unsubscribe: ws.subscribe({ ...request, query: request.query ?? '' }, sink) }) }) }),
      fetchExchange,
    ],
  });
  let cursor: string | null = null;
  let stopped = false;
  let current: { unsubscribe(): void } | null = null;
  const follow = () => {
    current = client.subscription<{ jobEvents: JobEvent }>(EVENTS, { after: cursor }).subscribe((result) => {
      if (result.data) {
        cursor = result.data.jobEvents.cursor;
        onEvent(result.data.jobEvents);
      }
      if (result.error) {
        if (result.error.graphQLErrors.some((e) => e.extensions?.code === 'CURSOR_EXPIRED')) cursor = null; // re-read jobs, then live
        current?.unsubscribe();
        if (!stopped) setTimeout(follow, 200); // the socket dropped: again, from the last cursor
      }
    });
  };
  follow();
  return {
    stop() {
      stopped = true;
      current?.unsubscribe();
      void ws.dispose();
    },
  };
}

it('an urql client resumes from its last cursor after the gateway restarts: the whole job, once each', { timeout: 60_000 }, async () => {
  const simulator = await startSimulator({ timing: { initialQueuePosition: 3, queueStepMs: 300, runMs: 1200, logEveryMs: 150, logWindowMs: 450 } });
  const env = { PORT: String(await freePort()) };
  const sqlitePath = tempSqlitePath();
  const first = await startTestGateway({ sharedSimulator: simulator, sqlitePath, env });
  const events: JobEvent[] = [];
  const follower = followJobEvents(first.httpUrl, (event) => events.push(event));
  // The subscription is live once a first job shows up on it.
  const job = await submitJob(first);
  await waitFor(() => events.some((e) => e.job.id === job.id), { message: 'the first event over urql' });
  await first.dispose(); // the socket drops mid-job
  const second = await startTestGateway({ sharedSimulator: simulator, sqlitePath, env });
  await waitFor(() => events.some((e) => e.job.id === job.id && e.job.status === 'COMPLETED'), { timeoutMs: 30_000, message: 'COMPLETED after the restart' });
  follower.stop();
  const cursors = events.map((e) => e.cursor);
  expect(new Set(cursors).size).toBe(cursors.length);
  const statuses = events.filter((e) => e.job.id === job.id).map((e) => e.job.status);
  expect(statuses[0]).toBe('IN_QUEUE');
  expect(statuses).toContain('IN_PROGRESS');
  expect(statuses.at(-1)).toBe('COMPLETED');
  await second.dispose();
});

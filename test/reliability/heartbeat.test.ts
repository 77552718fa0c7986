/**
 * A quiet subscription (no change for longer than the server's request timeout and several
 * heartbeat intervals) stays open on both transports, kept alive by heartbeats (WebSocket pings, SSE
 * comments), and still gets its terminal event. KEEPALIVE_MS and REQUEST_TIMEOUT_MS are shortened so
 * that the same silence takes seconds, not the 30 s a proxy would wait.
 */
import { expect, it } from 'vitest';
import { createClient } from 'graphql-ws';
import WebSocket from 'ws';
import { subscribeSse, subscribeWs, transcript } from '../helpers/clients.ts';
import { FOLLOW, startTestGateway, submitJob } from '../helpers/start-gateway.ts';
import { waitFor } from '../helpers/wait-for.ts';

const KEEPALIVE_MS = 300;
const REQUEST_TIMEOUT_MS = 1_000;

it('silent for three request timeouts, then the terminal event arrives on WebSocket and SSE', { timeout: 30_000 }, async () => {
  const gateway = await startTestGateway({ env: { KEEPALIVE_MS: String(KEEPALIVE_MS), REQUEST_TIMEOUT_MS: String(REQUEST_TIMEOUT_MS) } });
  gateway.simulator.pause();
  const job = await submitJob(gateway);
  let pings = 0;
  // The server keeps sockets alive with WebSocket ping frames; count them on the raw socket.
  class CountingWebSocket extends WebSocket {
    constructor(...args: ConstructorParameters<typeof WebSocket>) {
      super(...args);
      this.on('ping', () => void pings++);
    }
  }
  const client = createClient({ url: gateway.wsUrl, webSocketImpl: CountingWebSocket, retryAttempts: 0 });
  const overWs = subscribeWs(client, FOLLOW, { id: job.id });
  const sseStart = transcript.length;
  const overSse = subscribeSse(gateway.httpUrl, FOLLOW, { id: job.id });
  await overWs.waitForEvents(1);
  await overSse.waitForEvents(1);

  // The silence: no change upstream while three request timeouts and ten heartbeats pass.
  const started = Date.now();
  const sseComments = () => transcript.slice(sseStart).join('').match(/^:\s*$/gm)?.length ?? 0;
  await waitFor(() => Date.now() - started >= 3 * REQUEST_TIMEOUT_MS && pings >= 10 && sseComments() >= 10, {
    timeoutMs: 15_000,
    intervalMs: 50,
    message: 'three request timeouts of silence with ten heartbeats on each transport',
  });
  expect(overWs.events).toHaveLength(1);
  expect(overSse.events).toHaveLength(1);
  gateway.simulator.resume();
  expect(await overWs.done).toBe('complete');
  expect(await overSse.done).toBe('complete');
  expect(overWs.events.at(-1)!.data!.jobUpdates.status).toBe('COMPLETED');
  expect(overSse.events.at(-1)!.data!.jobUpdates.status).toBe('COMPLETED');
  await client.dispose();
  await gateway.dispose();
});

it('WebSocket pings are spread over the interval, not sent to every socket at once (a sweep at once lands inside a fan-out)', { timeout: 30_000 }, async () => {
  const gateway = await startTestGateway({ env: { KEEPALIVE_MS: '600' } });
  const sockets: WebSocket[] = [];
  const firstPing: number[] = [];
  for (let i = 0; i < 24; i++) {
    const socket = new WebSocket(gateway.wsUrl, 'graphql-transport-ws');
    socket.once('ping', () => firstPing.push(performance.now()));
    socket.once('open', () => socket.send('{"type":"connection_init","payload":{}}'));
    sockets.push(socket);
  }
  // 24 sockets, 48 ticks of 12.5 ms per 600 ms interval: one socket per tick, ~290 ms from first to last (at once: ~1 ms).
  await waitFor(() => firstPing.length === 24, { timeoutMs: 10_000, intervalMs: 20, message: 'a ping on every socket' });
  expect(Math.max(...firstPing) - Math.min(...firstPing)).toBeGreaterThan(100);
  for (const socket of sockets) socket.terminate();
  await gateway.dispose();
});

/**
 * A quiet subscription (no change for more than 30 s) stays open on both transports, kept alive by
 * heartbeats (graphql-ws pings, SSE comments), and still gets its terminal event.
 */
import { expect, it } from 'vitest';
import { createClient } from 'graphql-ws';
import WebSocket from 'ws';
import { subscribeSse, subscribeWs, transcript } from '../helpers/clients.ts';
import { FOLLOW, startTestGateway, submitJob } from '../helpers/start-gateway.ts';

it('silent for 32 s, then the terminal event arrives on WebSocket and SSE', { timeout: 60_000 }, async () => {
  const gateway = await startTestGateway();
  gateway.simulator.pause();
  const job = await submitJob(gateway);
  let pings = 0;
  // graphql-ws's server keeps sockets alive with WebSocket ping frames; count them on the raw socket.
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

  const started = Date.now();
  await new Promise((resolve) => setTimeout(resolve, 32_000)); // the point of the test: a long silence
  gateway.simulator.resume();
  expect(await overWs.done).toBe('complete');
  expect(await overSse.done).toBe('complete');
  expect(Date.now() - started).toBeGreaterThan(30_000);
  expect(overWs.events.at(-1)!.data!.jobUpdates.status).toBe('COMPLETED');
  expect(overSse.events.at(-1)!.data!.jobUpdates.status).toBe('COMPLETED');
  expect(pings).toBeGreaterThanOrEqual(2); // graphql-ws pings every 12 s
  const sseText = transcript.slice(sseStart).join('');
  expect(sseText.match(/^:\s*$/gm)?.length ?? 0).toBeGreaterThanOrEqual(2); // Yoga's SSE keep-alive comments
  await client.dispose();
  await gateway.dispose();
});

/**
 * Shutdown keeps to SHUTDOWN_TIMEOUT_MS even when a WebSocket client stops reading (no close
 * handshake), and ends as soon as the requests in flight are answered.
 */
import WebSocket from 'ws';
import { expect, it } from 'vitest';
import { startTestGateway, SUBMIT, validInput } from '../helpers/start-gateway.ts';
import { waitFor, within } from '../helpers/wait-for.ts';

it('a WebSocket that does not read: stop() ends within SHUTDOWN_TIMEOUT_MS, the socket is terminated', async () => {
  const gateway = await startTestGateway({ env: { SHUTDOWN_TIMEOUT_MS: '1000' } });
  const socket = new WebSocket(gateway.wsUrl, 'graphql-transport-ws');
  await within(new Promise((resolve, reject) => socket.once('open', resolve).once('error', reject)), 5_000, 'the socket to open');
  socket.send(JSON.stringify({ type: 'connection_init', payload: {} }));
  await within(new Promise<void>((resolve) => socket.once('message', () => resolve())), 5_000, 'connection_ack');
  const closed = new Promise<number>((resolve) => socket.once('close', (code) => resolve(code)));
  socket.pause(); // never reads the close frame, so never answers it

  const started = Date.now();
  await within(gateway.dispose(), 10_000, 'the gateway to stop');
  const ms = Date.now() - started;
  expect(ms).toBeGreaterThanOrEqual(900); // it did wait for the handshake, up to the deadline
  expect(ms).toBeLessThan(1_000 + 700);
  socket.resume();
  // The close frame (1001 Going away) may have reached the client's buffers before the socket was cut.
  expect([1001, 1006]).toContain(await within(closed, 5_000, 'the client to see its socket end'));
});

it('a submit in flight at shutdown gets its answer, and stop() ends with it, not at SHUTDOWN_TIMEOUT_MS', async () => {
  const gateway = await startTestGateway({ env: { SHUTDOWN_TIMEOUT_MS: '4000' } });
  gateway.simulator.addFault({ operation: 'submit', kind: 'delay', delayMs: 600, times: 1 });
  await gateway.gql('{ __typename }'); // a keep-alive connection, reused by the submit below
  const submitted = gateway.gql(SUBMIT, { input: validInput() });
  await waitFor(() => gateway.simulator.stats.submit === 1, { message: 'the submit to reach the upstream' });

  const started = Date.now();
  await within(gateway.dispose(), 10_000, 'the gateway to stop');
  const ms = Date.now() - started;
  const answer = await submitted;
  expect(answer.status).toBe(200);
  expect(answer.data?.generateVideo.requestId).toBeTruthy();
  // Its connection went idle once the answer was out, and was closed then: no wait for the deadline.
  expect(ms).toBeLessThan(2_500);
});

/**
 * Quiet logs: a refused credential is one info line (no stack, not an error); an oversized WebSocket
 * message is one info line, never a raw console.error; many followers of one job raise no
 * MaxListenersExceededWarning. Nothing prints outside the structured logger.
 */
import WebSocket from 'ws';
import { afterAll, beforeAll, expect, it, vi } from 'vitest';
import { post, subscribeSse, wsClient } from '../helpers/clients.ts';
import { FOLLOW, startTestGateway, submitJob, type TestGateway } from '../helpers/start-gateway.ts';
import { waitFor, within } from '../helpers/wait-for.ts';

const KEY = 'acme-key-77c1';
let gateway: TestGateway;
const consoleCalls: unknown[][] = [];
const warnings: Error[] = [];
const onWarning = (warning: Error) => warnings.push(warning);
beforeAll(async () => {
  for (const method of ['log', 'info', 'warn', 'error', 'debug'] as const) {
    vi.spyOn(console, method).mockImplementation((...args: unknown[]) => void consoleCalls.push([method, ...args]));
  }
  process.on('warning', onWarning);
  gateway = await startTestGateway({ env: { GATEWAY_API_KEYS: `acme:${KEY}`, WS_MAX_MESSAGE_BYTES: '1024' }, simulator: { timing: { runMs: 1_500 } } });
});
afterAll(async () => {
  await gateway.dispose();
  process.off('warning', onWarning);
  vi.restoreAllMocks();
  expect(consoleCalls, 'printed outside the structured logger').toEqual([]);
});

const linesAfter = (from: number) => gateway.logs.slice(from).map((line) => JSON.parse(line) as { level: number; msg: string; err?: unknown });

it('a refused credential over HTTP: 401, and one info line without a stack, nothing at error level', async () => {
  const from = gateway.logs.length;
  const response = await post(gateway.httpUrl, '{ jobs { edges { cursor } } }', {}, { authorization: 'Bearer wrong-key' });
  expect(response.status).toBe(401);
  expect(response.errors?.[0]?.extensions?.code).toBe('UNAUTHENTICATED');
  await waitFor(() => linesAfter(from).some((l) => l.msg === 'request'), { message: 'the access log line' });
  const lines = linesAfter(from);
  expect(lines.filter((l) => l.msg.includes('credential refused'))).toEqual([expect.objectContaining({ level: 30, reason: 'unknown key' })]);
  expect(lines.filter((l) => l.level >= 40)).toEqual([]);
  expect(gateway.logs.slice(from).join('')).not.toMatch(/stack|wrong-key/);
});

it('a refused credential over WebSocket: closed 4403, one info line', async () => {
  const from = gateway.logs.length;
  const client = wsClient(gateway.wsUrl, { authorization: 'Bearer wrong-key' });
  client.subscribe({ query: '{ jobs { edges { cursor } } }' }, { next: () => undefined, error: () => undefined, complete: () => undefined });
  expect((await within(client.closed, 10_000, 'the refused socket to close')).code).toBe(4403);
  const lines = linesAfter(from);
  expect(lines.filter((l) => l.msg.includes('credential refused'))).toEqual([expect.objectContaining({ level: 30, reason: 'unknown key' })]);
  expect(lines.filter((l) => l.level >= 40)).toEqual([]);
});

it('a WebSocket message over WS_MAX_MESSAGE_BYTES: closed 1009, one info line, no console output', async () => {
  const from = gateway.logs.length;
  const socket = new WebSocket(gateway.wsUrl, 'graphql-transport-ws');
  await within(new Promise((resolve, reject) => socket.once('open', resolve).once('error', reject)), 5_000, 'the socket to open');
  const closed = new Promise<number>((resolve) => socket.once('close', (code) => resolve(code)));
  socket.send(JSON.stringify({ type: 'connection_init', payload: { authorization: `Bearer ${KEY}`, pad: 'x'.repeat(4096) } }));
  expect(await within(closed, 5_000, 'the socket to close')).toBe(1009);
  await waitFor(() => linesAfter(from).some((l) => l.msg.includes('larger than WS_MAX_MESSAGE_BYTES')), { message: 'the log line' });
  expect(linesAfter(from).filter((l) => l.level >= 40)).toEqual([]);
  expect(consoleCalls).toEqual([]);
});

it('12 SSE followers of one job: no MaxListenersExceededWarning', async () => {
  const job = await submitJob(gateway, {}, { authorization: `Bearer ${KEY}` });
  const followers = Array.from({ length: 12 }, () => subscribeSse(gateway.httpUrl, FOLLOW, { id: job.id }, { authorization: `Bearer ${KEY}` }));
  await Promise.all(followers.map((f) => f.waitForEvents(1)));
  for (const f of followers) f.stop();
  expect(warnings.map((w) => `${w.name}: ${w.message}`)).toEqual([]);
});

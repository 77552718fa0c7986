/**
 * A hostile batch: hundreds of malformed GraphQL documents, variables, HTTP bodies and WebSocket
 * frames. No 5xx, no crash, no upstream call; the gateway keeps serving.
 */
import WebSocket from 'ws';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { startTestGateway, SUBMIT, submitJob, type TestGateway } from '../helpers/start-gateway.ts';
import { within } from '../helpers/wait-for.ts';

let gateway: TestGateway;
beforeAll(async () => {
  gateway = await startTestGateway();
});
afterAll(() => gateway.dispose());

/** Deterministic pseudo-random numbers (mulberry32), so a failure replays. */
function prng(seed: number) {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
const random = prng(20261125);
const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)]!;
const TOKENS = ['{', '}', '(', ')', '[', ']', ':', '$', '!', '...', '@', '=', 'query', 'mutation', 'subscription', 'fragment', 'on', 'generateVideo', 'jobUpdates', 'job', 'jobs', 'input', 'id', '"x"', '1', '-0.5e9', 'null', 'true', '"""', '#', ',', '\u0000', '\ud800', 'é'];
const randomDocument = () => Array.from({ length: 1 + Math.floor(random() * 40) }, () => pick(TOKENS)).join(pick([' ', '', '\n']));
const WEIRD_VALUES: unknown[] = [null, 0, -1, 1e308, Number.MAX_SAFE_INTEGER, '', ' ', 'x'.repeat(3000), '\u0000', [], [[[]]], {}, { a: { b: { c: {} } } }, true, 'SECONDS_5', 'javascript:alert(1)', 'http://[::1]/x.png', 'https://example.com/a.png'];
const randomInput = () => Object.fromEntries(['prompt', 'imageUrl', 'duration', 'negativePrompt', 'cfgScale', 'idempotencyKey', 'extra'].filter(() => random() < 0.7).map((k) => [k, pick(WEIRD_VALUES)]));

async function send(body: string | Uint8Array, contentType = 'application/json', method = 'POST'): Promise<number> {
  const response = await fetch(gateway.httpUrl, { method, headers: { 'content-type': contentType, accept: pick(['application/json', 'text/event-stream', 'multipart/mixed', '*/*']) }, body: method === "GET" ? null : typeof body === "string" ? body : Buffer.from(body) });
  await response.arrayBuffer();
  return response.status;
}

it('400 malformed HTTP requests: no 5xx, nothing submitted', async () => {
  const before = gateway.simulator.stats.submit;
  const statuses: number[] = [];
  const bodies: Array<() => string | Uint8Array> = [
    () => randomDocument(),
    () => JSON.stringify({ query: randomDocument() }),
    () => JSON.stringify({ query: SUBMIT, variables: { input: randomInput() } }),
    () => JSON.stringify({ query: SUBMIT, variables: pick(WEIRD_VALUES) }),
    () => JSON.stringify({ query: pick(WEIRD_VALUES), variables: pick(WEIRD_VALUES), operationName: pick(WEIRD_VALUES) }),
    () => JSON.stringify([{ query: '{ jobs { edges { cursor } } }' }, { query: randomDocument() }]),
    () => `{"query": "${'{'.repeat(5000)}"}`,
    () => JSON.stringify({ query: `subscription { jobUpdates(id: ${JSON.stringify(String(pick(WEIRD_VALUES)))}) { id } }` }),
    () => JSON.stringify({ query: `{ jobs(first: ${pick(['-1', '101', '1e9', '"x"', 'null'])}, after: ${pick(['"!!"', '"e30="', '1', 'null'])}) { edges { cursor } } }` }),
    () => new Uint8Array(Array.from({ length: 200 }, () => Math.floor(random() * 256))),
    () => '{"query":"{ __typename }", "extensions": {"persistedQuery": {"sha256Hash": 1}}}',
  ];
  for (let i = 0; i < 400; i++) {
    const body = pick(bodies)();
    statuses.push(await send(body, pick(['application/json', 'application/json', 'application/graphql', 'text/plain', 'application/x-www-form-urlencoded'])));
  }
  expect(statuses.filter((s) => s >= 500)).toEqual([]);
  expect(gateway.simulator.stats.submit).toBe(before);
});

it('200 hostile WebSocket conversations: no crash, nothing submitted, the gateway still serves', async () => {
  const before = gateway.simulator.stats.submit;
  const frames: Array<() => string | Buffer> = [
    () => randomDocument(),
    () => JSON.stringify({ type: pick(['subscribe', 'next', 'complete', 'ping', 'pong', 'connection_ack', 'bogus', null, 1]), id: pick(WEIRD_VALUES), payload: pick(WEIRD_VALUES) }),
    () => JSON.stringify({ type: 'subscribe', id: '1', payload: { query: randomDocument() } }),
    () => JSON.stringify({ type: 'subscribe', id: '1', payload: { query: SUBMIT, variables: { input: randomInput() } } }),
    () => JSON.stringify({ type: 'subscribe', id: pick(['1', '1', '']), payload: { query: 'subscription { jobUpdates(id: "x") { id } }' } }),
    () => JSON.stringify({ type: 'connection_init', payload: pick(WEIRD_VALUES) }),
    () => Buffer.from(Array.from({ length: 64 }, () => Math.floor(random() * 256))),
  ];
  for (let conversation = 0; conversation < 200; conversation++) {
    const socket = new WebSocket(gateway.wsUrl, pick(['graphql-transport-ws', 'graphql-transport-ws', 'graphql-ws', 'nonsense']));
    const closed = new Promise<void>((resolve) => {
      socket.once('close', () => resolve());
      socket.once('error', () => resolve());
    });
    const opened = await Promise.race([new Promise<boolean>((resolve) => socket.once('open', () => resolve(true))), closed.then(() => false)]);
    if (opened) {
      if (random() < 0.6) socket.send(JSON.stringify({ type: 'connection_init', payload: {} }));
      for (let f = 0; f < 1 + Math.floor(random() * 4); f++) if (socket.readyState === WebSocket.OPEN) socket.send(pick(frames)());
      socket.close();
    }
    await within(closed, 5000, 'socket close');
  }
  expect(gateway.simulator.stats.submit).toBe(before);
  expect((await fetch(`${gateway.baseUrl}/healthz`)).status).toBe(200);
  expect((await submitJob(gateway)).status).toBe('IN_QUEUE');
});

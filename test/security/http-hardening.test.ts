/**
 * HTTP bounds: bodies are cut at MAX_BODY_BYTES whatever their framing (chunked too), slow bodies meet
 * REQUEST_TIMEOUT_MS (but SSE streams and WebSockets outlive it), and introspection has a depth limit
 * that GraphiQL's standard introspection query fits.
 */
import { request as httpRequest } from 'node:http';
import { connect } from 'node:net';
import { getIntrospectionQuery } from 'graphql';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { post, subscribeSse, subscribeWs, wsClient } from '../helpers/clients.ts';
import { FOLLOW, startTestGateway, submitJob, type TestGateway } from '../helpers/start-gateway.ts';
import { within } from '../helpers/wait-for.ts';

const REQUEST_TIMEOUT_MS = 1000;
let gateway: TestGateway;
beforeAll(async () => {
  // Jobs take about 2.5 s: longer than REQUEST_TIMEOUT_MS.
  gateway = await startTestGateway({ env: { REQUEST_TIMEOUT_MS: String(REQUEST_TIMEOUT_MS) }, simulator: { timing: { runMs: 2_500 } } });
});
afterAll(() => gateway.dispose());

/** POSTs `totalBytes` of JSON as a chunked body (no content-length), 64 KiB a chunk; resolves with the answer. */
function postChunked(totalBytes: number): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const request = httpRequest(gateway.httpUrl, { method: 'POST', headers: { 'content-type': 'application/json', 'transfer-encoding': 'chunked' } });
    request.on('response', (response) => {
      let body = '';
      response.on('data', (chunk) => (body += chunk));
      response.on('end', () => resolve({ status: response.statusCode ?? 0, body }));
      response.on('error', reject);
    });
    request.on('error', () => undefined); // the server may close while we still write: the answer is what counts
    const head = `{"query":"{ jobs(first: 1) { edges { cursor } } }","variables":{"pad":"`;
    const body = `${head}${'x'.repeat(totalBytes - head.length - 3)}"}}`;
    let sent = 0;
    const pump = () => {
      while (sent < body.length && !request.destroyed) {
        const chunk = body.slice(sent, sent + 64 * 1024);
        sent += chunk.length;
        if (!request.write(chunk)) return void request.once('drain', pump);
      }
      request.end();
    };
    pump();
  });
}

it('a chunked body of 16 MB (no content-length) is cut at MAX_BODY_BYTES: 413 with BAD_USER_INPUT', async () => {
  const answer = await within(postChunked(16 * 1024 * 1024), 15_000, 'the answer to a 16 MB chunked body');
  expect(answer.status).toBe(413);
  expect(JSON.parse(answer.body)).toEqual({ errors: [{ message: 'The request body is larger than 65536 bytes.', extensions: { code: 'BAD_USER_INPUT' } }] });
});

it('a chunked body within MAX_BODY_BYTES runs as usual', async () => {
  const answer = await within(postChunked(32 * 1024), 10_000, 'the answer to a 32 KB chunked body');
  expect(answer.status).toBe(200);
  expect(JSON.parse(answer.body).data.jobs.edges).toEqual([]);
});

it('MAX_BODY_BYTES is the one body limit: a 26 MB body runs when it allows 30 MB (Yoga\'s own 25 MB limit is off)', { timeout: 30_000 }, async () => {
  const roomy = await startTestGateway({ env: { MAX_BODY_BYTES: String(30 * 1024 * 1024) } });
  try {
    const body = JSON.stringify({ query: '{ jobs(first: 1) { edges { cursor } } }', variables: { pad: 'x'.repeat(26 * 1024 * 1024) } });
    const response = await within(fetch(roomy.httpUrl, { method: 'POST', headers: { 'content-type': 'application/json' }, body }), 20_000, 'the answer to a 26 MB body');
    expect(response.status).toBe(200);
    expect((await response.json()).data.jobs.edges).toEqual([]);
  } finally {
    await roomy.dispose();
  }
});

/** Opens a connection that sends its headers, then one body byte every 200 ms; resolves with what came back when it closed. */
function dripBody(): Promise<{ answer: string; ms: number }> {
  const started = Date.now();
  return new Promise((resolve) => {
    const { port } = new URL(gateway.httpUrl);
    const socket = connect(Number(port), '127.0.0.1');
    let answer = '';
    const drip = setInterval(() => socket.write('x'), 200);
    socket.on('connect', () => socket.write(`POST /graphql HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/json\r\ncontent-length: 1000\r\n\r\n`));
    socket.on('data', (chunk) => (answer += chunk));
    socket.on('error', () => undefined);
    socket.on('close', () => {
      clearInterval(drip);
      resolve({ answer, ms: Date.now() - started });
    });
  });
}

it('50 connections dripping a body byte every 200 ms are answered 408 and closed after REQUEST_TIMEOUT_MS', async () => {
  const drips = await within(Promise.all(Array.from({ length: 50 }, dripBody)), 15_000, 'dripping connections to be closed');
  for (const { answer, ms } of drips) {
    expect(answer).toMatch(/^HTTP\/1\.1 408/);
    expect(ms).toBeGreaterThanOrEqual(REQUEST_TIMEOUT_MS - 50);
    expect(ms).toBeLessThan(REQUEST_TIMEOUT_MS + 5_000); // checked every 250 ms; a loaded machine adds its own delay
  }
});

it('an SSE subscription and a WebSocket subscription outlive REQUEST_TIMEOUT_MS and see their job complete', async () => {
  const job = await submitJob(gateway);
  const started = Date.now();
  const sse = subscribeSse(gateway.httpUrl, FOLLOW, { id: job.id });
  const client = wsClient(gateway.wsUrl);
  const ws = subscribeWs(client, FOLLOW, { id: job.id });
  expect(await within(sse.done, 15_000, 'the SSE stream to end')).toBe('complete');
  expect(await within(ws.done, 15_000, 'the WebSocket subscription to end')).toBe('complete');
  expect(Date.now() - started).toBeGreaterThan(REQUEST_TIMEOUT_MS * 2);
  expect(sse.events.at(-1)?.data?.jobUpdates.status).toBe('COMPLETED');
  expect(ws.events.at(-1)?.data?.jobUpdates.status).toBe('COMPLETED');
  await client.dispose();
});

it("GraphiQL's standard introspection query runs with the default limits", async () => {
  const response = await post(gateway.httpUrl, getIntrospectionQuery());
  expect(response.errors).toBeUndefined();
  expect(response.data?.__schema.queryType.name).toBe('Query');
});

it('a 200-deep ofType nest under __schema is refused with BAD_USER_INPUT (over HTTP and WebSocket)', async () => {
  const deep = `{ __schema { types { ${'ofType { '.repeat(200)}name${' }'.repeat(200)} } } }`;
  const response = await post(gateway.httpUrl, deep);
  expect(response.data ?? null).toBeNull();
  expect(response.errors?.map((e) => [e.message, e.extensions?.code])).toEqual([['Introspection depth limit of 20 exceeded, found 203.', 'BAD_USER_INPUT']]);
  const client = wsClient(gateway.wsUrl);
  const ended = await within(subscribeWs(client, deep).done, 10_000, 'the WebSocket answer');
  expect(JSON.stringify(ended)).toMatch(/Introspection depth limit of 20 exceeded/);
  await client.dispose();
});

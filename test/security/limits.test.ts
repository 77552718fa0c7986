/** Operation limits trip with a clear error on HTTP, SSE and WebSocket alike; HTTP and WS size limits; CSRF; CORS. */
import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { post, subscribeSse, subscribeWs, wsClient, type GraphQLResponse } from '../helpers/clients.ts';
import { startTestGateway, type TestGateway } from '../helpers/start-gateway.ts';
import { within } from '../helpers/wait-for.ts';

let gateway: TestGateway;
beforeAll(async () => {
  gateway = await startTestGateway({
    env: {
      GRAPHQL_MAX_DEPTH: '4',
      GRAPHQL_MAX_ALIASES: '5',
      GRAPHQL_MAX_TOKENS: '300',
      GRAPHQL_MAX_COST: '60',
      WS_INIT_TIMEOUT_MS: '300',
      GRAPHQL_INTROSPECTION: 'false',
      GRAPHQL_FIELD_SUGGESTIONS: 'false',
      CORS_ORIGINS: 'https://dashboard.example',
    },
  });
});
afterAll(() => gateway.dispose());

const tooDeep = `{ jobs { edges { node { input { prompt } } } } }`;
const tooManyAliases = `{ ${Array.from({ length: 6 }, (_, i) => `a${i}: jobs { pageInfo { hasNextPage } }`).join(' ')} }`;
const tooManyTokens = `{ jobs { edges { ${'cursor '.repeat(400)} } } }`;
const tooCostly = `{ jobs { nodes { id status model requestId createdAt updatedAt completedAt queuePosition input { prompt imageUrl cfgScale } logs { message level timestamp } video { url fileName } error { code message } } } }`;

async function run(transport: 'http' | 'sse' | 'ws', query: string): Promise<GraphQLResponse[] | unknown> {
  if (transport === 'http') return [await post(gateway.httpUrl, query)];
  const recording = transport === 'sse' ? subscribeSse(gateway.httpUrl, query) : subscribeWs(wsClient(gateway.wsUrl), query);
  const ended = await recording.done;
  return ended === 'complete' ? recording.events : (ended as { error: unknown }).error;
}

function messagesOf(result: unknown): string[] {
  const list = Array.isArray(result) ? result : [result];
  return list.flatMap((r: any) => (r?.errors ?? (r?.message ? [r] : [])).map((e: { message: string }) => e.message));
}

describe.each(['http', 'sse', 'ws'] as const)('limits over %s', (transport) => {
  it.each([
    ['depth', tooDeep, /depth/i],
    ['aliases', tooManyAliases, /alias/i],
    ['tokens', tooManyTokens, /token/i],
    ['cost', tooCostly, /cost/i],
  ])('%s', async (_name, query, pattern) => {
    const messages = messagesOf(await run(transport, query));
    expect(messages.length).toBeGreaterThan(0);
    expect(messages.join(' ')).toMatch(pattern);
  });

  it('introspection is off and no field is suggested', async () => {
    const introspection = messagesOf(await run(transport, '{ __schema { types { name } } }'));
    expect(introspection.join(' ')).toMatch(/introspection/i);
    const typo = messagesOf(await run(transport, '{ jbos { edges { cursor } } }'));
    expect(typo.join(' ')).not.toMatch(/did you mean/i);
  });
});

it.each(['sse', 'ws'] as const)('limits apply to subscriptions too (%s): too many aliases are refused before any event', async (transport) => {
  const aliased = `subscription { jobUpdates(id: "x") { ${Array.from({ length: 6 }, (_, i) => `a${i}: id`).join(' ')} } }`;
  expect(messagesOf(await run(transport, aliased)).join(' ')).toMatch(/alias/i);
  // Within the limit, the same subscription gets past validation (and meets NOT_FOUND instead).
  const fine = `subscription { jobUpdates(id: "x") { a0: id a1: id } }`;
  expect(messagesOf(await run(transport, fine)).join(' ')).toMatch(/No job/);
});

it('HTTP body over MAX_BODY_BYTES: 413 with a clear error', async () => {
  const response = await fetch(gateway.httpUrl, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ query: `{ jobs { edges { cursor } } }`, variables: { pad: 'x'.repeat(70 * 1024) } }),
  });
  expect(response.status).toBe(413);
  expect((await response.json()).errors[0].message).toMatch(/larger than/);
});

it('WebSocket message over WS_MAX_MESSAGE_BYTES: the socket is closed (1009)', async () => {
  const socket = new WebSocket(gateway.wsUrl, 'graphql-transport-ws');
  const closed = new Promise<number>((resolve) => socket.once('close', (code) => resolve(code)));
  await new Promise((resolve) => socket.once('open', resolve));
  socket.send(JSON.stringify({ type: 'connection_init', payload: { pad: 'x'.repeat(70 * 1024) } }));
  expect(await within(closed, 5000, 'close')).toBe(1009);
});

it('a WebSocket that never sends connection_init is closed after WS_INIT_TIMEOUT_MS (4408)', async () => {
  const socket = new WebSocket(gateway.wsUrl, 'graphql-transport-ws');
  const closed = new Promise<number>((resolve) => socket.once('close', (code) => resolve(code)));
  expect(await within(closed, 5000, 'close')).toBe(4408);
});

describe('CSRF prevention (browser "simple" requests need a header)', () => {
  it('a GET query without the header is refused; with it, it runs', async () => {
    const url = `${gateway.httpUrl}?query=${encodeURIComponent('{ jobs { edges { cursor } } }')}`;
    const bare = await fetch(url);
    expect(bare.status).toBe(403);
    const withHeader = await fetch(url, { headers: { 'x-graphql-csrf': '1' } });
    expect(withHeader.status).toBe(200);
  });
  it('a JSON POST (not a simple request) needs no header', async () => {
    expect((await post(gateway.httpUrl, '{ jobs { edges { cursor } } }')).status).toBe(200);
  });
});

describe('CORS', () => {
  it('allows the configured origin, and only it', async () => {
    const preflight = (origin: string) =>
      fetch(gateway.httpUrl, {
        method: 'OPTIONS',
        headers: { origin, 'access-control-request-method': 'POST', 'access-control-request-headers': 'authorization,content-type' },
      });
    const allowed = await preflight('https://dashboard.example');
    expect(allowed.headers.get('access-control-allow-origin')).toBe('https://dashboard.example');
    const other = await preflight('https://evil.example');
    expect(other.headers.get('access-control-allow-origin')).not.toBe('https://evil.example');
  });
});

it('limit, syntax and validation errors carry BAD_USER_INPUT', async () => {
  for (const query of [tooDeep, tooManyAliases, tooManyTokens, tooCostly, '{ jobs {', '{ nope }']) {
    const response = await post(gateway.httpUrl, query);
    expect(response.status).toBeLessThan(500);
    expect(response.errors?.map((e) => e.extensions?.code)).toContain('BAD_USER_INPUT');
  }
});

/**
 * The lean lane for JSON POSTs (src/http/json-lane.ts) answers exactly as Yoga does: two gateways on one
 * simulator, one with the lane and one without (`jsonLane: false`), get the same requests, and every
 * answer is the same (status, headers but the date, body; job ids and instants aside). Queries and
 * mutations, every Accept header clients send, CORS, the caller's x-request-id, errors with and without
 * data (statuses by media type), a refused key, bodies Yoga refuses, a subscription sent as a query. The
 * lane really serves the common requests (Yoga's own per-request debug line does not appear for them),
 * and its access log line is Yoga's. A body over MAX_BODY_BYTES gets Yoga's 413, with a length or chunked.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFalSimulator, type FalSimulator } from '../../src/fal-simulator/index.ts';
import { startTestGateway, SUBMIT, TEST_FAL_KEY, validInput, type TestGateway } from '../helpers/start-gateway.ts';
import { waitFor } from '../helpers/wait-for.ts';

const KEY = 'Bearer json-lane-key-123456';
const JSON_TYPE = { 'content-type': 'application/json', authorization: KEY };
/** Yoga's debug line for each request it parses itself (test gateways log at debug). */
const YOGA_PARSES = 'Parsing request to extract GraphQL parameters';

interface Answer {
  status: number;
  headers: Record<string, string>;
  body: string;
}

async function send(gateway: TestGateway, body: unknown, headers: Record<string, string> = {}): Promise<Answer> {
  const response = await fetch(gateway.httpUrl, { method: 'POST', headers: { ...JSON_TYPE, ...headers }, body: typeof body === 'string' ? body : JSON.stringify(body) });
  const text = await response.text();
  const seen: Record<string, string> = {};
  response.headers.forEach((value, name) => {
    if (name !== 'date' && name !== 'keep-alive' && name !== 'connection') seen[name] = value;
  });
  return { status: response.status, headers: seen, body: text };
}

/** Job ids, request ids and instants differ between two gateways; everything else must not. */
function normalized(answer: Answer): Answer {
  const text = answer.body
    .replace(/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/g, '<uuid>')
    .replace(/\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z/g, '<instant>');
  const headers = { ...answer.headers };
  if (headers['x-request-id'] && /^[0-9a-f-]{36}$/.test(headers['x-request-id'])) headers['x-request-id'] = '<uuid>';
  if (headers['content-length']) headers['content-length'] = String(Buffer.byteLength(text)); // ids normalized above are the same length
  return { status: answer.status, headers, body: text };
}

const parses = (gateway: TestGateway) => gateway.logs.filter((line) => line.includes(YOGA_PARSES)).length;

describe('JSON lane: answers as Yoga does', () => {
  let simulator: FalSimulator;
  let lane: TestGateway;
  let yoga: TestGateway;
  beforeAll(async () => {
    simulator = await startFalSimulator({ apiKey: TEST_FAL_KEY });
    simulator.pause(); // jobs stay in the queue: both gateways answer the same states
    const env = { GATEWAY_API_KEYS: 'a:json-lane-key-123456', MAX_BODY_BYTES: '4096' };
    [lane, yoga] = await Promise.all([
      startTestGateway({ env, sharedSimulator: simulator }),
      startTestGateway({ env, sharedSimulator: simulator, app: { jsonLane: false } }),
    ]);
  });
  afterAll(async () => {
    await Promise.all([lane?.dispose(), yoga?.dispose()]);
    await simulator?.close();
  });

  /** Both gateways' answers, normalized, and whether the lane gateway left the request to Yoga. */
  async function both(body: unknown, headers: Record<string, string> = {}) {
    const before = parses(lane);
    const [viaLane, viaYoga] = [await send(lane, body, headers), await send(yoga, body, headers)];
    return { lane: normalized(viaLane), yoga: normalized(viaYoga), leftToYoga: parses(lane) > before };
  }

  it('queries, for every Accept header clients send, with CORS and the caller\'s request id: served by the lane, as Yoga answers', async () => {
    const accepts = [undefined, '*/*', 'application/json', 'application/graphql-response+json', 'application/graphql-response+json, application/json', 'application/json, text/plain, */*', 'application/graphql-response+json;charset=utf-8, application/json;q=0.9', 'text/event-stream, application/json'];
    for (const accept of accepts) {
      const headers: Record<string, string> = accept === undefined ? {} : { accept };
      const answer = await both({ query: '{ __typename }' }, headers);
      expect(answer.lane, `Accept: ${accept}`).toEqual(answer.yoga);
      expect(answer.leftToYoga, `Accept: ${accept}`).toBe(false);
    }
    const cors = await both({ query: 'query Q { __typename }', operationName: 'Q' }, { origin: 'http://app.example', 'x-request-id': 'lane-req-1', 'content-type': 'application/json; charset=utf-8' });
    expect(cors.lane).toEqual(cors.yoga);
    expect(cors.lane.headers).toMatchObject({ 'access-control-allow-origin': 'http://app.example', 'x-request-id': 'lane-req-1', 'content-type': 'application/json; charset=utf-8' });
    expect(cors.leftToYoga).toBe(false);
    await waitFor(() => lane.logs.some((l) => l.includes('"requestId":"lane-req-1"') && l.includes('"status":200') && l.includes('"msg":"request"')), { message: 'the access log line' });
  });

  it('generateVideo, its input errors and a read with no job: the same data, errors and statuses', async () => {
    const accept = { accept: 'application/graphql-response+json, application/json' };
    const submitted = await both({ query: SUBMIT, variables: { input: validInput() } }, accept);
    expect(submitted.lane).toEqual(submitted.yoga);
    expect(JSON.parse(submitted.lane.body).data.generateVideo.status).toBe('IN_QUEUE');
    expect(submitted.leftToYoga).toBe(false);
    for (const headers of [accept, { accept: 'application/json' }]) {
      const bad = await both({ query: SUBMIT, variables: { input: validInput({ prompt: '' }) } }, headers);
      expect(bad.lane).toEqual(bad.yoga);
      expect(bad.lane.body).toContain('"code":"BAD_USER_INPUT"');
      const uncoerced = await both({ query: 'query J($id: ID!) { job(id: $id) { id } }', variables: {} }, headers);
      expect(uncoerced.lane).toEqual(uncoerced.yoga);
    }
    const none = await both({ query: '{ job(id: "nope") { id } }' });
    expect(none.lane).toEqual(none.yoga);
  });

  it('what the lane leaves to Yoga gets Yoga\'s answer: a refused key, bad JSON, bad params, an invalid document, a subscription, a media type only Yoga serves', async () => {
    const cases: Array<[unknown, Record<string, string>]> = [
      [{ query: '{ __typename }' }, { authorization: 'Bearer wrong' }],
      ['{"query": "{ __typename }"', {}],
      [{ query: '{ __typename }', variables: 'x' }, {}],
      [[{ query: '{ __typename }' }], {}],
      [{ query: '{ nope }' }, {}],
      [{ query: 'subscription { jobUpdates(id: "x") { id } }' }, {}],
      [{ query: '{ __typename }' }, { accept: 'text/html' }],
    ];
    for (const [body, headers] of cases) {
      const answer = await both(body, headers);
      expect(answer.lane, JSON.stringify([body, headers])).toEqual(answer.yoga);
      expect(answer.leftToYoga, JSON.stringify([body, headers])).toBe(true);
    }
  });

  it('a body over MAX_BODY_BYTES, with a length or chunked: Yoga\'s 413 on both', async () => {
    const big = JSON.stringify({ query: `{ __typename } # ${'x'.repeat(6000)}` });
    const sized = await both(big);
    expect(sized.lane).toEqual(sized.yoga);
    expect(sized.lane.status).toBe(413);
    const chunked = async (gateway: TestGateway) => {
      const body = new ReadableStream({
        start(controller) {
          for (let i = 0; i < 4; i++) controller.enqueue(new TextEncoder().encode(big.slice(i * 1500, (i + 1) * 1500)));
          controller.enqueue(new TextEncoder().encode(big.slice(6000)));
          controller.close();
        },
      });
      const response = await fetch(gateway.httpUrl, { method: 'POST', headers: JSON_TYPE, body, duplex: 'half' } as RequestInit);
      return { status: response.status, body: await response.text() };
    };
    const [viaLane, viaYoga] = [await chunked(lane), await chunked(yoga)];
    expect(viaLane).toEqual(viaYoga);
    expect(viaLane.status).toBe(413);
  });
});

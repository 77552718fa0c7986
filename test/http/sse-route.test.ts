/**
 * The SSE subscription route answers exactly as Yoga did: the same headers (CORS, x-request-id), the
 * same events and statuses for an unknown job, a bad variable, an invalid query and a refused key; a
 * query over SSE is still Yoga's. One quota slot per subscriber, given back when the client goes; a
 * member's stream ends with UNAUTHENTICATED when its own token expires, while the cohort goes on. A
 * chunked body over the limit gets Yoga's 413 (the route stops reading it, without cutting the connection).
 */
import { request } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { metric, rawSse } from '../helpers/sse-raw.ts';
import { startTestGateway, submitJob, type TestGateway } from '../helpers/start-gateway.ts';
import { AUDIENCE, bearer, hsToken, ISSUER, TEST_JWT_SECRET } from '../helpers/tokens.ts';
import { waitFor, within } from '../helpers/wait-for.ts';

const FOLLOW = 'subscription F($id: ID!) { jobUpdates(id: $id) { id status } }';
const KEY = 'Bearer sse-route-key-123456';
const asA = { authorization: KEY };
const complete = 'event: complete\ndata:\n\n';

/** The whole answer to a subscription that ends at once. */
async function answer(gateway: TestGateway, body: unknown, headers: Record<string, string> = asA) {
  const stream = rawSse(gateway.httpUrl, { body, headers });
  await within(stream.ended, 10_000, 'the answer');
  return { status: await stream.status, headers: await stream.headers, text: stream.text() };
}

describe('SSE route: answers as before', () => {
  let gateway: TestGateway;
  beforeAll(async () => {
    gateway = await startTestGateway({ env: { GATEWAY_API_KEYS: 'a:sse-route-key-123456', TENANT_MAX_SUBSCRIPTIONS: '2' } });
    gateway.simulator.pause();
  });
  afterAll(() => gateway.dispose());

  it('a stream: Yoga\'s headers, CORS for the origin, the caller\'s x-request-id, a comment first, then the current state', async () => {
    const job = await submitJob(gateway, {}, asA);
    const stream = rawSse(gateway.httpUrl, { body: { query: FOLLOW, variables: { id: job.id } }, headers: { ...asA, origin: 'http://app.example', 'x-request-id': 'req-sse-1' } });
    await stream.waitForEvents(1);
    expect(await stream.status).toBe(200);
    expect(await stream.headers).toMatchObject({
      'content-type': 'text/event-stream',
      connection: 'keep-alive',
      'cache-control': 'no-cache',
      'content-encoding': 'none',
      'access-control-allow-origin': 'http://app.example',
      vary: 'Origin',
      'access-control-allow-methods': 'GET, POST, OPTIONS',
      'access-control-allow-headers': 'authorization, content-type, accept, x-request-id, x-graphql-csrf',
      'x-request-id': 'req-sse-1',
    });
    expect(stream.text()).toBe(`:\n\nevent: next\ndata: {"data":{"jobUpdates":{"id":"${job.id}","status":"IN_QUEUE"}}}\n\n`);
    stream.close();
    await waitFor(() => gateway.logs.some((l) => l.includes('"requestId":"req-sse-1"') && l.includes('"status":200') && l.includes('"msg":"request"')), { message: 'the access log line' });
  });

  it('an unknown job, a variable that does not coerce, an invalid query: the same events and statuses as before', async () => {
    const notFound = await answer(gateway, { query: FOLLOW, variables: { id: 'nope' } });
    expect(notFound.status).toBe(200);
    expect(notFound.text).toBe(`:\n\nevent: next\ndata: {"errors":[{"message":"No job with id \\"nope\\".","locations":[{"line":1,"column":28}],"path":["jobUpdates"],"extensions":{"code":"NOT_FOUND"}}]}\n\n${complete}`);
    const missing = await answer(gateway, { query: FOLLOW, variables: {} });
    expect(missing.status).toBe(400);
    expect(missing.text).toBe(`:\n\nevent: next\ndata: {"errors":[{"message":"Variable \\"$id\\" of required type \\"ID!\\" was not provided.","locations":[{"line":1,"column":16}],"extensions":{"code":"BAD_USER_INPUT","field":"id"}}]}\n\n${complete}`);
    const invalid = await answer(gateway, { query: 'subscription { jobUpdates(id: "x") { nope } }' });
    expect(invalid.status).toBe(200);
    expect(invalid.text).toBe(`:\n\nevent: next\ndata: {"errors":[{"message":"Cannot query field \\"nope\\" on type \\"Job\\".","locations":[{"line":1,"column":38}],"extensions":{"code":"BAD_USER_INPUT"}}]}\n\n${complete}`);
    const refused = await answer(gateway, { query: FOLLOW, variables: { id: 'x' } }, { authorization: 'Bearer wrong' });
    expect(refused.status).toBe(401);
    expect(refused.text).toContain('"extensions":{"code":"UNAUTHENTICATED"}');
    const query = await answer(gateway, { query: '{ __typename }' });
    expect(query.text).toBe(`:\n\nevent: next\ndata: {"data":{"__typename":"Query"}}\n\n${complete}`);
    for (const a of [notFound, missing, invalid, refused]) expect(a.headers['content-type']).toBe('text/event-stream');
  });

  it('a chunked body over MAX_BODY_BYTES (no content-length): Yoga answers 413, the connection is not cut', async () => {
    const status = new Promise<number | string>((resolve) => {
      const req = request(gateway.httpUrl, { method: 'POST', headers: { ...asA, 'content-type': 'application/json', accept: 'text/event-stream' } });
      req.on('response', (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      });
      req.on('error', (error: NodeJS.ErrnoException) => resolve(error.code ?? error.message));
      req.write(`{"query":"subscription { jobUpdates(id: \\"x\\") { id } }","variables":{"pad":"`);
      req.write('x'.repeat(70 * 1024)); // over the 64 KiB default
      req.end('"}}');
    });
    expect(await within(status, 10_000, 'the answer to an oversized chunked body')).toBe(413);
  });

  it('one slot per subscriber (RATE_LIMITED past it, as the resolver said it), given back when the client goes', async () => {
    const job = await submitJob(gateway, {}, asA);
    const held = [rawSse(gateway.httpUrl, { body: { query: FOLLOW, variables: { id: job.id } }, headers: asA }), rawSse(gateway.httpUrl, { body: { query: FOLLOW, variables: { id: job.id } }, headers: asA })];
    await Promise.all(held.map((s) => s.waitForEvents(1)));
    expect(await metric(gateway.baseUrl, 'gateway_sse_cohorts')).toBe(1);
    const third = await answer(gateway, { query: FOLLOW, variables: { id: job.id } });
    expect(third.status).toBe(200);
    expect(third.text).toBe(`:\n\nevent: next\ndata: {"errors":[{"message":"At most 2 open subscriptions per tenant; close one first.","locations":[{"line":1,"column":28}],"path":["jobUpdates"],"extensions":{"retryAfterSeconds":10,"code":"RATE_LIMITED"}}]}\n\n${complete}`);
    held[0]!.close();
    await waitFor(async () => (await metric(gateway.baseUrl, 'gateway_job_subscriptions')) === 1, { message: 'the closed stream to give its slot back' });
    const again = rawSse(gateway.httpUrl, { body: { query: FOLLOW, variables: { id: job.id } }, headers: asA });
    expect((await again.waitForEvents(1))[0].data.jobUpdates.status).toBe('IN_QUEUE');
    again.close();
    held[1]!.close();
    await waitFor(async () => (await metric(gateway.baseUrl, 'gateway_sse_streams')) === 0, { message: 'the streams to be closed' });
    expect(await metric(gateway.baseUrl, 'gateway_sse_cohorts')).toBe(0);
  });
});

describe('SSE route: token expiry', () => {
  let gateway: TestGateway;
  beforeAll(async () => {
    gateway = await startTestGateway({ env: { AUTH_JWT_SECRET: TEST_JWT_SECRET, AUTH_JWT_ISSUER: ISSUER, AUTH_JWT_AUDIENCE: AUDIENCE } });
    gateway.simulator.pause();
  });
  afterAll(() => gateway.dispose());

  it('a member whose token expires gets UNAUTHENTICATED and complete; the member with a longer token stays', async () => {
    const alice = { tenant: 'acme', sub: 'alice' };
    const job = await submitJob(gateway, {}, bearer(await hsToken(alice)));
    const long = rawSse(gateway.httpUrl, { body: { query: FOLLOW, variables: { id: job.id } }, headers: bearer(await hsToken(alice)) });
    await long.waitForEvents(1);
    const short = rawSse(gateway.httpUrl, { body: { query: FOLLOW, variables: { id: job.id } }, headers: bearer(await hsToken(alice, { expiresIn: 3 })) });
    await short.waitForEvents(1);
    expect(await metric(gateway.baseUrl, 'gateway_sse_cohorts')).toBe(1); // same user, same document: one cohort
    await within(short.ended, 10_000, 'the short token\'s stream to end at expiry');
    expect(short.events.at(-1)).toEqual({ errors: [{ message: 'The token has expired.', extensions: { code: 'UNAUTHENTICATED' } }] });
    expect(short.text()).toMatch(/event: complete\ndata:\n\n$/);
    expect(await metric(gateway.baseUrl, 'gateway_sse_streams')).toBe(1);
    gateway.simulator.resume();
    await within(long.ended, 15_000, 'the job to finish');
    expect(long.events.at(-1).data.jobUpdates.status).toBe('COMPLETED');
  });
});

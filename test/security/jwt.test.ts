/**
 * JWT sign-in on every transport: HS256 with a secret, RS256 and EdDSA from a JWKS (served on loopback,
 * rotated mid-test, fetched once rather than per request); every kind of bad token refused with
 * UNAUTHENTICATED (401 over HTTP, 4403 on a WebSocket); a WebSocket closed with 4403 when its token
 * expires and an SSE stream ended then.
 */
import { SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { subscribeSse, subscribeWs, transcript, wsClient } from '../helpers/clients.ts';
import { FOLLOW, startTestGateway, submitJob, SUBMIT, validInput, type TestGateway } from '../helpers/start-gateway.ts';
import { AUDIENCE, bearer, hsToken, issuedTokens, ISSUER, noneToken, startJwksServer, TEST_JWT_SECRET, type JwksServer } from '../helpers/tokens.ts';
import { within } from '../helpers/wait-for.ts';

const alice = { tenant: 'acme', sub: 'alice' };
const ME = 'query { usage { jobs } }';

/** Submits, then follows the job over SSE and over WebSocket to its end: all three transports accept the token. */
async function worksEverywhere(gateway: TestGateway, token: string) {
  const job = await submitJob(gateway, {}, bearer(token));
  expect(job.status).toBe('IN_QUEUE');
  const sse = subscribeSse(gateway.httpUrl, FOLLOW, { id: job.id }, bearer(token));
  const ws = subscribeWs(wsClient(gateway.wsUrl, bearer(token)), FOLLOW, { id: job.id });
  for (const recording of [sse, ws]) {
    expect(await within(recording.done, 15_000, 'the job to finish')).toBe('complete');
    expect(recording.events.at(-1)?.data?.jobUpdates.status).toBe('COMPLETED');
  }
  return job;
}

async function refusedEverywhere(gateway: TestGateway, token: string) {
  const before = gateway.simulator.jobCount();
  const http = await gateway.gql(SUBMIT, { input: validInput() }, bearer(token));
  expect(http.status).toBe(401);
  expect(http.errors?.[0]?.extensions?.code).toBe('UNAUTHENTICATED');
  expect(await subscribeSse(gateway.httpUrl, FOLLOW, { id: 'x' }, bearer(token)).status).toBe(401);
  const client = wsClient(gateway.wsUrl, bearer(token));
  subscribeWs(client, FOLLOW, { id: 'x' });
  expect((await within(client.closed, 10_000, 'the socket to close')).code).toBe(4403);
  expect(gateway.simulator.jobCount()).toBe(before);
}

describe('HS256 with AUTH_JWT_SECRET', () => {
  let gateway: TestGateway;
  beforeAll(async () => {
    gateway = await startTestGateway({ env: { AUTH_JWT_SECRET: TEST_JWT_SECRET, AUTH_JWT_ISSUER: ISSUER, AUTH_JWT_AUDIENCE: AUDIENCE } });
  });
  afterAll(() => gateway.dispose());

  it('works on HTTP, SSE and WebSocket, and records the user', async () => {
    const job = await worksEverywhere(gateway, await hsToken(alice));
    const read = await gateway.gql('query($id: ID!) { job(id: $id) { userId } }', { id: job.id }, bearer(await hsToken(alice)));
    expect(read.data?.job.userId).toBe('alice');
  });

  it('reads tenant, user and roles from nested claim paths (Hasura style)', async () => {
    const nested = await startTestGateway({
      env: {
        AUTH_JWT_SECRET: TEST_JWT_SECRET,
        AUTH_TENANT_CLAIM: 'https://hasura.io/jwt/claims.x-hasura-org-id',
        AUTH_USER_CLAIM: 'https://hasura.io/jwt/claims.x-hasura-user-id',
        AUTH_ROLES_CLAIM: 'https://hasura.io/jwt/claims.x-hasura-allowed-roles',
      },
    });
    const claims = { 'https://hasura.io/jwt/claims': { 'x-hasura-org-id': 'acme', 'x-hasura-user-id': 'u-7', 'x-hasura-allowed-roles': ['user'] } };
    const job = await submitJob(nested, {}, bearer(await hsToken(claims)));
    const read = await nested.gql('query($id: ID!) { job(id: $id) { userId } }', { id: job.id }, bearer(await hsToken(claims)));
    expect(read.data?.job.userId).toBe('u-7');
    expect((await nested.gql(ME, {}, bearer(await hsToken({ sub: 'no-tenant' })))).errors?.[0]?.extensions?.code).toBe('UNAUTHENTICATED');
    await nested.dispose();
  });

  it.each([
    ['expired', () => hsToken(alice, { expiresIn: -60 })],
    ['not yet valid', () => hsToken(alice, { notBefore: 600 })],
    ['of the wrong issuer', () => hsToken(alice, { issuer: 'https://evil.example.test/' })],
    ['for the wrong audience', () => hsToken(alice, { audience: 'someone-else' })],
    ['signed with another secret', () => hsToken(alice, { secret: 'another-secret-0123456789abcdef-0123456789' })],
    ['unsigned (alg none)', async () => noneToken(alice)],
    ['without a tenant claim', () => hsToken({ sub: 'alice' })],
    ['without an expiry', () => hsToken(alice, { expiresIn: null })],
    ['tampered with', async () => {
      const [header, , signature] = (await hsToken(alice)).split('.');
      const forged = `${header}.${Buffer.from(JSON.stringify({ ...alice, tenant: 'other', iss: ISSUER, aud: AUDIENCE, exp: 4e9 })).toString('base64url')}.${signature}`;
      issuedTokens.add(forged);
      return forged;
    }],
  ])('refuses a token %s with UNAUTHENTICATED on every transport', async (_name, mint) => {
    await refusedEverywhere(gateway, await mint());
  });

  it('closes a WebSocket with 4403 when its token expires, and ends an SSE stream then', async () => {
    gateway.simulator.pause(); // the job stays unfinished: only the expiry can end the streams
    try {
      const job = await submitJob(gateway, {}, bearer(await hsToken(alice)));
      const short = await hsToken(alice, { expiresIn: 4 }); // 3 to 4 s: room for a loaded machine to connect first
      const client = wsClient(gateway.wsUrl, bearer(short));
      const ws = subscribeWs(client, FOLLOW, { id: job.id });
      const sse = subscribeSse(gateway.httpUrl, FOLLOW, { id: job.id }, bearer(short));
      await ws.waitForEvents(1);
      await sse.waitForEvents(1);
      expect((await within(client.closed, 10_000, 'the socket to close at expiry')).code).toBe(4403);
      expect(await within(sse.done, 10_000, 'the SSE stream to end at expiry')).toBe('complete');
      expect(sse.events.at(-1)?.errors?.[0]?.extensions?.code).toBe('UNAUTHENTICATED');
    } finally {
      gateway.simulator.resume();
    }
  });
});

describe('RS256, ES256 and EdDSA from AUTH_JWKS_URL', () => {
  let gateway: TestGateway;
  let jwks: JwksServer;
  beforeAll(async () => {
    jwks = await startJwksServer();
    gateway = await startTestGateway({
      env: { AUTH_JWKS_URL: jwks.url, AUTH_JWT_ISSUER: ISSUER, AUTH_JWT_AUDIENCE: AUDIENCE, AUTH_JWKS_COOLDOWN_MS: '0' },
    });
  });
  afterAll(() => gateway.dispose());

  it('accepts RS256, ES256 and EdDSA tokens on every transport, fetching the key set once, not per request', async () => {
    await worksEverywhere(gateway, await jwks.token('RS256', alice));
    await worksEverywhere(gateway, await jwks.token('EdDSA', alice));
    expect((await gateway.gql(ME, {}, bearer(await jwks.token('ES256', alice)))).data?.usage).toBeDefined();
    for (let i = 0; i < 10; i++) {
      expect((await gateway.gql(ME, {}, bearer(await jwks.token(i % 2 ? 'RS256' : 'EdDSA', alice)))).data?.usage).toBeDefined();
    }
    expect(jwks.fetches()).toBe(1);
  });

  it('follows a key rotation: new kids are fetched, retired keys stop working', async () => {
    const old = await jwks.token('RS256', alice);
    expect((await gateway.gql(ME, {}, bearer(old))).status).toBe(200);
    await jwks.rotate();
    const fetched = jwks.fetches();
    expect((await gateway.gql(ME, {}, bearer(await jwks.token('EdDSA', alice)))).status).toBe(200);
    expect(jwks.fetches()).toBe(fetched + 1);
    await refusedEverywhere(gateway, old);
    await worksEverywhere(gateway, await jwks.token('RS256', alice));
  });

  it('refuses key confusion: an HS256 token "signed" with the RS256 public key', async () => {
    const key = jwks.key('RS256');
    const confused = await new SignJWT(alice)
      .setProtectedHeader({ alg: 'HS256', kid: key.kid })
      .setIssuer(ISSUER)
      .setAudience(AUDIENCE)
      .setExpirationTime('10m')
      .sign(new TextEncoder().encode(key.publicPem));
    issuedTokens.add(confused);
    await refusedEverywhere(gateway, confused);
  });

  it.each([
    ['expired', () => jwks.token('EdDSA', alice, { expiresIn: -60 })],
    ['not yet valid', () => jwks.token('RS256', alice, { notBefore: 600 })],
    ['of the wrong issuer', () => jwks.token('RS256', alice, { issuer: 'https://evil.example.test/' })],
    ['for the wrong audience', () => jwks.token('EdDSA', alice, { audience: 'someone-else' })],
    ['unsigned (alg none)', async () => noneToken(alice)],
    ['HS256 with a secret', () => hsToken(alice)],
  ])('refuses a token %s', async (_name, mint) => {
    await refusedEverywhere(gateway, await mint());
  });

  it('never shows a token in a response, a log line or a metric', async () => {
    const metrics = await (await fetch(`${gateway.baseUrl}/metrics`)).text();
    transcript.push(metrics);
    const texts = [...transcript, ...gateway.logs];
    for (const token of issuedTokens) expect(texts.some((t) => t.includes(token.split('.')[2] || token))).toBe(false);
  });
});

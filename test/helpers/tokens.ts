/**
 * Tokens for tests: HS256 with a shared secret, and RS256 / ES256 / EdDSA keys published by a JWKS server on a
 * loopback port (rotatable mid-test, counting its fetches). Every token minted here is remembered, so
 * the leak check (start-gateway.ts) can assert none ever appears in a response, log line or metric.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { exportJWK, exportSPKI, generateKeyPair, SignJWT, type CryptoKey, type JWK, type JWTPayload } from 'jose';
import { afterAll } from 'vitest';

export const TEST_JWT_SECRET = 'test-jwt-secret-0123456789abcdef-0123456789';
export const ISSUER = 'https://idp.example.test/';
export const AUDIENCE = 'fal-video-gateway';

/** Every token minted in this file's tests. */
export const issuedTokens = new Set<string>();

export interface TokenOptions {
  /** Seconds from now; negative for an expired token; null for none. Default 600. */
  expiresIn?: number | null;
  /** Seconds from now before which the token is not valid. */
  notBefore?: number;
  issuer?: string;
  audience?: string;
  kid?: string;
}

const nowSeconds = () => Math.floor(Date.now() / 1000);

async function sign(claims: JWTPayload, alg: string, key: CryptoKey | Uint8Array, options: TokenOptions): Promise<string> {
  const jwt = new SignJWT(claims)
    .setProtectedHeader({ alg, typ: 'JWT', ...(options.kid ? { kid: options.kid } : {}) })
    .setIssuedAt()
    .setIssuer(options.issuer ?? ISSUER)
    .setAudience(options.audience ?? AUDIENCE);
  if (options.expiresIn !== null) jwt.setExpirationTime(nowSeconds() + (options.expiresIn ?? 600));
  if (options.notBefore !== undefined) jwt.setNotBefore(nowSeconds() + options.notBefore);
  const token = await jwt.sign(key);
  issuedTokens.add(token);
  return token;
}

/** An HS256 token signed with `secret` (default TEST_JWT_SECRET). */
export function hsToken(claims: JWTPayload, options: TokenOptions & { secret?: string | Uint8Array } = {}): Promise<string> {
  const secret = typeof options.secret === 'string' || options.secret === undefined ? new TextEncoder().encode(options.secret ?? TEST_JWT_SECRET) : options.secret;
  return sign(claims, 'HS256', secret, options);
}

/** An unsigned token (`alg: none`), which must always be refused. */
export function noneToken(claims: JWTPayload): string {
  const part = (value: object) => Buffer.from(JSON.stringify(value)).toString('base64url');
  const token = `${part({ alg: 'none', typ: 'JWT' })}.${part({ iss: ISSUER, aud: AUDIENCE, exp: nowSeconds() + 600, ...claims })}.`;
  issuedTokens.add(token);
  return token;
}

export const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

type Alg = 'RS256' | 'ES256' | 'EdDSA';

interface SigningKey {
  kid: string;
  alg: Alg;
  privateKey: CryptoKey;
  publicJwk: JWK;
  publicPem: string;
}

async function newKey(alg: Alg, generation: number): Promise<SigningKey> {
  const { privateKey, publicKey } = await generateKeyPair(alg, alg === 'EdDSA' ? { crv: 'Ed25519' } : {});
  const kid = `${alg.toLowerCase()}-${generation}-${Math.random().toString(36).slice(2, 8)}`;
  return { kid, alg, privateKey, publicJwk: { ...(await exportJWK(publicKey)), kid, alg, use: 'sig' }, publicPem: await exportSPKI(publicKey) };
}

export interface JwksServer {
  url: string;
  /** Times the JWKS was fetched. */
  fetches(): number;
  /** The key currently published for `alg`. */
  key(alg: Alg): SigningKey;
  /** A token signed with the current `alg` key (its kid in the header). */
  token(alg: Alg, claims: JWTPayload, options?: TokenOptions): Promise<string>;
  /** Replaces every key with a new one (new kids); tokens of the old keys stop verifying once the set is re-read. */
  rotate(): Promise<void>;
  close(): Promise<void>;
}

export async function startJwksServer(): Promise<JwksServer> {
  let generation = 1;
  const all = async () => ({ RS256: await newKey('RS256', generation), ES256: await newKey('ES256', generation), EdDSA: await newKey('EdDSA', generation) });
  let keys = await all();
  let fetches = 0;
  const server = createServer((_request, response) => {
    fetches++;
    response.writeHead(200, { 'content-type': 'application/json' });
    response.end(JSON.stringify({ keys: Object.values(keys).map((key) => key.publicJwk) }));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const close = () => new Promise<void>((resolve) => server.close(() => resolve()));
  afterAll(close);
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/.well-known/jwks.json`,
    fetches: () => fetches,
    key: (alg) => keys[alg],
    token: (alg, claims, options = {}) => sign(claims, alg, keys[alg].privateKey, { kid: keys[alg].kid, ...options }),
    async rotate() {
      generation++;
      keys = await all();
    },
    close,
  };
}

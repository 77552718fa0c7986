/**
 * JWT sign-in with `jose`: HS256 with a shared secret, or RS256 / ES256 / EdDSA keys from a JWKS URL
 * (fetched once, cached, fetched again only for an unknown `kid` and at most once per cooldown: never
 * per request). `alg` is pinned to the configured kind, so `none` and key confusion (an HS256 token
 * "signed" with a public key) fail. `exp`, `nbf`, `iss` and `aud` are checked with a small leeway.
 * Tenant, user and roles come from configurable claim paths (see `claimAt`).
 */
import { createRemoteJWKSet, errors, jwtVerify, type JWTPayload, type JWTVerifyGetKey } from 'jose';
import type { AuthConfig } from '../config.ts';
import type { Caller } from '../domain/caller.ts';

/** What the verifier is configured with: the AuthConfig itself (its secret revealed only here, where it is used). */
export type JwtOptions = AuthConfig;

/** A verified caller, or the reason (safe to show: it never quotes the token). */
export type JwtOutcome = { caller: Caller } | { refused: string };

export const ADMIN_ROLE = 'admin';
const ASYMMETRIC = ['RS256', 'ES256', 'EdDSA'];

/** Three base64url parts: worth verifying as a JWT rather than looking up as an API key. */
export function looksLikeJwt(token: string): boolean {
  return /^[\w-]+\.[\w-]+\.[\w-]*$/.test(token);
}

/**
 * The value at a dotted path. A key may itself hold dots (Hasura's `https://hasura.io/jwt/claims`),
 * so the longest key present wins at each level: `https://hasura.io/jwt/claims.x-hasura-user-id`.
 */
export function claimAt(payload: unknown, path: string): unknown {
  if (payload === null || typeof payload !== 'object') return undefined;
  const record = payload as Record<string, unknown>;
  if (Object.hasOwn(record, path)) return record[path];
  const parts = path.split('.');
  for (let cut = parts.length - 1; cut >= 1; cut--) {
    const head = parts.slice(0, cut).join('.');
    if (Object.hasOwn(record, head)) return claimAt(record[head], parts.slice(cut).join('.'));
  }
  return undefined;
}

function rolesOf(value: unknown): string[] {
  if (Array.isArray(value)) return value.filter((role): role is string => typeof role === 'string');
  return typeof value === 'string' ? value.split(/[\s,]+/).filter(Boolean) : [];
}

function reasonFor(error: unknown): string {
  if (error instanceof errors.JWTExpired) return 'The token has expired.';
  if (error instanceof errors.JWTClaimValidationFailed) return `The token's "${error.claim}" claim is not acceptable.`;
  if (error instanceof errors.JOSEAlgNotAllowed) return "The token's signing algorithm is not accepted.";
  if (error instanceof errors.JWKSNoMatchingKey) return 'The token was signed with an unknown key.';
  if (error instanceof errors.JWSSignatureVerificationFailed) return "The token's signature is not valid.";
  return 'The token is not valid.';
}

export function createJwtVerifier(options: JwtOptions): (token: string) => Promise<JwtOutcome> {
  const secret = options.jwtSecret === null ? null : new TextEncoder().encode(options.jwtSecret.reveal());
  const jwks: JWTVerifyGetKey | null = options.jwksUrl
    ? createRemoteJWKSet(new URL(options.jwksUrl), { cooldownDuration: options.jwksCooldownMs, timeoutDuration: 5_000 })
    : null;
  if (!secret && !jwks) throw new Error('createJwtVerifier: a secret or a JWKS URL is required');
  const checks = {
    algorithms: secret ? ['HS256'] : ASYMMETRIC,
    // A token without exp would never expire (and a WebSocket under it never close): refused.
    requiredClaims: ['exp'],
    clockTolerance: options.clockToleranceSeconds,
    ...(options.issuer ? { issuer: options.issuer } : {}),
    ...(options.audience ? { audience: options.audience } : {}),
  };

  function callerOf(payload: JWTPayload): JwtOutcome {
    const tenant = claimAt(payload, options.tenantClaim);
    const user = claimAt(payload, options.userClaim);
    if (typeof tenant !== 'string' || tenant === '') return { refused: `The token has no "${options.tenantClaim}" claim.` };
    if (typeof user !== 'string' || user === '') return { refused: `The token has no "${options.userClaim}" claim.` };
    const admin = rolesOf(claimAt(payload, options.rolesClaim)).includes(ADMIN_ROLE);
    const caller: Caller = { tenant, userId: user, seesTenant: admin };
    if (typeof payload.exp === 'number') caller.expiresAt = payload.exp * 1000;
    return { caller };
  }

  return async (token) => {
    try {
      const { payload } = secret ? await jwtVerify(token, secret, checks) : await jwtVerify(token, jwks as JWTVerifyGetKey, checks);
      return callerOf(payload);
    } catch (error) {
      return { refused: reasonFor(error) };
    }
  };
}

/**
 * Who is calling: `Authorization: Bearer <credential>` (HTTP, SSE) or connection params
 * `{ authorization: "Bearer <credential>" }` (WebSocket). A credential is an API key, mapped to a tenant
 * (looked up by its SHA-256 digest, so neither the lookup nor a comparison runs in time that depends on a
 * key's bytes), or, when JWTs are configured, a token verified by jwt-auth.ts.
 */
import { hash } from 'node:crypto';
import { tenantCaller, type Caller } from '../domain/caller.ts';
import { createJwtVerifier, looksLikeJwt, type JwtOptions } from './jwt-auth.ts';

export const OPEN_TENANT = 'public';

/** A caller, or why the credential was refused: `refused` is safe to show a client, `reason` a short label for logs. */
export type AuthOutcome = { caller: Caller } | { refused: string; reason: RefusalReason };
export type RefusalReason = 'no key' | 'unknown key' | 'invalid token';

export interface Authenticator {
  /** The caller for an Authorization value, or why it is refused. */
  authenticate(authorization: unknown): Promise<AuthOutcome>;
  /** The caller for an Authorization value, or null when it is refused. */
  callerFor(authorization: unknown): Promise<Caller | null>;
  /** True when no credential is needed (no keys and no JWTs configured). */
  readonly open: boolean;
}

const digest = (value: string) => hash('sha256', value, 'base64');
const MISSING = 'A valid API key or token is required: send "Authorization: Bearer <credential>".';

/** `keys`: key -> tenant, or null for none; `jwt`: how to verify tokens, or null for no JWTs. Neither: one open tenant. */
export function createAuthenticator(keys: ReadonlyMap<string, string> | null, jwt: JwtOptions | null = null): Authenticator {
  const open = keys === null && jwt === null;
  const byDigest = new Map([...(keys ?? [])].map(([key, tenant]) => [digest(key), tenant]));
  const verify = jwt ? createJwtVerifier(jwt) : null;

  async function authenticate(authorization: unknown): Promise<AuthOutcome> {
    if (open) return { caller: tenantCaller(OPEN_TENANT) };
    if (typeof authorization !== 'string' || authorization === '') return { refused: MISSING, reason: 'no key' };
    const match = /^Bearer\s+(\S+)\s*$/i.exec(authorization);
    if (!match?.[1]) return { refused: MISSING, reason: 'unknown key' };
    const tenant = byDigest.get(digest(match[1]));
    if (tenant !== undefined) return { caller: tenantCaller(tenant) };
    if (verify && looksLikeJwt(match[1])) {
      const verified = await verify(match[1]);
      return 'caller' in verified ? verified : { refused: verified.refused, reason: 'invalid token' };
    }
    return { refused: MISSING, reason: 'unknown key' };
  }

  return {
    open,
    authenticate,
    async callerFor(authorization) {
      const outcome = await authenticate(authorization);
      return 'caller' in outcome ? outcome.caller : null;
    },
  };
}

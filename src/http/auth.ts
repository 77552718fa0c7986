/**
 * Who is calling: `Authorization: Bearer <key>` (HTTP, SSE) or connection params
 * `{ authorization: "Bearer <key>" }` (WebSocket), mapped to a tenant. Keys are looked up by their
 * SHA-256 digest, so neither the lookup nor a comparison runs in time that depends on a key's bytes.
 */
import { createHash } from 'node:crypto';
import { tenantCaller, type Caller } from '../domain/caller.ts';

export const OPEN_TENANT = 'public';

export interface Authenticator {
  /** The caller for an Authorization value, or null when keys are configured and it matches none. */
  callerFor(authorization: unknown): Caller | null;
  readonly open: boolean;
}

const digest = (value: string) => createHash('sha256').update(value).digest('base64');

/** `keys`: key -> tenant, or null for one open tenant. */
export function createAuthenticator(keys: ReadonlyMap<string, string> | null): Authenticator {
  if (keys === null) return { callerFor: () => tenantCaller(OPEN_TENANT), open: true };
  const byDigest = new Map([...keys].map(([key, tenant]) => [digest(key), tenant]));
  return {
    open: false,
    callerFor(authorization: unknown) {
      if (typeof authorization !== 'string') return null;
      const match = /^Bearer\s+(\S+)\s*$/i.exec(authorization);
      if (!match?.[1]) return null;
      const tenant = byDigest.get(digest(match[1]));
      return tenant === undefined ? null : tenantCaller(tenant);
    },
  };
}

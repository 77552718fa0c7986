/**
 * fal's webhook signature, checked exactly as documented (FAL_QUEUE.md section 3): the headers
 * X-Fal-Webhook-Request-Id, -User-Id, -Timestamp (unix s) and -Signature (hex Ed25519) over
 * `request_id \n user_id \n timestamp \n hex(sha256(raw body))`, the timestamp within 300 s, every
 * key of fal's JWKS tried. The JWKS is fetched, cached (24 h) and cooled down by jose's
 * createRemoteJWKSet, and refetched when no cached key verifies (a rotated key); the signature itself
 * is checked by node:crypto. A signature seen before within the window is a replay.
 */
import { createHash, KeyObject, verify } from 'node:crypto';
import { createRemoteJWKSet, importJWK, type JWK } from 'jose';

export type WebhookRejection = 'missing' | 'stale' | 'bad_signature' | 'replayed' | 'no_keys';

export type WebhookVerdict = { ok: true; requestId: string; userId: string } | { ok: false; reason: WebhookRejection };

export interface FalWebhookVerifier {
  verify(header: (name: string) => string | null, rawBody: Uint8Array): Promise<WebhookVerdict>;
}

export interface FalWebhookVerifierOptions {
  jwksUrl: string;
  /** Epoch ms (tests inject). */
  now?: () => number;
  toleranceSeconds?: number;
  /** Least time between two JWKS fetches caused by unknown signatures. */
  cooldownMs?: number;
}

const SEEN_LIMIT = 100_000;

export function createFalWebhookVerifier(options: FalWebhookVerifierOptions): FalWebhookVerifier {
  const { now = Date.now, toleranceSeconds = 300, cooldownMs = 30_000 } = options;
  const jwks = createRemoteJWKSet(new URL(options.jwksUrl), { cacheMaxAge: 24 * 3600_000, cooldownDuration: cooldownMs, timeoutDuration: 5_000 });
  /** Imported keys, per JWKS document (re-imported when the set changes). */
  let imported: { source: string; keys: KeyObject[] } | null = null;
  /** Signatures accepted recently, with when they stop mattering (the timestamp window). */
  const seen = new Map<string, number>();

  async function keys(reload: boolean): Promise<KeyObject[]> {
    if (reload || !jwks.fresh || !jwks.jwks()) await jwks.reload();
    const set = jwks.jwks();
    const source = JSON.stringify(set ?? null);
    if (imported?.source === source) return imported.keys;
    const usable = (set?.keys ?? []).filter((key: JWK) => key.kty === 'OKP' && key.crv === 'Ed25519' && typeof key.x === 'string');
    const list = await Promise.all(usable.map(async (key: JWK) => KeyObject.from((await importJWK({ kty: 'OKP', crv: 'Ed25519', x: key.x }, 'Ed25519')) as CryptoKey)));
    imported = { source, keys: list };
    return list;
  }

  function remember(signature: string, at: number) {
    for (const [old, until] of seen) {
      if (until > at && seen.size < SEEN_LIMIT) break;
      seen.delete(old);
    }
    seen.set(signature, at + 2 * toleranceSeconds * 1000);
  }

  return {
    async verify(header, rawBody) {
      const requestId = header('x-fal-webhook-request-id');
      const userId = header('x-fal-webhook-user-id');
      const timestamp = header('x-fal-webhook-timestamp');
      const signature = header('x-fal-webhook-signature')?.toLowerCase() ?? null;
      if (!requestId || userId === null || !timestamp || !signature) return { ok: false, reason: 'missing' };
      const at = now();
      if (!/^\d{1,12}$/.test(timestamp) || Math.abs(at / 1000 - Number(timestamp)) > toleranceSeconds) return { ok: false, reason: 'stale' };
      if (!/^[0-9a-f]{128}$/.test(signature)) return { ok: false, reason: 'bad_signature' };
      const bodyHash = createHash('sha256').update(rawBody).digest('hex');
      const message = Buffer.from(`${requestId}\n${userId}\n${timestamp}\n${bodyHash}`, 'utf8');
      const bytes = Buffer.from(signature, 'hex');
      const matches = (list: KeyObject[]) => list.some((key) => verify(null, message, key, bytes));
      let list: KeyObject[];
      try {
        list = await keys(false);
        if (!matches(list) && !jwks.coolingDown) list = await keys(true);
      } catch {
        return { ok: false, reason: 'no_keys' };
      }
      if (!matches(list)) return { ok: false, reason: 'bad_signature' };
      if (seen.has(signature)) return { ok: false, reason: 'replayed' };
      remember(signature, at);
      return { ok: true, requestId, userId };
    },
  };
}

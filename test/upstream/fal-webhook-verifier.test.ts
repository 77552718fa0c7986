/**
 * fal's webhook signature check on its own, against a JWKS served over loopback HTTP: every key
 * tried, a rotated key fetched when no cached key matches (at most once per cooldown), the 300 s
 * window both ways, a replay refused, and an unreachable JWKS refused (never accepted).
 */
import { describe, expect, it } from 'vitest';
import { createFalWebhookVerifier } from '../../src/upstream/fal-webhook-verifier.ts';
import { startWebhookSigner } from '../helpers/webhook-signer.ts';

const body = '{"request_id":"req-1","status":"OK","payload":null,"payload_error":"not JSON serializable"}';
const bytes = new TextEncoder().encode(body);
const header = (headers: Record<string, string>) => (name: string) => headers[name] ?? null;

describe('fal webhook verifier', () => {
  it('accepts fal\'s signature (second key of the set), and fetches a rotated key once the cooldown allows', async () => {
    const signer = await startWebhookSigner();
    let clock = Date.now();
    const verifier = createFalWebhookVerifier({ jwksUrl: signer.jwksUrl, cooldownMs: 0, now: () => clock });
    const at = Math.floor(clock / 1000);
    expect(await verifier.verify(header(signer.sign(body, { requestId: 'req-1', timestamp: at })), bytes)).toEqual({ ok: true, requestId: 'req-1', userId: 'user-1' });
    expect(signer.jwksFetches()).toBe(1);
    signer.rotate();
    expect(await verifier.verify(header(signer.sign(body, { requestId: 'req-1', timestamp: at + 1 })), bytes)).toMatchObject({ ok: true });
    expect(signer.jwksFetches()).toBe(2);
    clock += 1000;
    expect(await verifier.verify(header(signer.sign(body, { requestId: 'req-1', timestamp: at + 1 })), bytes)).toEqual({ ok: false, reason: 'replayed' });
    await signer.close();
  });

  it('refuses: unknown key (one refetch per cooldown), stale or future timestamps, missing headers, another body, no JWKS', async () => {
    const signer = await startWebhookSigner();
    const verifier = createFalWebhookVerifier({ jwksUrl: signer.jwksUrl, cooldownMs: 60_000 });
    const at = Math.floor(Date.now() / 1000);
    const forged = header(signer.sign(body, { requestId: 'req-1', timestamp: at, key: signer.strangerKey() }));
    expect(await verifier.verify(forged, bytes)).toEqual({ ok: false, reason: 'bad_signature' });
    expect(await verifier.verify(forged, bytes)).toEqual({ ok: false, reason: 'bad_signature' });
    expect(signer.jwksFetches()).toBe(1); // forgeries cannot make us hammer fal's JWKS
    expect(await verifier.verify(header(signer.sign(body, { requestId: 'req-1', timestamp: at - 301 })), bytes)).toEqual({ ok: false, reason: 'stale' });
    expect(await verifier.verify(header(signer.sign(body, { requestId: 'req-1', timestamp: at + 400 })), bytes)).toEqual({ ok: false, reason: 'stale' });
    expect(await verifier.verify(header({}), bytes)).toEqual({ ok: false, reason: 'missing' });
    const signed = signer.sign(body, { requestId: 'req-1', timestamp: at });
    expect(await verifier.verify(header(signed), new TextEncoder().encode(body.replace('OK', 'ERROR')))).toEqual({ ok: false, reason: 'bad_signature' });
    expect(await verifier.verify(header({ ...signed, 'x-fal-webhook-user-id': 'someone-else' }), bytes)).toEqual({ ok: false, reason: 'bad_signature' });
    await signer.close();
    const orphan = createFalWebhookVerifier({ jwksUrl: signer.jwksUrl });
    expect(await orphan.verify(header(signed), bytes)).toEqual({ ok: false, reason: 'no_keys' });
  });
});

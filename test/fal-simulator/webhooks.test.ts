/**
 * Signed completion webhooks (FAL_QUEUE.md section 3): payloads, the Ed25519 signature checked with
 * node:crypto against the simulator's JWKS, retries, and the fault switches.
 */
import { createPublicKey, verify } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { webhookMessage, type FalSimulator } from '../../src/fal-simulator/index.ts';
import { waitFor } from '../helpers/wait-for.ts';
import { start, startReceiver, submit, type Received } from './sim-helpers.ts';

/** Verifies a received webhook as a gateway would: every JWKS key tried. */
async function signatureValid(sim: FalSimulator, hook: Received): Promise<boolean> {
  const jwks = (await (await fetch(sim.jwksUrl)).json()) as { keys: Array<Record<string, string>> };
  const h = hook.headers as Record<string, string>;
  const message = webhookMessage(h['x-fal-webhook-request-id']!, h['x-fal-webhook-user-id']!, h['x-fal-webhook-timestamp']!, hook.body);
  return jwks.keys.some((jwk) => verify(null, Buffer.from(message), createPublicKey({ key: jwk, format: 'jwk' }), Buffer.from(h['x-fal-webhook-signature']!, 'hex')));
}

const deliveries = (sim: FalSimulator, n: number, message: string) => waitFor(() => sim.webhookDeliveries.length >= n, { message });

describe('webhooks', () => {
  it('POSTs the OK payload, signed; the JWKS is served at jwksUrl', async () => {
    const sim = await start({ webhookUserId: 'user-42' });
    const receiver = await startReceiver();
    const id = await submit(sim, { webhook: receiver.url });
    await deliveries(sim, 1, 'the webhook');
    const [hook] = receiver.received;
    const body = JSON.parse(hook!.body);
    expect(body).toMatchObject({ request_id: id, gateway_request_id: id, status: 'OK', payload: { video: { content_type: 'video/mp4', file_name: 'output.mp4' } } });
    const video = await fetch(body.payload.video.url);
    expect(body.payload.video.file_size).toBe((await video.arrayBuffer()).byteLength);
    expect(hook!.headers['x-fal-webhook-request-id']).toBe(id);
    expect(hook!.headers['x-fal-webhook-user-id']).toBe('user-42');
    expect(Math.abs(Number(hook!.headers['x-fal-webhook-timestamp']) - Date.now() / 1000)).toBeLessThan(10);
    expect(hook!.headers['x-fal-webhook-signature']).toMatch(/^[0-9a-f]{128}$/);
    expect(await signatureValid(sim, hook!)).toBe(true);
    expect(sim.jwksUrl).toBe(`${sim.url}/.well-known/jwks.json`);
    const jwks = await (await fetch(sim.jwksUrl)).json();
    expect(jwks.keys[0]).toMatchObject({ kty: 'OKP', crv: 'Ed25519', x: expect.any(String), kid: expect.any(String) });
    expect(sim.webhookDeliveries).toEqual([{ requestId: id, attempt: 1, status: 200, at: expect.any(Number) }]);
  });

  it('a failed job gets the ERROR payload', async () => {
    const sim = await start();
    const receiver = await startReceiver();
    await submit(sim, { webhook: receiver.url, prompt: 'boom [sim:fail]' });
    await deliveries(sim, 1, 'the webhook');
    expect(JSON.parse(receiver.received[0]!.body)).toMatchObject({ status: 'ERROR', error: 'Invalid status code: 500', payload: { detail: 'Internal Server Error' } });
  });

  it('a non-2xx answer is retried every webhookRetryMs until a 2xx', async () => {
    const sim = await start({ webhookRetryMs: 20 });
    const receiver = await startReceiver([500, 503]);
    const id = await submit(sim, { webhook: receiver.url });
    await deliveries(sim, 3, 'three attempts');
    expect(sim.webhookDeliveries.map((d) => [d.requestId, d.attempt, d.status])).toEqual([[id, 1, 500], [id, 2, 503], [id, 3, 200]]);
    expect(receiver.received).toHaveLength(3);
    expect(new Set(receiver.received.map((r) => r.body)).size).toBe(1);
  });

  it('a connection error is retried, 10 attempts in all', async () => {
    const sim = await start({ webhookRetryMs: 10 });
    const receiver = await startReceiver();
    await receiver.close();
    await submit(sim, { webhook: receiver.url });
    await deliveries(sim, 10, 'ten attempts');
    expect(sim.webhookDeliveries.map((d) => d.status)).toEqual(Array(10).fill(null));
    expect(sim.webhookDeliveries.map((d) => d.attempt)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
  });

  it("'bad-signature': the signature does not verify against the JWKS", async () => {
    const sim = await start();
    const receiver = await startReceiver();
    sim.addFault({ operation: 'webhook', kind: 'bad-signature' });
    await submit(sim, { webhook: receiver.url });
    await deliveries(sim, 1, 'the webhook');
    expect(await signatureValid(sim, receiver.received[0]!)).toBe(false);
  });

  it("'unsigned': no signature header", async () => {
    const sim = await start();
    const receiver = await startReceiver();
    sim.addFault({ operation: 'webhook', kind: 'unsigned' });
    await submit(sim, { webhook: receiver.url });
    await deliveries(sim, 1, 'the webhook');
    expect(receiver.received[0]!.headers['x-fal-webhook-signature']).toBeUndefined();
    expect(receiver.received[0]!.headers['x-fal-webhook-request-id']).toBeDefined();
  });

  it("'replay': the same delivery is sent twice", async () => {
    const sim = await start();
    const receiver = await startReceiver();
    sim.addFault({ operation: 'webhook', kind: 'replay' });
    await submit(sim, { webhook: receiver.url });
    await deliveries(sim, 2, 'two sends');
    const [first, second] = receiver.received;
    expect(second!.body).toBe(first!.body);
    expect(second!.headers['x-fal-webhook-signature']).toBe(first!.headers['x-fal-webhook-signature']);
    expect(second!.headers['x-fal-webhook-timestamp']).toBe(first!.headers['x-fal-webhook-timestamp']);
    expect(await signatureValid(sim, second!)).toBe(true);
  });

  it("'late-timestamp': validly signed, but 10 minutes old", async () => {
    const sim = await start();
    const receiver = await startReceiver();
    sim.addFault({ operation: 'webhook', kind: 'late-timestamp' });
    await submit(sim, { webhook: receiver.url });
    await deliveries(sim, 1, 'the webhook');
    const hook = receiver.received[0]!;
    expect(Date.now() / 1000 - Number(hook.headers['x-fal-webhook-timestamp'])).toBeGreaterThan(590);
    expect(await signatureValid(sim, hook)).toBe(true);
  });

  it("'fail-delivery': that attempt is not sent, counts as failed, and is retried", async () => {
    const sim = await start({ webhookRetryMs: 20 });
    const receiver = await startReceiver();
    sim.addFault({ operation: 'webhook', kind: 'fail-delivery', times: 2 });
    await submit(sim, { webhook: receiver.url });
    await deliveries(sim, 3, 'the third attempt');
    expect(sim.webhookDeliveries.map((d) => d.status)).toEqual([null, null, 200]);
    expect(receiver.received).toHaveLength(1);
  });

  it("'payload-error': payload null with a payload_error", async () => {
    const sim = await start();
    const receiver = await startReceiver();
    sim.addFault({ operation: 'webhook', kind: 'payload-error' });
    await submit(sim, { webhook: receiver.url });
    await deliveries(sim, 1, 'the webhook');
    expect(JSON.parse(receiver.received[0]!.body)).toMatchObject({ status: 'OK', payload: null, payload_error: expect.any(String) });
  });

  it("'any' faults never touch webhooks", async () => {
    const sim = await start();
    const receiver = await startReceiver();
    await submit(sim, { webhook: receiver.url });
    sim.addFault({ operation: 'any', kind: 'http', status: 500, times: Infinity });
    await deliveries(sim, 1, 'the webhook');
    expect(sim.webhookDeliveries[0]!.status).toBe(200);
  });

  it('a fal_webhook that is not an http(s) URL is refused with 422', async () => {
    const sim = await start();
    const refused = await fetch(`${sim.url}/fal-ai/kling-video/v2.5-turbo/pro/image-to-video?fal_webhook=notaurl`, { method: 'POST', body: '{"prompt":"p","image_url":"u"}' });
    expect(refused.status).toBe(422);
    expect(await refused.json()).toMatchObject({ detail: [{ loc: ['query', 'fal_webhook'] }] });
    expect(sim.jobCount()).toBe(0);
  });
});

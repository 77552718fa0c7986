/**
 * FAL_WEBHOOK=on: submits carry fal_webhook, and a signed webhook completes a job at once (the result
 * fetched from fal, no status poll); forged, replayed, stale, unsigned or tampered deliveries get 401,
 * change nothing and are counted. Polling is slowed to a minute here, so only the webhook can finish
 * the job within the test.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../helpers/gateway-process.ts';
import { GET_JOB, startSimulator, startTestGateway, submitJob, TEST_FAL_KEY, type TestGateway } from '../helpers/start-gateway.ts';
import { waitFor, within } from '../helpers/wait-for.ts';
import { startWebhookSigner, type WebhookSigner } from '../helpers/webhook-signer.ts';
import type { FalSimulator } from '../../src/fal-simulator/index.ts';

const PUBLIC_URL = 'https://gateway.example.test';
let signer: WebhookSigner;
let gateway: TestGateway;

beforeAll(async () => {
  signer = await startWebhookSigner();
  gateway = await startTestGateway({
    env: { FAL_UPDATES: 'poll', POLL_INTERVAL_MS: '60000', FAL_WEBHOOK: 'on', FAL_WEBHOOK_JWKS_URL: signer.jwksUrl, PUBLIC_URL },
  });
});
afterAll(() => gateway?.dispose());

/** Submits a job and waits until fal (the simulator) has finished it, asking fal's result endpoint (not status). */
async function finishedUpstream() {
  const job = await submitJob(gateway);
  const resultUrl = `${gateway.simulator.url}/fal-ai/kling-video/requests/${job.requestId}`;
  await waitFor(async () => (await fetch(resultUrl, { headers: { authorization: `Key ${TEST_FAL_KEY}` } })).status === 200, { message: 'the simulated run to finish' });
  return job;
}

const okBody = (requestId: string) =>
  JSON.stringify({ request_id: requestId, gateway_request_id: requestId, status: 'OK', payload: { video: { url: 'https://elsewhere.example/forged.mp4' } } });

function deliver(jobId: string, body: string, headers: Record<string, string>) {
  return fetch(`${gateway.baseUrl}/fal/webhook?job=${encodeURIComponent(jobId)}`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body });
}

async function jobNow(id: string) {
  return (await gateway.gql(GET_JOB, { id })).data!.job;
}

async function metric(name: string, label: string): Promise<number> {
  const text = await (await fetch(`${gateway.baseUrl}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(`${name}{${label}}`));
  return line ? Number(line.split(' ').at(-1)) : 0;
}

describe('fal webhooks', () => {
  it('the submit carries fal_webhook with PUBLIC_URL; a signed webhook completes the job with no status GET', { timeout: 20_000 }, async () => {
    const job = await finishedUpstream();
    const submit = gateway.simulator.requests.filter((r) => r.method === 'POST').at(-1)!;
    const hook = new URL(submit.path, 'http://x').searchParams.get('fal_webhook');
    expect(hook).toBe(`${PUBLIC_URL}/fal/webhook?job=${job.id}`);

    const started = Date.now();
    const signedAt = Math.floor(Date.now() / 1000);
    const answer = await within(deliver(job.id, okBody(job.requestId), signer.sign(okBody(job.requestId), { requestId: job.requestId, timestamp: signedAt })), 2000, 'the webhook answer');
    expect(answer.status).toBe(200);
    const done = await waitFor(async () => {
      const current = await jobNow(job.id);
      return current.status === 'COMPLETED' ? current : null;
    }, { message: 'the job to complete after the webhook' });
    // The payload was only a hint: the video is the one fetched from fal's result, not the payload's.
    expect(done.video.url).toBe(`${gateway.simulator.url}/files/${job.requestId}/output.mp4`);
    expect(gateway.simulator.statusCalls(job.requestId)).toBe(0);
    expect(gateway.simulator.requests.filter((r) => r.at >= started && r.path.includes('/status'))).toEqual([]);

    // fal retries (signed anew, another timestamp): accepted, idempotent, nothing changes.
    const again = await deliver(job.id, okBody(job.requestId), signer.sign(okBody(job.requestId), { requestId: job.requestId, timestamp: signedAt + 1 }));
    expect(again.status).toBe(200);
    await waitFor(async () => (await metric('gateway_fal_webhooks_total', 'outcome="duplicate"')) === 1, { message: 'the repeat counted as a duplicate' });
    expect(await jobNow(job.id)).toEqual(done);
  });

  it('forged, replayed, stale, unsigned and tampered deliveries: 401, nothing changes, each counted', { timeout: 20_000 }, async () => {
    const job = await finishedUpstream();
    const other = await finishedUpstream();
    const before = await jobNow(job.id);
    expect(before.status).not.toBe('COMPLETED');
    const body = okBody(job.requestId);
    const now = Math.floor(Date.now() / 1000);
    const cases: Array<[string, string, Record<string, string>]> = [
      ['bad_signature', body, signer.sign(body, { requestId: job.requestId, key: signer.strangerKey() })],
      ['stale', body, signer.sign(body, { requestId: job.requestId, timestamp: now - 301 })],
      ['stale', body, signer.sign(body, { requestId: job.requestId, timestamp: now + 400 })],
      ['missing', body, {}],
      ['bad_signature', body.replace('"OK"', '"ERROR"'), signer.sign(body, { requestId: job.requestId })],
      ['bad_signature', body, { ...signer.sign(body, { requestId: job.requestId }), 'x-fal-webhook-request-id': other.requestId }],
    ];
    for (const [reason, payload, headers] of cases) {
      const answer = await deliver(job.id, payload, headers);
      expect(answer.status, reason).toBe(401);
      expect(JSON.stringify(await answer.json())).not.toContain(job.requestId);
    }
    expect(await metric('gateway_fal_webhooks_rejected_total', 'reason="bad_signature"')).toBe(3);
    expect(await metric('gateway_fal_webhooks_rejected_total', 'reason="stale"')).toBe(2);
    expect(await metric('gateway_fal_webhooks_rejected_total', 'reason="missing"')).toBe(1);

    // A valid delivery for the other job, then the very same delivery again: a replay.
    const otherBody = okBody(other.requestId);
    const signed = signer.sign(otherBody, { requestId: other.requestId });
    expect((await deliver(other.id, otherBody, signed)).status).toBe(200);
    await waitFor(async () => (await jobNow(other.id)).status === 'COMPLETED', { message: 'the other job to complete' });
    const otherDone = await jobNow(other.id);
    expect((await deliver(other.id, otherBody, signed)).status).toBe(401);
    expect(await metric('gateway_fal_webhooks_rejected_total', 'reason="replayed"')).toBe(1);
    expect(await jobNow(other.id)).toEqual(otherDone);

    // Nothing changed the first job; no key the JWKS lacks made us fetch it more than the cooldown allows.
    expect(await jobNow(job.id)).toEqual(before);
    expect(signer.jwksFetches()).toBeLessThanOrEqual(3);
  });

  it('GET on the webhook path: 405', async () => {
    expect((await fetch(`${gateway.baseUrl}/fal/webhook`)).status).toBe(405);
  });
});

/** fal's side, played by the simulator itself: signed deliveries, its JWKS, its faults and retries. */
describe('fal webhooks from the simulator, end to end', () => {
  async function webhookGateway() {
    const port = await freePort();
    const simulator = await startSimulator({ webhookRetryMs: 100 });
    const hooks = simulator;
    const env = { PORT: String(port), PUBLIC_URL: `http://127.0.0.1:${port}`, FAL_UPDATES: 'poll', POLL_INTERVAL_MS: '60000', FAL_WEBHOOK: 'on', FAL_WEBHOOK_JWKS_URL: hooks.jwksUrl };
    const gw = await startTestGateway({ env, sharedSimulator: simulator });
    return { gw, simulator, hooks };
  }
  const deliveries = (hooks: FalSimulator, requestId: string) => hooks.webhookDeliveries.filter((d) => d.requestId === requestId);

  it('webhook on: a job completes with no status GET after the webhook (nor before: polling is a minute here)', { timeout: 30_000 }, async () => {
    const { gw, simulator, hooks } = await webhookGateway();
    const job = await submitJob(gw);
    const done = await waitFor(async () => {
      const current = (await gw.gql(GET_JOB, { id: job.id })).data!.job;
      return current.status === 'COMPLETED' ? current : null;
    }, { message: 'the job to complete through the webhook' });
    expect(done.video.url).toBeTruthy();
    expect(deliveries(hooks, job.requestId).map((d) => d.status)).toEqual([200]);
    expect(simulator.statusCalls(job.requestId)).toBe(0);
    await gw.dispose();
    await simulator.close();
  });

  it('payload null with payload_error: only a hint, the video comes from fal\'s result', { timeout: 30_000 }, async () => {
    const { gw, simulator, hooks } = await webhookGateway();
    simulator.addFault({ operation: 'webhook', kind: 'payload-error' });
    const job = await submitJob(gw);
    const done = await waitFor(async () => {
      const current = (await gw.gql(GET_JOB, { id: job.id })).data!.job;
      return current.status === 'COMPLETED' ? current : null;
    }, { message: 'the job to complete through the webhook' });
    expect(done.video.url).toMatch(/output\.mp4$/);
    expect(deliveries(hooks, job.requestId).map((d) => d.status)).toEqual([200]);
    expect(simulator.statusCalls(job.requestId)).toBe(0);
    await gw.dispose();
    await simulator.close();
  });

  for (const kind of ['bad-signature', 'unsigned', 'late-timestamp', 'replay'] as const) {
    it(`a delivery with fault '${kind}' gets 401 and changes nothing; fal's next attempt completes the job once`, { timeout: 30_000 }, async () => {
      const { gw, simulator, hooks } = await webhookGateway();
      simulator.addFault({ operation: 'webhook', kind });
      const job = await submitJob(gw);
      await waitFor(async () => (await gw.gql(GET_JOB, { id: job.id })).data!.job.status === 'COMPLETED', { message: 'the job to complete through a later delivery' });
      const statuses = deliveries(hooks, job.requestId).map((d) => d.status);
      expect(statuses).toContain(401);
      expect(statuses).toContain(200);
      expect(simulator.statusCalls(job.requestId)).toBe(0);
      const text = await (await fetch(`${gw.baseUrl}/metrics`)).text();
      expect(text).toMatch(/gateway_fal_webhooks_rejected_total\{reason="[a-z_]+"\} 1/);
      await gw.dispose();
      await simulator.close();
    });
  }
});

/**
 * The platform API client (issue 9, item 12) against the simulator's platform endpoints: an
 * endpoint's requests with their inputs, and billing events (5 s: 350,000,000 nano-USD, 10 s:
 * 700,000,000; failed and cancelled runs none).
 */
import { Pool } from 'undici';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createFalPlatformClient } from '../../src/upstream/fal-platform-client.ts';
import { startTestGateway, submitJob, TEST_FAL_KEY, type TestGateway } from '../helpers/start-gateway.ts';
import { waitFor } from '../helpers/wait-for.ts';
import { GET_JOB } from '../helpers/start-gateway.ts';

const ENDPOINT = 'fal-ai/kling-video/v2.5-turbo/pro/image-to-video';
let gateway: TestGateway;
let pool: Pool;
beforeAll(async () => {
  gateway = await startTestGateway();
  pool = new Pool(gateway.simulator.url);
});
afterAll(async () => {
  await pool.close();
  await gateway.dispose();
});

const client = (key = TEST_FAL_KEY) =>
  createFalPlatformClient({ dispatcher: pool, baseUrl: gateway.simulator.url, credential: () => key, authScheme: 'Key', retry: { maxRetries: 0, baseDelayMs: 1, maxDelayMs: 1 } });

async function finished(id: string) {
  return waitFor(async () => {
    const job = (await gateway.gql(GET_JOB, { id })).data?.job;
    return job && ['COMPLETED', 'FAILED'].includes(job.status) ? job : null;
  }, { message: `job ${id} to finish` });
}

it('lists the endpoint requests with their inputs, and what each successful one cost', async () => {
  const start = new Date(Date.now() - 1000);
  const five = await finished((await submitJob(gateway, { prompt: 'five seconds' })).id);
  const ten = await finished((await submitJob(gateway, { prompt: 'ten seconds', duration: 'SECONDS_10', cfgScale: 0.25 })).id);
  const failed = await finished((await submitJob(gateway, { prompt: 'fails [sim:fail]' })).id);
  const end = new Date(Date.now() + 1000);

  const requests = await client().listRequests({ endpointId: ENDPOINT, start, end });
  const byId = new Map(requests.map((r) => [r.requestId, r]));
  expect(byId.get(ten.requestId)).toMatchObject({
    statusCode: 200,
    input: { prompt: 'ten seconds', image_url: 'https://images.example.com/cat.png', duration: '10', cfg_scale: 0.25 },
    videoInput: { prompt: 'ten seconds', imageUrl: 'https://images.example.com/cat.png', duration: '10', negativePrompt: null, cfgScale: 0.25 },
  });
  expect(byId.get(five.requestId)?.videoInput?.duration).toBe('5');
  expect(byId.get(failed.requestId)?.statusCode).toBe(500);
  expect(Date.parse(byId.get(five.requestId)!.startedAt!)).toBeGreaterThanOrEqual(start.getTime());
  expect(await client().listRequests({ endpointId: 'fal-ai/other-model', start, end })).toEqual([]);

  const events = await client().billingEvents({ endpointId: ENDPOINT, requestIds: [five.requestId, ten.requestId, failed.requestId], start, end });
  expect(Object.fromEntries(events.map((e) => [e.requestId, e.costNanoUsd]))).toEqual({ [five.requestId]: 350_000_000, [ten.requestId]: 700_000_000 });
});

it('a refused credential is an UpstreamError that never carries the key', async () => {
  const error = await client('wrong-key-id:wrong-secret-123456').listRequests({ endpointId: ENDPOINT, start: new Date(0), end: new Date() }).catch((e: Error) => e);
  expect(error).toMatchObject({ name: 'UpstreamError', kind: 'unauthorized' });
  expect(String((error as Error).message)).not.toContain('wrong-secret');
});

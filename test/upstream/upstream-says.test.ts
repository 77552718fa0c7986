/**
 * Issue 9, item 10: an upstream that echoes the caller's Authorization header into what it says
 * (status error text, log lines, the result's video URL, the result's error text). Everything it
 * says is redacted before it is stored, so no client ever sees the key (the helper also checks
 * every response and log line of this file for it).
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { GET_JOB, startTestGateway, submitJob, TEST_FAL_KEY, type TestGateway } from '../helpers/start-gateway.ts';
import { waitFor } from '../helpers/wait-for.ts';

let gateway: TestGateway;
beforeAll(async () => {
  gateway = await startTestGateway();
  gateway.simulator.echoAuthorization(true);
});
afterAll(() => gateway.dispose());

const [keyId, keySecret] = TEST_FAL_KEY.split(':') as [string, string];

async function finished(id: string) {
  return waitFor(async () => {
    const job = (await gateway.gql(GET_JOB, { id })).data?.job;
    return job && ['COMPLETED', 'FAILED', 'CANCELLED'].includes(job.status) ? job : null;
  }, { message: `job ${id} to finish` });
}

function expectClean(job: unknown) {
  const text = JSON.stringify(job);
  expect(text).not.toContain(keyId);
  expect(text).not.toContain(keySecret);
  expect(text).toContain('[redacted]');
}

it('log lines and the video URL that echo the key are stored redacted', async () => {
  const job = await finished((await submitJob(gateway)).id);
  expect(job.status).toBe('COMPLETED');
  expect(job.logs.length).toBeGreaterThan(0);
  for (const log of job.logs) expect(log.message).toContain('[redacted]');
  expect(job.video.url).toContain('[redacted]');
  expectClean(job);
});

it("the status error text that echoes the key is stored redacted", async () => {
  const job = await finished((await submitJob(gateway, { prompt: 'A run that fails [sim:fail]' })).id);
  expect(job.status).toBe('FAILED');
  expect(job.error.message).toMatch(/Internal error while generating the video \(caller: Key \[redacted\]/);
  expectClean(job);
});

it("the result's error text that echoes the key is stored redacted", async () => {
  gateway.simulator.addFault({
    operation: 'result',
    kind: 'http',
    status: 422,
    body: { detail: [{ loc: ['body', 'image_url'], msg: `could not fetch the image as ${TEST_FAL_KEY}`, type: 'image_load_error' }] },
  });
  const job = await finished((await submitJob(gateway)).id);
  expect(job.status).toBe('FAILED');
  expect(job.error.message).toMatch(/image_url: could not fetch the image as \[redacted\]/);
  expectClean(job);
});

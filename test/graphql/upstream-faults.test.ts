/**
 * Upstream trouble during a live job: errors, rate limits and dropped sockets delay the poller but
 * never end the job or the subscription, and never cause a second submission.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { subscribeWs, wsClient } from '../helpers/clients.ts';
import { FOLLOW, startTestGateway, submitJob, SUBMIT, TEST_FAL_KEY, validInput, type TestGateway } from '../helpers/start-gateway.ts';

let gateway: TestGateway;
beforeAll(async () => {
  gateway = await startTestGateway();
});
afterAll(() => gateway.dispose());

it.each([
  ['500s', { operation: 'status', kind: 'http', status: 500, times: 6 }],
  ['502/503/504', { operation: 'status', kind: 'http', status: 503, times: 4 }],
  ['429 with Retry-After', { operation: 'status', kind: 'http', status: 429, headers: { 'retry-after': '1' }, times: 1 }],
  ['dropped connections', { operation: 'status', kind: 'drop', times: 4 }],
  ['malformed JSON', { operation: 'status', kind: 'malformed', times: 3 }],
  ['a result 504 right after COMPLETED', { operation: 'result', kind: 'http', status: 504, afterCompleted: true, times: 3 }],
] as const)('%s during a job: the job still completes for its subscriber, submitted once', async (_name, fault) => {
  const job = await submitJob(gateway);
  const submits = gateway.simulator.stats.submit;
  gateway.simulator.addFault({ ...fault });
  const recording = subscribeWs(wsClient(gateway.wsUrl), FOLLOW, { id: job.id });
  await expect(recording.done).resolves.toBe('complete');
  const last = recording.events.at(-1)!.data!.jobUpdates;
  expect(last.status).toBe('COMPLETED');
  expect(last.video.url).toBeTruthy();
  expect(gateway.simulator.stats.submit).toBe(submits);
  gateway.simulator.clearFaults();
});

it('a submit that fails ambiguously is not repeated: UPSTREAM_UNAVAILABLE, and the job is kept while it is looked for upstream', async () => {
  const before = gateway.simulator.stats.submit;
  gateway.simulator.addFault({ operation: 'submit', kind: 'drop', times: 1 });
  const response = await gateway.gql(SUBMIT, { input: validInput({ idempotencyKey: 'ambiguous-1' }) });
  expect(response.errors![0]!.extensions).toMatchObject({ code: 'UPSTREAM_UNAVAILABLE' });
  expect(response.errors![0]!.message).toMatch(/may be running upstream, and billed; it was not repeated/);
  expect(gateway.simulator.stats.submit - before).toBe(1);
  // Retrying with the same key does not submit again: the job (unfinished, so still counted) says what is going on.
  const again = await gateway.gql(SUBMIT, { input: validInput({ idempotencyKey: 'ambiguous-1' }) });
  expect(again.data!.generateVideo).toMatchObject({ id: response.errors![0]!.extensions!.jobId, status: 'IN_QUEUE', requestId: '' });
  expect(again.data!.generateVideo.logs.map((l: { message: string }) => l.message)).toContain('The upstream did not confirm the submission; looking for it upstream.');
  expect(gateway.simulator.stats.submit - before).toBe(1);
});

it('upstream 429 on submit: RATE_LIMITED with retryAfterSeconds, no job left behind', async () => {
  gateway.simulator.addFault({ operation: 'submit', kind: 'http', status: 429, headers: { 'retry-after': '7' }, times: 1 });
  const response = await gateway.gql(SUBMIT, { input: validInput({ idempotencyKey: 'limited-1' }) });
  expect(response.errors![0]!.extensions).toMatchObject({ code: 'RATE_LIMITED', retryAfterSeconds: 7 });
  // The same key may be used again: the refused submission left no job.
  const again = await gateway.gql(SUBMIT, { input: validInput({ idempotencyKey: 'limited-1' }) });
  expect(again.data!.generateVideo.status).toBe('IN_QUEUE');
});

it('upstream refuses the credential: UPSTREAM_ERROR, and the key appears in no response or log line', async () => {
  gateway.simulator.addFault({ operation: 'submit', kind: 'http', status: 401, times: 1 });
  const response = await gateway.gql(SUBMIT, { input: validInput() });
  expect(response.errors![0]!.extensions!.code).toBe('UPSTREAM_ERROR');
  expect(response.raw).not.toContain(TEST_FAL_KEY);
  expect(response.raw).not.toContain('fal-test-secret');
  const logs = gateway.logs.join('');
  expect(logs.length).toBeGreaterThan(0);
  expect(logs).not.toContain(TEST_FAL_KEY);
  expect(logs).not.toContain('fal-test-secret');
});

it('upstream locked account (403): UPSTREAM_ERROR, distinct reason', async () => {
  gateway.simulator.addFault({ operation: 'submit', kind: 'http', status: 403, times: 1 });
  const response = await gateway.gql(SUBMIT, { input: validInput() });
  expect(response.errors![0]!.extensions).toMatchObject({ code: 'UPSTREAM_ERROR', reason: 'FORBIDDEN' });
});

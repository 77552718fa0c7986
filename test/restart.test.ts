/**
 * Crash safety: kill the gateway process (SIGKILL) mid-job, start it again on the same SQLite file,
 * and the job still finishes, without a second upstream submission.
 */
import { expect, it } from 'vitest';
import { post, subscribeWs, wsClient } from './helpers/clients.ts';
import { startGatewayProcess } from './helpers/gateway-process.ts';
import { FOLLOW, startSimulator, SUBMIT, TEST_FAL_KEY, tempSqlitePath, validInput } from './helpers/start-gateway.ts';
import { waitFor } from './helpers/wait-for.ts';

it('a job survives a SIGKILL of the gateway and completes after restart', async () => {
  const simulator = await startSimulator({ timing: { initialQueuePosition: 2, queueStepMs: 150, runMs: 600, logEveryMs: 50, logWindowMs: 200 } });
  const env = { FAL_KEY: TEST_FAL_KEY, FAL_QUEUE_URL: simulator.url, SQLITE_PATH: tempSqlitePath(), POLL_INTERVAL_MS: '30', FAL_UPDATES: 'poll' };

  const first = await startGatewayProcess(env);
  const submitted = await post(first.httpUrl, SUBMIT, { input: validInput({ idempotencyKey: 'restart-1' }) });
  const job = submitted.data!.generateVideo;
  // Let the first process poll a few times, then kill it mid-job.
  await waitFor(() => simulator.statusCalls(job.requestId) >= 2, { message: 'first polls' });
  first.child.kill('SIGKILL');
  expect(await first.exited).toBe('SIGKILL');

  const second = await startGatewayProcess(env);
  const recording = subscribeWs(wsClient(second.wsUrl), FOLLOW, { id: job.id });
  await expect(recording.done).resolves.toBe('complete');
  expect(recording.events.at(-1)!.data!.jobUpdates).toMatchObject({ id: job.id, status: 'COMPLETED' });
  // The idempotency key survived too: no second submission.
  const again = await post(second.httpUrl, SUBMIT, { input: validInput({ idempotencyKey: 'restart-1' }) });
  expect(again.data!.generateVideo.id).toBe(job.id);
  expect(simulator.stats.submit).toBe(1);
  second.child.kill('SIGTERM');
  expect(await second.exited).toBe(0);
  expect(second.output.join('')).not.toContain(TEST_FAL_KEY);
});

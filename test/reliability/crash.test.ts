/**
 * Crash safety: SIGKILL the gateway at each step of a submission and of a poll, restart it on the
 * same database, and find every job accounted for: finished (a submit cut by the kill is found in
 * fal's platform API and adopted), or FAILED with SUBMIT_OUTCOME_UNKNOWN, and never submitted twice.
 * Also a graceful SIGTERM.
 */
import { describe, expect, it } from 'vitest';
import { post, subscribeSse, subscribeWs, wsClient } from '../helpers/clients.ts';
import { startGatewayProcess, type GatewayProcess } from '../helpers/gateway-process.ts';
import { FOLLOW, startSimulator, SUBMIT, TEST_FAL_KEY, tempSqlitePath, validInput } from '../helpers/start-gateway.ts';
import { waitFor } from '../helpers/wait-for.ts';

async function environment(timing = { initialQueuePosition: 2, queueStepMs: 100, runMs: 400, logEveryMs: 50, logWindowMs: 200 }) {
  const simulator = await startSimulator({ timing });
  const env = { FAL_KEY: TEST_FAL_KEY, FAL_QUEUE_URL: simulator.url, FAL_API_URL: simulator.url, SQLITE_PATH: tempSqlitePath(), POLL_INTERVAL_MS: '30', UPSTREAM_TIMEOUT_MS: '500', FAL_UPDATES: 'poll' };
  return { simulator, env };
}

async function kill(gateway: GatewayProcess) {
  gateway.child.kill('SIGKILL');
  expect(await gateway.exited).toBe('SIGKILL');
}

async function finalState(gateway: GatewayProcess, id: string) {
  const follower = subscribeWs(wsClient(gateway.wsUrl), FOLLOW, { id });
  expect(await follower.done).toBe('complete');
  return follower.events.at(-1)!.data!.jobUpdates;
}

// Each test has its own simulator, database and gateways, and waits on child processes: side by side.
describe.concurrent('SIGKILL at each step', () => {
  it('during the upstream submit: the job is found upstream and adopted (issue 9, item 12), never re-submitted', { timeout: 30_000 }, async () => {
    const { simulator, env } = await environment();
    simulator.addFault({ operation: 'submit', kind: 'delay', delayMs: 1500, times: 1 });
    const first = await startGatewayProcess(env);
    const pending = post(first.httpUrl, SUBMIT, { input: validInput({ idempotencyKey: 'crash-submit' }) }).catch(() => null);
    await waitFor(() => simulator.stats.submit === 1, { message: 'the submit to reach the upstream' });
    await kill(first);
    await pending;

    const second = await startGatewayProcess(env);
    const listed = await post(second.httpUrl, '{ jobs { nodes { id status requestId error { code } } } }');
    const [job] = listed.data!.jobs.nodes;
    expect(job).toBeTruthy();
    const final = await finalState(second, job.id);
    // The submit did reach fal (it answered after the process died): fal's platform API lists it with its input.
    expect(final).toMatchObject({ status: 'COMPLETED' });
    expect(final.requestId).toBeTruthy();
    // The same key does not submit again.
    const again = await post(second.httpUrl, SUBMIT, { input: validInput({ idempotencyKey: 'crash-submit' }) });
    expect(again.data!.generateVideo.id).toBe(job.id);
    expect(simulator.stats.submit).toBe(1);
    second.child.kill('SIGTERM');
  });

  it.each([
    ['a status poll', { operation: 'status', kind: 'delay', delayMs: 5000, times: 1 }],
    ['the result fetch', { operation: 'result', kind: 'delay', delayMs: 5000, times: 1, afterCompleted: true }],
  ] as const)('during %s: the job finishes after restart, submitted once', { timeout: 30_000 }, async (_step, fault) => {
    const { simulator, env } = await environment();
    const first = await startGatewayProcess(env);
    const job = (await post(first.httpUrl, SUBMIT, { input: validInput() })).data!.generateVideo;
    simulator.addFault({ ...fault });
    const op = fault.operation;
    await waitFor(() => simulator.requests.some((r) => (op === 'status' ? r.path.includes('/status') : r.method === 'GET' && r.path.endsWith(job.requestId))), { message: `a ${op} call in flight` });
    await kill(first);

    const second = await startGatewayProcess(env);
    expect(await finalState(second, job.id)).toMatchObject({ status: 'COMPLETED' });
    expect(simulator.stats.submit).toBe(1);
    second.child.kill('SIGTERM');
  });

  it('after the request id is stored: the job finishes after restart', { timeout: 30_000 }, async () => {
    const { simulator, env } = await environment();
    const first = await startGatewayProcess(env);
    const job = (await post(first.httpUrl, SUBMIT, { input: validInput() })).data!.generateVideo;
    await kill(first);
    const second = await startGatewayProcess(env);
    expect(await finalState(second, job.id)).toMatchObject({ status: 'COMPLETED' });
    expect(simulator.stats.submit).toBe(1);
    second.child.kill('SIGTERM');
  });
});

it('SIGTERM with clients attached: WebSocket closes with 1001, SSE ends without an error, exit 0, and the job finishes after restart', { timeout: 30_000 }, async () => {
  const { simulator, env } = await environment({ initialQueuePosition: 3, queueStepMs: 300, runMs: 600, logEveryMs: 100, logWindowMs: 300 });
  const first = await startGatewayProcess(env);
  const job = (await post(first.httpUrl, SUBMIT, { input: validInput() })).data!.generateVideo;
  const client = wsClient(first.wsUrl);
  const overWs = subscribeWs(client, FOLLOW, { id: job.id });
  const overSse = subscribeSse(first.httpUrl, FOLLOW, { id: job.id });
  await overWs.waitForEvents(1);
  await overSse.waitForEvents(1);

  first.child.kill('SIGTERM');
  expect(await first.exited).toBe(0);
  expect((await client.closed).code).toBe(1001);
  await overSse.done;
  for (const recording of [overWs, overSse]) {
    expect(recording.events.flatMap((e) => e.errors ?? [])).toEqual([]);
  }
  expect(first.output.join('')).toMatch(/gateway stopped/);

  const second = await startGatewayProcess(env);
  // Reconnect: the first event is the current state, then the rest.
  expect(await finalState(second, job.id)).toMatchObject({ status: 'COMPLETED' });
  expect(simulator.stats.submit).toBe(1);
  second.child.kill('SIGTERM');
});

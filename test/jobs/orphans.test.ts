/**
 * Issue 9, item 12: a submit that timed out after reaching fal. The job stays counted against the
 * quotas while its fate is unknown, the client is told it may be running and billed, and the gateway
 * looks for it in fal's platform API: found, it is adopted (polled to the end like any other);
 * never listed, it ends FAILED as never started; fal cannot be asked, it stays counted until
 * JOB_MAX_TOTAL_MS and ends FAILED saying it may have run and been billed.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { GET_JOB, startTestGateway, SUBMIT, validInput, type TestGateway } from '../helpers/start-gateway.ts';
import { waitFor } from '../helpers/wait-for.ts';

let gateway: TestGateway | undefined;
afterEach(async () => {
  await gateway?.dispose();
  gateway = undefined;
});

async function ambiguousSubmit(g: TestGateway, fault: 'delay' | 'drop', overrides: Record<string, unknown> = {}) {
  // 3 s against UPSTREAM_TIMEOUT_MS=300: undici keeps its header timeout on a ~0.5 s tick, so the
  // timeout comes 0.5-1 s in on a quiet machine, later under load (1 s was once not enough).
  g.simulator.addFault(fault === 'delay' ? { operation: 'submit', kind: 'delay', delayMs: 3000 } : { operation: 'submit', kind: 'drop' });
  const response = await g.gql(SUBMIT, { input: validInput(overrides) });
  const error = response.errors?.[0];
  expect(error?.extensions?.code, response.raw).toBe('UPSTREAM_UNAVAILABLE');
  expect(error?.message).toMatch(/may be running upstream, and billed/);
  return error!.extensions!.jobId as string;
}

async function jobOf(g: TestGateway, id: string) {
  return (await g.gql(GET_JOB, { id })).data?.job;
}

async function finalState(g: TestGateway, id: string, what: string, timeoutMs = 15_000) {
  return waitFor(async () => {
    const job = await jobOf(g, id);
    return job && ['COMPLETED', 'FAILED', 'CANCELLED'].includes(job.status) ? job : null;
  }, { timeoutMs, message: what });
}

describe('a submit whose outcome is unknown', () => {
  it('is found upstream by its input and adopted: polled to COMPLETED, never submitted twice', async () => {
    gateway = await startTestGateway({ env: { UPSTREAM_TIMEOUT_MS: '300', ORPHAN_SEARCH_MS: '10000' } });
    const id = await ambiguousSubmit(gateway, 'delay', { prompt: 'An orphan that did reach fal' });
    const job = await finalState(gateway, id, 'the adopted job to finish');
    expect(job.status).toBe('COMPLETED');
    expect(job.requestId).toMatch(/^[0-9a-f-]{36}$/);
    expect(gateway.simulator.statusCalls(job.requestId)).toBeGreaterThan(0);
    expect(job.video.url).toContain(job.requestId);
    expect(job.logs.map((l: { message: string }) => l.message)).toContain(`Found upstream as request ${job.requestId}; following it.`);
    expect(gateway.simulator.stats.submit).toBe(1);
  });

  it('counts against TENANT_MAX_ACTIVE_JOBS while looked for, and ends FAILED as never started when fal never lists it', async () => {
    gateway = await startTestGateway({ env: { UPSTREAM_TIMEOUT_MS: '300', ORPHAN_SEARCH_MS: '1500', TENANT_MAX_ACTIVE_JOBS: '1' } });
    const id = await ambiguousSubmit(gateway, 'drop');
    expect((await jobOf(gateway, id)).status).toBe('IN_QUEUE');
    const refused = await gateway.gql(SUBMIT, { input: validInput() });
    expect(refused.errors?.[0]?.extensions?.code, refused.raw).toBe('RATE_LIMITED');

    const job = await finalState(gateway, id, 'the orphan to be given up after ORPHAN_SEARCH_MS');
    expect(job.status).toBe('FAILED');
    expect(job.error).toMatchObject({ code: 'SUBMIT_NOT_RECEIVED' });
    expect(job.error.message).toMatch(/did not run and is not billed/);
    const accepted = await gateway.gql(SUBMIT, { input: validInput() });
    expect(accepted.errors, accepted.raw).toBeUndefined();
  });

  it('when fal cannot be asked, stays counted until JOB_MAX_TOTAL_MS and says it may have run and been billed', async () => {
    gateway = await startTestGateway({
      env: { UPSTREAM_TIMEOUT_MS: '300', ORPHAN_SEARCH_MS: '500', JOB_MAX_TOTAL_MS: '2500', TENANT_MAX_ACTIVE_JOBS: '1', FAL_ADMIN_KEY: 'not-an-admin-key' },
    });
    const id = await ambiguousSubmit(gateway, 'delay');
    const createdAt = Date.parse((await jobOf(gateway, id)).createdAt);
    // Past the search window, fal still refuses the admin key: the job stays counted, since it may still run.
    await waitFor(
      () => gateway!.logs.some((line) => line.includes('could not ask fal') && Date.parse(JSON.parse(line).time) > createdAt + 600),
      { message: 'a failed attempt to ask fal after ORPHAN_SEARCH_MS' },
    );
    const refused = await gateway.gql(SUBMIT, { input: validInput() });
    expect(refused.errors?.[0]?.extensions?.code, refused.raw).toBe('RATE_LIMITED');
    const job = await finalState(gateway, id, 'the orphan to end at JOB_MAX_TOTAL_MS');
    expect(job.status).toBe('FAILED');
    expect(Date.parse(job.completedAt) - createdAt, 'counted until JOB_MAX_TOTAL_MS').toBeGreaterThanOrEqual(2500);
    expect(job.error).toMatchObject({ code: 'SUBMIT_OUTCOME_UNKNOWN' });
    expect(job.error.message).toMatch(/may have run upstream and been billed/);
  });
});

/**
 * Following a job: `watch` of a finished job, Ctrl-C (SIGINT) detaching or cancelling, a gateway
 * stop and start in the middle (the CLI reconnects and resumes), and the one-shot `status`, `list`, `cancel`.
 */
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { runCli, spawnCli } from '../helpers/cli.ts';
import { freePort } from '../helpers/gateway-process.ts';
import { GET_JOB, startSimulator, startTestGateway, submitJob, tempSqlitePath, type TestGateway } from '../helpers/start-gateway.ts';
import { waitFor, within } from '../helpers/wait-for.ts';

// Each test spawns the CLI (a Node process) a few times; on a loaded machine that takes seconds each.
vi.setConfig({ testTimeout: 120_000, hookTimeout: 60_000 });

const SLOW = { initialQueuePosition: 2, queueStepMs: 300, runMs: 10_000, logEveryMs: 200, logWindowMs: 400 };
let gateway: TestGateway;
let env: Record<string, string>;
beforeAll(async () => {
  gateway = await startTestGateway({ simulator: { timing: SLOW } });
  env = { GATEWAY_URL: gateway.httpUrl };
});
afterAll(() => gateway.dispose());

const JOB_LOGS = 'query ($id: ID!) { job(id: $id) { status logs { message } } }';
const statusOf = async (id: string) => (await gateway.gql<{ job: { status: string } }>(GET_JOB, { id })).data!.job.status;

describe('fal-video watch', () => {
  it('prints the final state of a finished job at once, exit 0', async () => {
    const quick = await startTestGateway(); // the simulator's fast default timing
    const job = await submitJob(quick);
    await waitFor(async () => (await quick.gql<{ job: { status: string } }>(GET_JOB, { id: job.id })).data!.job.status === 'COMPLETED', { message: 'the job to complete' });
    const run = await runCli(['watch', job.id], { GATEWAY_URL: quick.httpUrl });
    expect(run.code, run.stderr).toBe(0);
    expect(run.lines).toHaveLength(1);
    expect(run.lines[0]).toMatchObject({ id: job.id, status: 'COMPLETED' });
  });

  it('an unknown job exits 2 with NOT_FOUND on stderr', async () => {
    const run = await runCli(['watch', 'no-such-job'], env);
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(/NOT_FOUND/);
  });

  it('SIGINT detaches with exit 130, says how to resume, and the job goes on', async () => {
    const job = await submitJob(gateway);
    const cli = spawnCli(['watch', job.id], env);
    await cli.waitForLine((line) => line.id === job.id, 'the first state');
    cli.child.kill('SIGINT');
    expect(await within(cli.exited, 30_000, 'the CLI to detach')).toBe(130);
    expect(cli.stderr()).toContain(`watch ${job.id}`);
    // The job goes on without the CLI: not cancelled, and still making progress (new log lines).
    const logsOf = async () => (await gateway.gql<{ job: { status: string; logs: unknown[] } }>(JOB_LOGS, { id: job.id })).data!.job;
    const atDetach = await logsOf();
    expect(atDetach.status).not.toBe('CANCELLED');
    await waitFor(async () => {
      const now = await logsOf();
      return now.status !== 'CANCELLED' && now.logs.length > atDetach.logs.length;
    }, { timeoutMs: 20_000, message: 'the detached job to go on (new log lines)' });
  });

  it('--cancel-on-interrupt cancels the job on SIGINT instead', async () => {
    const job = await submitJob(gateway);
    const cli = spawnCli(['watch', job.id, '--cancel-on-interrupt'], env);
    await cli.waitForLine((line) => line.id === job.id, 'the first state');
    cli.child.kill('SIGINT');
    expect(await within(cli.exited, 30_000, 'the CLI to cancel and stop')).toBe(130);
    expect(cli.lines().at(-1).status).toBe('CANCELLED');
    expect(await statusOf(job.id)).toBe('CANCELLED');
  });
  it('a second SIGINT exits at once, even while the cancel is still on its way', async () => {
    const job = await submitJob(gateway);
    gateway.simulator.addFault({ operation: 'cancel', kind: 'delay', delayMs: 10_000 });
    const cli = spawnCli(['watch', job.id, '--cancel-on-interrupt'], env);
    await cli.waitForLine((line) => line.id === job.id, 'the first state');
    cli.child.kill('SIGINT');
    await waitFor(() => cli.stderr().includes(`cancelling job ${job.id}`), { timeoutMs: 20_000, message: 'the cancel to start' });
    cli.child.kill('SIGINT');
    expect(await within(cli.exited, 5_000, 'the CLI to exit on the second SIGINT (before the 10 s cancel)')).toBe(130);
    expect(cli.stderr()).not.toContain(`job ${job.id} cancelled`);
    gateway.simulator.clearFaults();
  });
});

describe('fal-video status, list, cancel', () => {
  it('status prints the job once; list prints jobs newest first, filtered by status', async () => {
    const job = await submitJob(gateway, { prompt: 'Listed' });
    const status = await runCli(['status', job.id], env);
    expect(status.code, status.stderr).toBe(0);
    expect(status.lines).toEqual([expect.objectContaining({ id: job.id, input: expect.objectContaining({ prompt: 'Listed' }) })]);
    const listed = await runCli(['list', '--first', '2'], env);
    expect(listed.code, listed.stderr).toBe(0);
    expect(listed.lines).toHaveLength(2);
    expect(listed.lines[0].id).toBe(job.id);
    const failed = await runCli(['list', '--status', 'failed'], env);
    expect(failed.code, failed.stderr).toBe(0);
    expect(failed.lines.every((j) => j.status === 'FAILED')).toBe(true);
    expect((await runCli(['list', '--status', 'bogus'], env)).code).toBe(2);
  });

  it('cancel prints the CANCELLED job, exit 0; cancelling it again (CONFLICT) exits 1', async () => {
    const job = await submitJob(gateway);
    const run = await runCli(['cancel', job.id], env);
    expect(run.code, run.stderr).toBe(0);
    expect(run.lines.at(-1)).toMatchObject({ id: job.id, status: 'CANCELLED' });
    const again = await runCli(['cancel', job.id], env);
    expect(again.code).toBe(1);
    expect(again.stderr).toMatch(/CONFLICT/);
  });
});

it('a dropped connection resumes: the gateway stops and starts again mid-job, and watch still ends COMPLETED', async () => {
  const simulator = await startSimulator({ timing: { ...SLOW, runMs: 3_000 } });
  const options = { sharedSimulator: simulator, sqlitePath: tempSqlitePath(), env: { PORT: String(await freePort()) } };
  const first = await startTestGateway(options);
  const job = await submitJob(first);
  const watcher = spawnCli(['watch', job.id, '--reconnect-timeout', '60'], { GATEWAY_URL: first.httpUrl });
  await watcher.waitForLine((line) => line.status === 'IN_PROGRESS', 'the job to run');
  simulator.pause(); // the job stays mid-run while the gateway is away, however long the restart takes
  await first.dispose();
  await waitFor(() => /reconnecting/.test(watcher.stderr()), { timeoutMs: 30_000, message: 'the CLI to notice the drop' });
  const second = await startTestGateway(options);
  simulator.resume();
  expect(await within(watcher.exited, 60_000, 'watch to finish after the restart')).toBe(0);
  expect(watcher.lines().at(-1)).toMatchObject({ id: job.id, status: 'COMPLETED' });
  expect(watcher.stderr()).toMatch(/reconnected/);
  await second.dispose();
});

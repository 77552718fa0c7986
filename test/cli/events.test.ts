/**
 * What needs the second release's server side: `events` (the jobEvents subscription) and
 * `submit --image FILE` (GenerateVideoInput.image, multipart upload). Each test runs only when the
 * gateway's schema has the field (introspected at run time), so this file passes before and after
 * those land.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { runCli, serverHas, spawnCli } from '../helpers/cli.ts';
import { freePort } from '../helpers/gateway-process.ts';
import { startSimulator, startTestGateway, submitJob, tempSqlitePath } from '../helpers/start-gateway.ts';
import { waitFor, within } from '../helpers/wait-for.ts';

// Each test spawns the CLI (a Node process) a few times; on a loaded machine that takes seconds each.
vi.setConfig({ testTimeout: 120_000, hookTimeout: 60_000 });

const gateway = await startTestGateway({ simulator: { timing: { initialQueuePosition: 2, queueStepMs: 300, runMs: 1_200, logEveryMs: 200, logWindowMs: 400 } } });
afterAll(() => gateway.dispose());
const env = { GATEWAY_URL: gateway.httpUrl };
const hasEvents = await serverHas(gateway.httpUrl, 'Subscription', 'jobEvents');
const hasImage = await serverHas(gateway.httpUrl, 'GenerateVideoInput', 'image');

const PNG = Buffer.from('iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==', 'base64');

describe('fal-video events', () => {
  it.skipIf(!hasEvents)('--json follows two jobs to their end, one JSON event per line; SIGINT stops it (130) with the resume cursor', async () => {
    const cli = spawnCli(['events', '--json'], env);
    // Probe jobs until one shows up: then the CLI is subscribed, before the two jobs are submitted.
    await waitFor(
      async () => {
        await submitJob(gateway, { prompt: 'Probe [sim:fast]' });
        return cli.lines().some((event) => event.job.input.prompt.startsWith('Probe'));
      },
      { intervalMs: 250, timeoutMs: 20_000, message: 'an event of a probe job (the CLI subscribed)' },
    );
    const [a, b] = [await submitJob(gateway, { prompt: 'A [sim:fast]' }), await submitJob(gateway, { prompt: 'B [sim:fast]' })];
    for (const job of [a, b]) await cli.waitForLine((event) => event.job?.id === job.id && event.job.status === 'COMPLETED', `job ${job.id} COMPLETED`, 20_000);
    const events = cli.lines();
    expect(events.every((event) => typeof event.cursor === 'string' && event.job?.id)).toBe(true);
    expect(events.filter((event) => event.job.id === a.id)[0].job.status).toBe('IN_QUEUE'); // a new job is an event too
    cli.child.kill('SIGINT');
    expect(await within(cli.exited, 30_000, 'events to stop')).toBe(130);
    expect(cli.stderr()).toContain(`events --after ${events.at(-1).cursor}`);
  });

  it.skipIf(!hasEvents)('--after replays what came after that cursor', async () => {
    const cli = spawnCli(['events', '--json'], env);
    const beacon = await submitJob(gateway, { prompt: 'Beacon 2' });
    const first = await cli.waitForLine((event) => event.job?.id === beacon.id, 'an event of the new job');
    await cli.waitForLine((event) => event.job?.id === beacon.id && event.cursor !== first.cursor, 'a later event of it');
    cli.child.kill('SIGINT');
    await cli.exited;
    const later = cli.lines().filter((event) => event.job.id === beacon.id).slice(1);
    const replay = spawnCli(['events', '--json', '--after', first.cursor], env);
    await replay.waitForLine((event) => event.cursor === later[0].cursor, 'the replayed event after the cursor');
    expect(replay.lines()[0].cursor).not.toBe(first.cursor);
    replay.child.kill('SIGINT');
    expect(await replay.exited).toBe(130);
  });

  it.skipIf(!hasEvents)('an unknown cursor exits 2 with CURSOR_EXPIRED on stderr', async () => {
    const run = await runCli(['events', '--after', 'not-a-cursor'], env);
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(/CURSOR_EXPIRED/);
  });
});

it.skipIf(!hasEvents)('events resumes from its last cursor across a gateway restart: on to COMPLETED, in order, no event twice', async () => {
  const simulator = await startSimulator({ timing: { initialQueuePosition: 2, queueStepMs: 300, runMs: 3_000, logEveryMs: 400, logWindowMs: 800 } });
  const options = { sharedSimulator: simulator, sqlitePath: tempSqlitePath(), env: { PORT: String(await freePort()) } };
  const first = await startTestGateway(options);
  const cli = spawnCli(['events', '--json', '--reconnect-timeout', '60'], { GATEWAY_URL: first.httpUrl });
  await waitFor(
    async () => {
      await submitJob(first, { prompt: 'Probe [sim:fast]' });
      return cli.lines().some((event) => event.job.input.prompt.startsWith('Probe'));
    },
    { intervalMs: 250, timeoutMs: 30_000, message: 'an event of a probe job (the CLI subscribed)' },
  );
  const job = await submitJob(first, { prompt: 'Across a restart' });
  await cli.waitForLine((event) => event.job.id === job.id && event.job.status === 'IN_PROGRESS', 'the job running');
  simulator.pause(); // the job stays mid-run while the gateway is away, however long the restart takes
  await first.dispose();
  await waitFor(() => /reconnecting/.test(cli.stderr()), { timeoutMs: 30_000, message: 'the CLI to notice the drop' });
  const second = await startTestGateway(options);
  simulator.resume();
  await cli.waitForLine((event) => event.job.id === job.id && event.job.status === 'COMPLETED', 'the job COMPLETED after the restart', 60_000);
  const cursors = cli.lines().map((event) => event.cursor);
  expect(new Set(cursors).size, 'no event twice').toBe(cursors.length);
  const logCounts = cli.lines().filter((event) => event.job.id === job.id).map((event) => event.job.logs.length);
  expect(logCounts).toEqual([...logCounts].sort((a, b) => a - b)); // in order
  cli.child.kill('SIGINT');
  expect(await within(cli.exited, 30_000, 'events to stop')).toBe(130);
  await second.dispose();
});

describe('fal-video submit --image', () => {
  const dir = mkdtempSync(join(tmpdir(), 'cli-image-'));

  it.skipIf(!hasImage)('uploads a local file (GraphQL multipart request) and follows the job to COMPLETED', async () => {
    const file = join(dir, 'frame.png');
    writeFileSync(file, PNG);
    const run = await runCli(['submit', '--prompt', 'From a file', '--image', file, '--wait', '--json'], env);
    expect(run.code, run.stderr).toBe(0);
    expect(run.lines.at(-1)).toMatchObject({ status: 'COMPLETED', input: { prompt: 'From a file' } });
    expect(run.lines.at(-1).input.imageUrl).toMatch(/^https?:\/\//);
  });

  it.skipIf(!hasImage)('a file that is not an image exits 2 naming the image field', async () => {
    const file = join(dir, 'notes.png');
    writeFileSync(file, 'not an image at all');
    const run = await runCli(['submit', '--prompt', 'Bad file', '--image', file], env);
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(/image/);
    expect(run.stderr).toMatch(/BAD_USER_INPUT/);
  });

  it('a file that does not exist exits 2 naming --image, before anything is sent', async () => {
    const run = await runCli(['submit', '--prompt', 'Missing', '--image', join(dir, 'nope.png')], env);
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(/--image/);
  });
});

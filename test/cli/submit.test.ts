/**
 * `fal-video submit` as a script runs it (stdout a pipe): JSON lines, and the contract's exit codes
 * for success, a failed job, bad input, a wrong key and no gateway.
 */
import { mkdtempSync, readFileSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { freePort } from '../helpers/gateway-process.ts';
import { runCli, spawnCli } from '../helpers/cli.ts';
import { startTestGateway, type TestGateway } from '../helpers/start-gateway.ts';

// Each test spawns the CLI (a Node process) a few times; on a loaded machine that takes seconds each.
vi.setConfig({ testTimeout: 120_000, hookTimeout: 60_000 });

const IMAGE = 'https://images.example.com/cat.png';
let gateway: TestGateway;
let env: Record<string, string>;
beforeAll(async () => {
  gateway = await startTestGateway({ env: { GATEWAY_API_KEYS: 'acme:secret-key' } });
  env = { GATEWAY_URL: gateway.httpUrl, GATEWAY_API_KEY: 'secret-key' };
});
afterAll(() => gateway.dispose());

describe('fal-video submit', () => {
  it('--help works on every command (exit 0, usage on stdout)', async () => {
    const commands = ['submit', 'status', 'watch', 'cancel', 'list', 'events'];
    const runs = await Promise.all([[], ...commands.map((c) => [c])].map((args) => runCli([...args, '--help'], env)));
    runs.forEach((run) => expect(run.code, run.stderr).toBe(0));
    expect(runs[0]!.stdout).toMatch(/Exit codes/);
    commands.forEach((command, i) => expect(runs[i + 1]!.stdout).toContain(`Usage: fal-video ${command}`));
    expect(runs[1]!.stdout).toContain('--idempotency-key');
  });

  it('--wait --json prints the job after each change, ending in COMPLETED, and exits 0', async () => {
    const run = await runCli(['submit', '--prompt', 'A cat surfing', '--image-url', IMAGE, '--wait', '--json'], env);
    expect(run.code, run.stderr).toBe(0);
    expect(run.lines.length).toBeGreaterThan(1);
    expect(new Set(run.lines.map((job) => job.id)).size).toBe(1);
    expect(run.lines[0].status).toBe('IN_QUEUE');
    const last = run.lines.at(-1);
    expect(last.status).toBe('COMPLETED');
    expect(last.video.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\//);
    // One line per visible change: no two consecutive lines alike.
    run.lines.slice(1).forEach((job, i) => expect(JSON.stringify(job)).not.toBe(JSON.stringify(run.lines[i])));
    expect(run.stderr).toBe('');
  });

  it('without --wait prints the submitted job once and exits 0', async () => {
    const run = await runCli(['submit', '--prompt', 'A dog', '--image-url', IMAGE], env);
    expect(run.code, run.stderr).toBe(0);
    expect(run.lines).toHaveLength(1);
    expect(run.lines[0]).toMatchObject({ status: 'IN_QUEUE', input: { prompt: 'A dog', imageUrl: IMAGE, duration: 'SECONDS_5' } });
  });

  it('a job that FAILED exits 1 with its error on stderr; the last line is the final state', async () => {
    const run = await runCli(['submit', '--prompt', 'Doomed [sim:fail]', '--image-url', IMAGE, '--wait'], env);
    expect(run.code).toBe(1);
    expect(run.lines.at(-1).status).toBe('FAILED');
    expect(run.stderr).toMatch(/FAILED/);
  });

  it('input the gateway refuses (BAD_USER_INPUT) exits 2 naming the field and the option', async () => {
    const run = await runCli(['submit', '--prompt', 'x', '--image-url', IMAGE, '--cfg-scale', '5'], env);
    expect(run.code).toBe(2);
    expect(run.stdout).toBe('');
    expect(run.stderr).toMatch(/cfgScale/);
    expect(run.stderr).toMatch(/--cfg-scale/);
    expect(run.stderr).toMatch(/BAD_USER_INPUT/);
  });

  it('bad usage exits 2 with the option named, before anything is sent', async () => {
    const submitsBefore = gateway.simulator.stats.submit;
    const duration = await runCli(['submit', '--prompt', 'x', '--image-url', IMAGE, '--duration', '7'], env);
    expect(duration.code).toBe(2);
    expect(duration.stderr).toMatch(/--duration/);
    const noImage = await runCli(['submit', '--prompt', 'x'], env);
    expect(noImage.code).toBe(2);
    expect(noImage.stderr).toMatch(/--image-url/);
    const noPrompt = await runCli(['submit', '--image-url', IMAGE], env);
    expect(noPrompt.code).toBe(2);
    expect(noPrompt.stderr).toMatch(/--prompt/);
    expect(gateway.simulator.stats.submit).toBe(submitsBefore);
  });

  it('a wrong key exits 3 (UNAUTHENTICATED), and the key is not echoed', async () => {
    const run = await runCli(['submit', '--prompt', 'x', '--image-url', IMAGE, '--wait'], { ...env, GATEWAY_API_KEY: 'wrong-key' });
    expect(run.code).toBe(3);
    expect(run.stderr).toMatch(/UNAUTHENTICATED/);
    expect(run.stderr).not.toMatch(/wrong-key/);
  });

  it('no gateway (a closed port) exits 4 with the URL on stderr', async () => {
    const url = `http://127.0.0.1:${await freePort()}/graphql`;
    const run = await runCli(['submit', '--prompt', 'x', '--image-url', IMAGE, '--wait', '--url', url], env);
    expect(run.code).toBe(4);
    expect(run.stderr).toContain(url);
  });

  it('--download writes the video, byte for byte, atomically (no temporary file left)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'cli-download-'));
    const path = join(dir, 'video.mp4');
    const run = await runCli(['submit', '--prompt', 'A cat', '--image-url', IMAGE, '--download', path], env);
    expect(run.code, run.stderr).toBe(0);
    const video = run.lines.at(-1).video;
    const original = Buffer.from(await (await fetch(video.url)).arrayBuffer());
    const written = readFileSync(path);
    expect(written.length).toBe(video.fileSize);
    expect(written.equals(original)).toBe(true);
    expect(readdirSync(dir)).toEqual(['video.mp4']);
  });

  it('--wait --idempotency-key is safe to rerun after a crash: the next run follows the same job', async () => {
    const args = ['submit', '--prompt', 'Rerun me', '--image-url', IMAGE, '--idempotency-key', `key-${Date.now()}`, '--wait'];
    const submitsBefore = gateway.simulator.stats.submit;
    const crashed = spawnCli(args, env);
    const seen = await crashed.waitForLine((job) => Boolean(job.id), 'the submitted job');
    crashed.child.kill('SIGKILL');
    await crashed.exited;
    const second = await runCli(args, env);
    expect(second.code, second.stderr).toBe(0);
    expect(second.lines.every((job) => job.id === seen.id)).toBe(true);
    expect(second.lines.at(-1).status).toBe('COMPLETED');
    // Once it has finished, a rerun prints its final state at once.
    const third = await runCli(args, env);
    expect(third.lines).toEqual([expect.objectContaining({ id: seen.id, status: 'COMPLETED' })]);
    expect(gateway.simulator.stats.submit - submitsBefore, 'upstream submissions for one key').toBe(1);
  });
});

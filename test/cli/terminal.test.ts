/**
 * On a terminal (a pseudo-terminal from `script`), `submit --wait` draws a live display: status,
 * queue position, elapsed time, a bar while running, then the video URL. Off a terminal, nothing of
 * that: stdout holds JSON lines only, with no escape codes. NO_COLOR keeps the display, drops colours.
 */
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { runCli, runCliInPty } from '../helpers/cli.ts';
import { startTestGateway, type TestGateway } from '../helpers/start-gateway.ts';

// Each test spawns the CLI (a Node process) a few times; on a loaded machine that takes seconds each.
vi.setConfig({ testTimeout: 120_000, hookTimeout: 60_000 });

const TIMING = { initialQueuePosition: 2, queueStepMs: 400, runMs: 2_500, logEveryMs: 300, logWindowMs: 600 };
const ARGS = ['submit', '--prompt', 'A cat on a terminal', '--image-url', 'https://images.example.com/cat.png', '--wait'];
const ESC = '\u001b';
const COLOUR = /\u001b\[3\dm/;
let gateway: TestGateway;
beforeAll(async () => {
  gateway = await startTestGateway({ simulator: { timing: TIMING } });
});
afterAll(() => gateway.dispose());

// Each test waits seconds on its own job: they run side by side.
describe.concurrent('the progress display', () => {
  it('appears under a pseudo-terminal: live status, queue position, a bar, then the video URL', async () => {
    const run = await runCliInPty(ARGS, { GATEWAY_URL: gateway.httpUrl });
    expect(run.code, run.output).toBe(0);
    expect(run.output).toContain(`${ESC}[?25l`); // the cursor hidden while the line is redrawn
    expect(run.output).toMatch(/IN_QUEUE.*queue position \d/);
    expect(run.output).toMatch(/IN_PROGRESS.*\s\d+s [█░]{20}\s+\d+%/);
    expect(run.output).toMatch(COLOUR);
    expect(run.output).toMatch(/video\s+http:\/\/127\.0\.0\.1:\d+\/\S+output\.mp4/);
  });

  it('keeps the live display but no colours with NO_COLOR', async () => {
    const run = await runCliInPty(ARGS, { GATEWAY_URL: gateway.httpUrl, NO_COLOR: '1' });
    expect(run.code, run.output).toBe(0);
    expect(run.output).toMatch(/IN_PROGRESS/);
    expect(run.output).not.toMatch(COLOUR);
  });

  it('does not appear without a terminal: JSON lines only, no escape codes, no bars', async () => {
    const run = await runCli(ARGS, { GATEWAY_URL: gateway.httpUrl });
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).not.toContain(ESC);
    expect(run.stdout).not.toMatch(/[█░]/);
    expect(run.lines.at(-1).status).toBe('COMPLETED');
  });
});

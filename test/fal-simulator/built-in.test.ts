/**
 * The gateway's built-in simulator (no FAL_KEY) and `npm run simulator`, as a newcomer runs them:
 * the built-in one lives under the gateway's own port and keeps its jobs beside the SQLite file, so a
 * job in flight survives a SIGKILL and its video URL still serves after the restart; an explicit
 * FAL_QUEUE_URL is used, never silently replaced by the built-in simulator.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.ts';
import { post } from '../helpers/clients.ts';
import { freePort, startGatewayProcess } from '../helpers/gateway-process.ts';
import { GET_JOB, SUBMIT, tempSqlitePath, validInput } from '../helpers/start-gateway.ts';
import { waitFor, within } from '../helpers/wait-for.ts';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

const jobStatus = async (httpUrl: string, id: string) => (await post<{ job: any }>(httpUrl, GET_JOB, { id })).data?.job;

describe('the built-in simulator', () => {
  it('survives a SIGKILL of npm start: same address, job completes, its video URL serves; outsiders cannot submit', { timeout: 90_000 }, async () => {
    const sqlitePath = tempSqlitePath();
    const env = { SQLITE_PATH: sqlitePath, MEDIA_DIR: join(dirname(sqlitePath), 'media'), PORT: String(await freePort()), POLL_INTERVAL_MS: '200' };
    const first = await startGatewayProcess(env);
    const submitted = await post(first.httpUrl, SUBMIT, { input: validInput({ prompt: 'restart me [sim:fast]' }) });
    const job = submitted.data!.generateVideo;
    await waitFor(async () => (await jobStatus(first.httpUrl, job.id))?.status === 'IN_PROGRESS', { timeoutMs: 15_000, message: 'the job to run' });
    expect(existsSync(join(dirname(sqlitePath), 'fal-simulator.jsonl'))).toBe(true);
    first.child.kill('SIGKILL');
    expect(await first.exited).toBe('SIGKILL');

    const second = await startGatewayProcess(env);
    const done = await waitFor(async () => {
      const current = await jobStatus(second.httpUrl, job.id);
      return current?.status === 'COMPLETED' ? current : null;
    }, { timeoutMs: 30_000, intervalMs: 200, message: 'the job to complete after the restart' });
    expect(done.error).toBeNull();
    // The gateway keeps its own copy of the simulator's video (MEDIA_STORE=local by default).
    expect(done.video.url).toMatch(new RegExp(`^http://127\\.0\\.0\\.1:${env.PORT}/media/videos/${job.id}/[0-9a-f]{32}/output\\.mp4$`));
    const video = await fetch(done.video.url);
    expect(video.status).toBe(200);
    expect(video.headers.get('content-type')).toBe('video/mp4');
    expect((await video.arrayBuffer()).byteLength).toBe(done.video.fileSize);
    // Only the gateway holds the built-in simulator's key: an outsider's submit is refused.
    const outsider = await fetch(`http://127.0.0.1:${env.PORT}/fal-simulator/fal-ai/kling-video/v2.5-turbo/pro/image-to-video`, {
      method: 'POST',
      headers: { authorization: 'Key simulator-key', 'content-type': 'application/json' },
      body: JSON.stringify({ prompt: 'p', image_url: 'https://example.com/a.png' }),
    });
    expect(outsider.status).toBe(401);
    second.child.kill('SIGTERM');
    expect(await second.exited).toBe(0);
  });
});

describe('npm run simulator with FAL_QUEUE_URL', () => {
  it('FAL_QUEUE_URL without FAL_KEY is a configuration error naming FAL_KEY', () => {
    expect(() => loadConfig({ FAL_QUEUE_URL: 'http://127.0.0.1:4010' })).toThrow(/FAL_KEY is required when FAL_QUEUE_URL is set/);
  });

  it('prints the key it accepts; the gateway given that key and URL uses it', { timeout: 60_000 }, async () => {
    const port = await freePort();
    const child = spawn(process.execPath, ['--experimental-strip-types', '--no-warnings=ExperimentalWarning', 'src/simulator-main.ts'], {
      cwd: ROOT,
      env: { PATH: process.env.PATH ?? '', FAL_SIMULATOR_PORT: String(port) },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += String(chunk)));
    const exited = new Promise((resolve) => child.once('exit', resolve));
    try {
      await waitFor(() => output.includes('FAL_KEY='), { message: 'the simulator to print its key' });
      const [, queueUrl, key] = /FAL_QUEUE_URL=(\S+) FAL_KEY=(\S+) npm start/.exec(output)!;
      expect(queueUrl).toBe(`http://127.0.0.1:${port}`);
      const gateway = await startGatewayProcess({ SQLITE_PATH: ':memory:', FAL_QUEUE_URL: queueUrl!, FAL_KEY: key! });
      expect(gateway.output.join('')).not.toContain('built-in fal simulator');
      const job = (await post(gateway.httpUrl, SUBMIT, { input: validInput({ prompt: 'external [sim:fast]' }) })).data!.generateVideo;
      expect(job.requestId).toMatch(/^[0-9a-f-]{36}$/);
      await waitFor(async () => (await jobStatus(gateway.httpUrl, job.id))?.status === 'IN_PROGRESS', { timeoutMs: 15_000, message: 'the job to run on the external simulator' });
      gateway.child.kill('SIGTERM');
      await gateway.exited;
    } finally {
      child.kill('SIGTERM');
      await within(exited, 10_000, 'the simulator to exit');
    }
  });
});

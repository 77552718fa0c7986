/**
 * The process entry's side of configuration (`node src/main.ts`, as `npm start` runs it): a bad
 * environment makes it exit non-zero before anything listens, reporting each mistake on its own
 * stderr line that names the variable, and never printing the fal key; a good one starts, logs JSON
 * lines, and exits 0 on SIGTERM.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { connect } from 'node:net';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { freePort } from './helpers/gateway-process.ts';
import { waitFor, within } from './helpers/wait-for.ts';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const FAL_KEY = 'key-id-7c41:sentinel-secret-9f2e6b1d';

const children = new Set<ChildProcess>();
afterAll(() => {
  for (const child of children) child.kill('SIGKILL');
});

function startMain(env: Record<string, string>) {
  const child = spawn(process.execPath, ['--experimental-strip-types', '--no-warnings=ExperimentalWarning', 'src/main.ts'], {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? '', ...env }, // nothing else from this process's environment
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.add(child);
  const out = { stdout: '', stderr: '' };
  child.stdout!.on('data', (chunk: Buffer) => (out.stdout += String(chunk)));
  child.stderr!.on('data', (chunk: Buffer) => (out.stderr += String(chunk)));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (code, signal) => {
      children.delete(child);
      resolve({ code, signal });
    });
  });
  return { child, out, exited };
}

/** True when something accepts a TCP connection on 127.0.0.1:port. */
function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

describe('node src/main.ts and its environment', () => {
  it('a bad environment: exit 1, one stderr line per mistake naming its variable, nothing listens, the fal key never printed', async () => {
    const mistakes = {
      PORT: 'abc',
      FAL_AUTH_SCHEME: 'Basic',
      POLL_INTERVAL_MS: '0',
      LOG_LEVEL: 'loud',
      GATEWAY_API_KEYS: 'broken',
      REDIS_URL: 'http://x',
    };
    const main = startMain({ ...mistakes, FAL_KEY });
    const { code, signal } = await within(main.exited, 15_000, 'exit on a bad environment');
    const { stdout, stderr } = main.out;

    expect(signal).toBeNull();
    expect(code, stderr).toBe(1); // the README: "the process exits with status 1"
    expect(`${stdout}${stderr}`).not.toContain(FAL_KEY);
    expect(`${stdout}${stderr}`).not.toContain(FAL_KEY.split(':')[1]);

    // Nothing started: no log line at all, so no "gateway listening" (nor the simulator's).
    expect(stdout).toBe('');
    expect(stderr).not.toMatch(/listening/i);

    const lines = stderr.split('\n').map((l) => l.trim()).filter(Boolean);
    const mistakeLines = lines.filter((line) => Object.keys(mistakes).some((name) => line.includes(name)));
    for (const name of Object.keys(mistakes)) {
      const naming = lines.filter((line) => new RegExp(`\\b${name}\\b`).test(line));
      expect(naming, `exactly one stderr line names ${name}:\n${stderr}`).toHaveLength(1);
    }
    expect(mistakeLines, stderr).toHaveLength(Object.keys(mistakes).length);
    // The values may be echoed, but only the wrong ones, never a stack trace.
    expect(stderr).not.toMatch(/^\s+at /m);
  });

  it('a bad environment with a valid PORT: that port never accepts a connection while the process lives', async () => {
    const port = await freePort();
    const main = startMain({ PORT: String(port), HOST: '127.0.0.1', LOG_LEVEL: 'loud', FAL_KEY });
    let exited = false;
    void main.exited.then(() => (exited = true));
    const probes: boolean[] = [];
    while (!exited) {
      probes.push(await accepts(port));
      await Promise.race([main.exited, new Promise((resolve) => setTimeout(resolve, 5))]);
    }
    const { code } = await within(main.exited, 15_000, 'exit on a bad environment');
    expect(code).toBe(1);
    expect(main.out.stderr).toMatch(/LOG_LEVEL/);
    expect(probes.length).toBeGreaterThan(0);
    expect(probes.filter(Boolean)).toEqual([]);
    expect(`${main.out.stdout}${main.out.stderr}`).not.toContain(FAL_KEY);
  });

  it('a good environment: starts, logs JSON lines (level, time, msg), never prints the fal key, exits 0 on SIGTERM', async () => {
    const port = await freePort();
    const deadUpstream = await freePort(); // nothing listens there: the key goes nowhere
    const main = startMain({
      PORT: String(port),
      HOST: '127.0.0.1',
      SQLITE_PATH: ':memory:',
      LOG_LEVEL: 'info',
      FAL_KEY,
      FAL_QUEUE_URL: `http://127.0.0.1:${deadUpstream}`,
      GATEWAY_API_KEYS: 'acme:client-key-1',
    });
    await within(
      Promise.race([
        waitFor(() => main.out.stdout.includes('gateway listening'), { timeoutMs: 15_000, message: 'gateway listening' }),
        main.exited.then(({ code, signal }) => {
          throw new Error(`exited (${code ?? signal}) before listening:\n${main.out.stdout}${main.out.stderr}`);
        }),
      ]),
      15_000,
      'start-up',
    );
    const health = await fetch(`http://127.0.0.1:${port}/healthz`);
    expect(health.status).toBe(200);

    main.child.kill('SIGTERM');
    const stopped = await within(main.exited, 10_000, 'exit after SIGTERM');
    expect(stopped, `${main.out.stdout}${main.out.stderr}`).toEqual({ code: 0, signal: null });

    const { stdout, stderr } = main.out;
    expect(stderr).toBe('');
    expect(stdout).not.toContain(FAL_KEY);
    expect(stdout).not.toContain(FAL_KEY.split(':')[1]);
    expect(stdout.endsWith('\n')).toBe(true);
    const lines = stdout.slice(0, -1).split('\n');
    expect(lines.length).toBeGreaterThanOrEqual(3); // listening, shutting down, stopped
    for (const line of lines) {
      let entry: Record<string, unknown>;
      try {
        entry = JSON.parse(line) as Record<string, unknown>;
      } catch {
        throw new Error(`not a JSON line: ${line}`);
      }
      expect(entry, line).toEqual(expect.objectContaining({ level: expect.any(Number), time: expect.any(String), msg: expect.any(String) }));
      expect(Number.isNaN(Date.parse(entry.time as string)), line).toBe(false);
    }
    const messages = lines.map((line) => (JSON.parse(line) as { msg: string }).msg);
    expect(messages).toEqual(expect.arrayContaining(['gateway listening', 'shutting down']));
    expect(lines.some((line) => line.includes('"signal":"SIGTERM"'))).toBe(true);
  });
});

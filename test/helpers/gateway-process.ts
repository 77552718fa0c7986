/**
 * The gateway as a real child process (`node src/main.ts`), for tests that kill it (SIGKILL) or
 * signal it (SIGTERM) and start it again on the same database.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import { fileURLToPath } from 'node:url';
import { within } from './wait-for.ts';
import { atFileEnd } from './file-end.ts';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const running = new Set<ChildProcess>();
atFileEnd(() => {
  for (const child of running) child.kill('SIGKILL');
});

export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  if (typeof address !== 'object' || !address) throw new Error('no port');
  return address.port;
}

export interface GatewayProcess {
  child: ChildProcess;
  httpUrl: string;
  wsUrl: string;
  output: string[];
  /** Resolves with the exit code (or signal name). */
  exited: Promise<number | string>;
}

/** `waitForListening: false` returns at once (for a process expected to refuse to start). */
export async function startGatewayProcess(env: Record<string, string>, { waitForListening = true } = {}): Promise<GatewayProcess> {
  const port = env.PORT ?? String(await freePort());
  const child = spawn(process.execPath, ['--experimental-strip-types', '--no-warnings=ExperimentalWarning', 'src/main.ts'], {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? '', HOST: '127.0.0.1', LOG_LEVEL: 'info', ...env, PORT: port },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  running.add(child);
  const output: string[] = [];
  const exited = new Promise<number | string>((resolve) =>
    child.once('exit', (code, signal) => {
      running.delete(child);
      resolve(code ?? signal ?? 'unknown');
    }),
  );
  const listening = new Promise<void>((resolve, reject) => {
    const onData = (chunk: Buffer) => {
      output.push(String(chunk));
      if (output.join('').includes('gateway listening')) resolve();
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    void exited.then((code) => reject(new Error(`gateway exited (${code}) before listening:\n${output.join('')}`)));
  });
  if (waitForListening) {
    await within(listening, 45_000, 'gateway start-up').catch((error: Error) => {
      // An early exit already carries the output; a timeout says what the process printed so far.
      throw /before listening/.test(error.message) ? error : new Error(`${error.message}; its output so far:\n${output.join('') || '(none)'}`);
    });
  } else listening.catch(() => undefined);
  const httpUrl = `http://127.0.0.1:${port}/graphql`;
  return { child, httpUrl, wsUrl: httpUrl.replace(/^http/, 'ws'), output, exited };
}

/**
 * The CLI as a user runs it: `bin/fal-video` as a child process (stdout a pipe, so JSON lines), or
 * under a pseudo-terminal (`script` from util-linux), with only the environment a test gives it.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { post } from './clients.ts';
import { waitFor, within } from './wait-for.ts';
import { atFileEnd } from './file-end.ts';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
export const CLI_BIN = fileURLToPath(new URL('../../bin/fal-video', import.meta.url));

const running = new Set<ChildProcess>();
atFileEnd(() => {
  for (const child of running) child.kill('SIGKILL');
});

export interface CliProcess {
  child: ChildProcess;
  stdout: () => string;
  stderr: () => string;
  /** stdout parsed as JSON lines (every line must be JSON). */
  lines: () => any[];
  /** Resolves with the exit code (or the signal's name). */
  exited: Promise<number | string>;
  /** Waits until stdout holds a line matching `predicate`. */
  waitForLine(predicate: (line: any) => boolean, what: string, timeoutMs?: number): Promise<any>;
}

export interface CliResult {
  code: number | string;
  stdout: string;
  stderr: string;
  lines: any[];
}

const parseLines = (text: string) => text.split('\n').filter((line) => line.trim() !== '').map((line) => JSON.parse(line));

function track(child: ChildProcess): CliProcess {
  running.add(child);
  let out = '';
  let err = '';
  child.stdout?.on('data', (chunk: Buffer) => void (out += String(chunk)));
  child.stderr?.on('data', (chunk: Buffer) => void (err += String(chunk)));
  const exited = new Promise<number | string>((resolve) =>
    child.once('close', (code, signal) => {
      running.delete(child);
      resolve(code ?? signal ?? 'unknown');
    }),
  );
  return {
    child,
    stdout: () => out,
    stderr: () => err,
    lines: () => parseLines(out),
    exited,
    waitForLine: (predicate, what, timeoutMs = 30_000) =>
      waitFor(() => parseLines(out.slice(0, out.lastIndexOf('\n') + 1)).find(predicate), { timeoutMs, message: `${what} (stdout so far: ${out.slice(-500)}; stderr: ${err.slice(-500)})` }),
  };
}

/** The environment of a CLI child: PATH and what the test gives, nothing inherited (no stray GATEWAY_*). */
const envOf = (env: Record<string, string>) => ({ PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp', ...env });

export function spawnCli(args: string[], env: Record<string, string> = {}): CliProcess {
  return track(spawn(process.execPath, [CLI_BIN, ...args], { cwd: ROOT, env: envOf(env), stdio: ['ignore', 'pipe', 'pipe'] }));
}

export async function runCli(args: string[], env: Record<string, string> = {}, timeoutMs = 45_000): Promise<CliResult> {
  const cli = spawnCli(args, env);
  const code = await within(cli.exited, timeoutMs, `fal-video ${args.join(' ')}`);
  const stdout = cli.stdout();
  return { code, stdout, stderr: cli.stderr(), get lines() { return parseLines(stdout); } };
}

const quote = (arg: string) => `'${arg.replace(/'/g, `'\\''`)}'`;

/** Runs the CLI under a pseudo-terminal: `script -qfec "<cmd>" /dev/null`; the transcript is stdout. */
export async function runCliInPty(args: string[], env: Record<string, string> = {}, timeoutMs = 60_000): Promise<{ code: number | string; output: string }> {
  const command = [process.execPath, CLI_BIN, ...args].map(quote).join(' ');
  const cli = track(spawn('script', ['-qfec', command, '/dev/null'], { cwd: ROOT, env: { ...envOf(env), TERM: 'xterm-256color' }, stdio: ['ignore', 'pipe', 'pipe'] }));
  const code = await within(cli.exited, timeoutMs, `fal-video ${args.join(' ')} under a pseudo-terminal`);
  return { code, output: cli.stdout() + cli.stderr() };
}

/** Whether the gateway's schema has `field` on `type` (input or output), by introspection at run time. */
export async function serverHas(httpUrl: string, type: string, field: string): Promise<boolean> {
  const response = await post<{ __type: { fields: Array<{ name: string }> | null; inputFields: Array<{ name: string }> | null } | null }>(
    httpUrl,
    'query Has($type: String!) { __type(name: $type) { fields { name } inputFields { name } } }',
    { type },
  );
  const found = response.data?.__type;
  return Boolean(found && [...(found.fields ?? []), ...(found.inputFields ?? [])].some((f) => f.name === field));
}

/**
 * Parent side of the bench child processes: spawning them pinned to a core (taskset) with a raised
 * descriptor limit (ulimit -n in the spawn shell), waiting for their ready line, talking to their
 * control endpoint, measuring their clock offset, and stopping them.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { Agent, request } from 'node:http';
import { cpus } from 'node:os';
import { within } from '../../test/helpers/wait-for.ts';
import { nowUs, READY_PREFIX } from './common.ts';
import type { ProcessStats } from './control.ts';

export interface Machine {
  cores: number;
  taskset: boolean;
  /** Pinning is used only with taskset and at least 2 cores. */
  pin: boolean;
  nofileSoft: number | null;
  nofileHard: number | null;
  notes: string[];
}

export function detectMachine(wantPin: boolean): Machine {
  const notes: string[] = [];
  const cores = cpus().length;
  const taskset = spawnSync('taskset', ['--version'], { stdio: 'ignore' }).status === 0;
  const pin = wantPin && taskset && cores >= 2;
  if (!taskset) notes.push('taskset not found: processes are not pinned to cores (server and load generator share the CPUs).');
  else if (cores < 2) notes.push(`only ${cores} core(s): processes are not pinned.`);
  else if (!wantPin) notes.push('--no-pin: processes are not pinned to cores.');
  const limits = spawnSync('/bin/sh', ['-c', 'ulimit -n; ulimit -Hn'], { encoding: 'utf8' });
  const parse = (v: string | undefined) => (v === 'unlimited' ? 1e9 : v && /^\d+$/.test(v) ? Number(v) : null);
  const [soft, hard] = (limits.stdout ?? '').trim().split(/\s+/);
  return { cores, taskset, pin, nofileSoft: parse(soft), nofileHard: parse(hard), notes };
}

/** Pins this process (all its threads) to `core`. Returns an error text or null. */
export function pinSelf(core: number): string | null {
  const result = spawnSync('taskset', ['-a', '-p', '-c', String(core), String(process.pid)], { encoding: 'utf8' });
  return result.status === 0 ? null : (result.stderr || `taskset exited ${result.status}`).trim();
}

export interface Child<Info> {
  info: Info & { control: string; pid: number };
  /** Child clock minus ours (µs), measured over loopback; `uncertaintyUs` is half the best round trip. */
  clock: { offsetUs: number; uncertaintyUs: number };
  get<T = any>(path: string): Promise<T>;
  post<T = any>(path: string, body?: unknown): Promise<T>;
  stats(): Promise<ProcessStats>;
  /** Whether the process is still running. */
  alive(): boolean;
  /** Last lines the child wrote (logs), for error reports. */
  tail(): string[];
  stop(): Promise<void>;
}

export interface SpawnOptions {
  script: string;
  env: Record<string, string>;
  machine: Machine;
  core: number;
  nodeFlags?: string[];
  /** Raise the descriptor limit of the child to this (capped by the hard limit). */
  nofile?: number;
  readyTimeoutMs?: number;
}

/** Every child runs TypeScript by type stripping, quietly. */
export const STRIP_TYPES_FLAGS: readonly string[] = ['--experimental-strip-types', '--no-warnings=ExperimentalWarning'];

const agent = new Agent({ keepAlive: true, maxSockets: 4 });

/** One control call over a kept-alive loopback connection (cheaper and steadier than fetch). */
function call<T>(base: string, method: 'GET' | 'POST', path: string, body?: unknown, timeoutMs = 60_000): Promise<T> {
  const payload = body === undefined ? null : JSON.stringify(body);
  return new Promise<T>((resolve, reject) => {
    const req = request(base + path, {
      method,
      agent,
      timeout: timeoutMs,
      headers: payload === null ? {} : { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) },
    });
    req.on('timeout', () => req.destroy(new Error(`control ${method} ${path}: timed out after ${timeoutMs} ms`)));
    req.on('error', reject);
    req.on('response', (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('error', reject);
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        if ((res.statusCode ?? 500) >= 300) return reject(new Error(`control ${method} ${path}: ${res.statusCode} ${text.slice(0, 200)}`));
        try {
          resolve(JSON.parse(text) as T);
        } catch (error) {
          reject(error);
        }
      });
    });
    req.end(payload ?? undefined);
  });
}

/** Child clock minus ours, from the round trip with the smallest delay (NTP-style). */
async function clockOffset(base: string): Promise<{ offsetUs: number; uncertaintyUs: number }> {
  let best = { offsetUs: 0, uncertaintyUs: Infinity };
  for (let i = 0; i < 25; i++) {
    const t0 = nowUs();
    const { nowUs: remote } = await call<{ nowUs: number }>(base, 'GET', '/clock');
    const t1 = nowUs();
    const half = (t1 - t0) / 2;
    if (half < best.uncertaintyUs) best = { offsetUs: remote - (t0 + half), uncertaintyUs: half };
  }
  return best;
}

export async function spawnChild<Info>(options: SpawnOptions): Promise<Child<Info>> {
  const { machine } = options;
  const nodeArgs = [...STRIP_TYPES_FLAGS, ...(options.nodeFlags ?? []), options.script];
  let command = process.execPath;
  let args = nodeArgs;
  if (machine.pin) {
    command = 'taskset';
    args = ['-c', String(options.core), process.execPath, ...nodeArgs];
  }
  if (options.nofile && machine.nofileSoft !== null && machine.nofileSoft < options.nofile && existsSync('/bin/sh')) {
    const target = Math.min(options.nofile, machine.nofileHard ?? options.nofile);
    args = ['-c', `ulimit -n ${target} 2>/dev/null || true; exec "$@"`, 'sh', command, ...args];
    command = '/bin/sh';
  }
  const child: ChildProcess = spawn(command, args, { env: { ...process.env, ...options.env }, stdio: ['ignore', 'pipe', 'pipe'] });
  const lines: string[] = [];
  const remember = (line: string) => {
    lines.push(line);
    if (lines.length > 40) lines.shift();
  };
  let exited = false;
  const exit = new Promise<number | null>((resolve) => child.once('exit', (code) => ((exited = true), resolve(code))));

  const ready = new Promise<Info & { control: string; pid: number }>((resolve, reject) => {
    let buffer = '';
    child.stdout!.setEncoding('utf8');
    child.stdout!.on('data', (chunk: string) => {
      buffer += chunk;
      let newline: number;
      while ((newline = buffer.indexOf('\n')) >= 0) {
        const line = buffer.slice(0, newline);
        buffer = buffer.slice(newline + 1);
        if (line.startsWith(READY_PREFIX)) resolve(JSON.parse(line.slice(READY_PREFIX.length)));
        else if (line.trim()) remember(line);
      }
    });
    child.stderr!.setEncoding('utf8');
    child.stderr!.on('data', (chunk: string) => chunk.split('\n').filter((l) => l.trim()).forEach(remember));
    void exit.then((code) => reject(new Error(`${options.script} exited (${code}) before it was ready:\n${lines.join('\n')}`)));
  });
  let info: Info & { control: string; pid: number };
  try {
    info = await within(ready, options.readyTimeoutMs ?? 30_000, `${options.script} start-up`);
  } catch (error) {
    child.kill('SIGKILL');
    throw error;
  }
  const base = info.control;
  const clock = await clockOffset(base);
  return {
    info,
    clock,
    get: (path) => call(base, 'GET', path),
    post: (path, body) => call(base, 'POST', path, body ?? {}),
    stats: () => call<ProcessStats>(base, 'GET', '/stats'),
    alive: () => !exited,
    tail: () => [...lines],
    async stop() {
      if (exited) return;
      await call(base, 'POST', '/exit', {}, 5_000).catch(() => undefined);
      const gone = await within(exit, 10_000, 'child exit').then(() => true, () => false);
      if (!gone) {
        child.kill('SIGKILL');
        await within(exit, 5_000, 'child kill').catch(() => undefined);
      }
    },
  };
}

/** Busy time (µs) of each CPU so far, from /proc/stat; null where unavailable. */
export function coreBusyUs(): number[] | null {
  let text: string;
  try {
    text = readFileSync('/proc/stat', 'utf8');
  } catch {
    return null;
  }
  const hz = 100; // USER_HZ
  const busy: number[] = [];
  for (const line of text.split('\n')) {
    const match = /^cpu(\d+)\s+(.*)$/.exec(line);
    if (!match) continue;
    const fields = match[2]!.trim().split(/\s+/).map(Number);
    const total = fields.slice(0, 8).reduce((a, b) => a + b, 0);
    const idle = (fields[3] ?? 0) + (fields[4] ?? 0);
    busy[Number(match[1])] = ((total - idle) / hz) * 1e6;
  }
  return busy;
}

/**
 * CPU time other processes (not the server child, not this process) used on the server core and
 * the load core during a window, in % of the window: other people's work on a shared machine.
 */
export class Interference {
  private readonly busy = coreBusyUs();
  private readonly self = process.cpuUsage();
  private readonly started = performance.now();

  /** `serverCpuUs`: the server child's CPU over the same window. */
  finish(serverCpuUs: number, serverCore: number, loadCore: number): { serverCorePct: number; loadCorePct: number } | null {
    const now = coreBusyUs();
    if (!this.busy || !now) return null;
    const windowUs = (performance.now() - this.started) * 1000;
    const self = process.cpuUsage(this.self);
    const onServerCore = (now[serverCore] ?? 0) - (this.busy[serverCore] ?? 0) - serverCpuUs;
    const onLoadCore = (now[loadCore] ?? 0) - (this.busy[loadCore] ?? 0) - (self.user + self.system);
    const pct = (us: number) => Math.max(0, (us / windowUs) * 100);
    return { serverCorePct: pct(onServerCore), loadCorePct: pct(onLoadCore) };
  }
}

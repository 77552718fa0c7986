/**
 * The Dockerfile, built by hand. There is no Docker engine here, so this test reads the real
 * Dockerfile and .dockerignore and runs each step itself, with the same commands on the same files:
 *
 * - every stage gets its own directory standing for the image's filesystem root (`/app` of stage
 *   `deps` is `<tmp>/deps/app`); container paths are mapped into it;
 * - stage `deps`: its COPY sources come from the build context (the repo, minus .dockerignore), its
 *   RUN line is run unchanged through `/bin/sh -c` in its WORKDIR, as root (like `docker build`),
 *   with HOME inside the stage so npm's cache (and `npm cache clean --force`) stays there, and with
 *   this machine's proxy/CA/registry variables so that npm reaches the registry from here;
 * - stage `runtime`: `COPY --from=deps` copies from that stage's directory, the other COPY sources
 *   from the context, the RUN that makes the volume directory is reproduced (mapped path, uid 65534
 *   instead of the image's `node` user), ENV is applied, then the CMD runs exactly as written (exec
 *   form, no shell) as uid/gid 65534 (`nobody`, standing in for `USER node`) with the environment the
 *   image would have. Node: this machine's Node 24 (the one running vitest), linked into each stage's
 *   `/usr/local/bin` as in the image, which also keeps it reachable for uid 65534 when it lives under
 *   a private home (CI's ~/.cache/node24); that directory leads PATH. The deps stage's PATH also
 *   keeps this machine's PATH after it, to find npm (the image's npm comes with its Node).
 *   Two values differ from the image, on purpose: PORT is a free port (not 4000) and SQLITE_PATH
 *   points into the mapped volume directory instead of `/data`.
 *
 * The image directories stay owned by root and read-only for the process (as COPY leaves them);
 * only the volume directory is writable for uid 65534, as `chown node:node /data` makes it.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, chownSync, copyFileSync, cpSync, linkSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readlinkSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, matchesGlob, normalize, posix, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { START_ENTRY, startNodeFlags } from '../scripts/start-flags.ts';
import { freePort } from './helpers/gateway-process.ts';
import { waitFor, within } from './helpers/wait-for.ts';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
/** Who runs the CMD here: `nobody`, standing in for the image's `node` user. */
const RUN_AS = { uid: 65534, gid: 65534 };
/** node:*-slim images set this PATH; Node lives in /usr/local/bin there. */
const IMAGE_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';
const IMAGE_NODE_DIR = '/usr/local/bin';
/** How this machine reaches the npm registry (proxies, a TLS-intercepting proxy's CA, a mirror). */
const NETWORK_ENV = /^((https?|no)_proxy|NODE_EXTRA_CA_CERTS|SSL_CERT_(FILE|DIR)|npm_config_(registry|cafile|ca|strict_ssl|proxy|https_proxy|noproxy))$/i;

// --- reading the Dockerfile ---------------------------------------------------------------------

interface Instruction {
  keyword: string;
  args: string;
}
interface Stage {
  base: string;
  name: string;
  instructions: Instruction[];
}

/** Comment lines dropped, `\` continuations joined, one instruction per entry, grouped by FROM. */
function parseDockerfile(text: string): Stage[] {
  const logical: string[] = [];
  let pending = '';
  for (const raw of text.split(/\r?\n/)) {
    if (/^\s*#/.test(raw)) continue; // comments (and the syntax directive), also inside continuations
    const line = raw.trimEnd();
    if (line.endsWith('\\')) {
      pending += `${line.slice(0, -1).trim()} `;
      continue;
    }
    const full = (pending + line.trim()).trim();
    pending = '';
    if (full) logical.push(full);
  }
  if (pending.trim()) logical.push(pending.trim());

  const stages: Stage[] = [];
  for (const line of logical) {
    const match = /^(\w+)\s+(.*)$/s.exec(line);
    if (!match) throw new Error(`cannot read Dockerfile line: ${line}`);
    const keyword = match[1]!.toUpperCase();
    const args = match[2]!.trim();
    if (keyword === 'FROM') {
      const from = /^(?:--platform=\S+\s+)?(\S+)(?:\s+AS\s+(\S+))?$/i.exec(args);
      if (!from) throw new Error(`cannot read FROM ${args}`);
      stages.push({ base: from[1]!, name: from[2] ?? String(stages.length), instructions: [] });
    } else {
      const stage = stages.at(-1);
      if (!stage) throw new Error(`${keyword} before any FROM`);
      stage.instructions.push({ keyword, args });
    }
  }
  return stages;
}

/** `["a", "b"]` (exec form) -> argv; anything else -> null (shell form). */
function execForm(args: string): string[] | null {
  if (!args.startsWith('[')) return null;
  const argv: unknown = JSON.parse(args);
  if (!Array.isArray(argv) || argv.length === 0 || !argv.every((a) => typeof a === 'string')) throw new Error(`bad exec form: ${args}`);
  return argv as string[];
}

/** Words, with "double" or 'single' quotes kept together (enough for ENV and COPY here). */
function words(args: string): string[] {
  return [...args.matchAll(/(?:[^\s"']+|"(?:[^"\\]|\\.)*"|'[^']*')+/g)].map((m) => m[0]);
}
const unquote = (s: string) => s.replace(/"((?:[^"\\]|\\.)*)"|'([^']*)'/g, (_, d: string | undefined, q: string | undefined) => (d !== undefined ? d.replace(/\\(.)/g, '$1') : q!));

/** `ENV A=1 B=2` or the legacy `ENV A 1`. */
function parseEnv(args: string): Record<string, string> {
  const parts = words(args);
  if (parts.length > 0 && !parts[0]!.includes('=')) return { [parts[0]!]: unquote(args.slice(parts[0]!.length).trim()) };
  return Object.fromEntries(
    parts.map((part) => {
      const at = part.indexOf('=');
      if (at <= 0) throw new Error(`cannot read ENV ${args}`);
      return [part.slice(0, at), unquote(part.slice(at + 1))];
    }),
  );
}

function parseCopy(args: string): { from: string | null; sources: string[]; dest: string } {
  if (args.startsWith('[')) {
    const list = execForm(args)!;
    return { from: null, sources: list.slice(0, -1), dest: list.at(-1)! };
  }
  const parts = words(args).map(unquote);
  let from: string | null = null;
  while (parts[0]?.startsWith('--')) {
    const flag = parts.shift()!;
    if (flag.startsWith('--from=')) from = flag.slice('--from='.length);
    else throw new Error(`COPY flag ${flag} is not reproduced by this test: extend it`);
  }
  if (parts.length < 2) throw new Error(`cannot read COPY ${args}`);
  return { from, sources: parts.slice(0, -1), dest: parts.at(-1)! };
}

/** `HEALTHCHECK [--opt=value ...] CMD ...` -> options (seconds) and the command. */
function parseHealthcheck(args: string): { options: Record<string, string>; command: string[] | string } {
  const match = /^((?:--[\w-]+=\S+\s+)*)CMD\s+(.*)$/s.exec(args);
  if (!match) throw new Error(`cannot read HEALTHCHECK ${args}`);
  const options = Object.fromEntries(words(match[1]!).map((o) => o.slice(2).split('=') as [string, string]));
  const command = match[2]!.trim();
  return { options, command: execForm(command) ?? command };
}

function durationMs(value: string | undefined, fallbackMs: number): number {
  if (!value) return fallbackMs;
  const match = /^(\d+(?:\.\d+)?)(ms|s|m)$/.exec(value);
  if (!match) throw new Error(`cannot read duration ${value}`);
  return Number(match[1]) * { ms: 1, s: 1000, m: 60_000 }[match[2] as 'ms' | 's' | 'm'];
}

const all = (stage: Stage, keyword: string) => stage.instructions.filter((i) => i.keyword === keyword);
const last = (stage: Stage, keyword: string) => all(stage, keyword).at(-1);

// --- the build context --------------------------------------------------------------------------

/** .dockerignore patterns (root-relative; `!` re-includes; the last matching pattern wins). */
function dockerignore(): (relPath: string) => boolean {
  const file = join(ROOT, '.dockerignore');
  const patterns = existsSync(file)
    ? readFileSync(file, 'utf8')
        .split(/\r?\n/)
        .map((l) => l.trim())
        .filter((l) => l && !l.startsWith('#'))
        .map((l) => ({ negate: l.startsWith('!'), glob: posix.normalize(l.replace(/^!/, '').replace(/^\/+/, '')).replace(/\/+$/, '') }))
    : [];
  const matches = (path: string) => {
    let excluded = false;
    for (const { negate, glob } of patterns) if (matchesGlob(path, glob)) excluded = !negate;
    return excluded;
  };
  // A path is out of the context when it, or a directory above it, is excluded.
  return (relPath) => {
    const parts = relPath.split('/');
    return parts.some((_, i) => matches(parts.slice(0, i + 1).join('/')));
  };
}

// --- running things -----------------------------------------------------------------------------

interface Run {
  child: ChildProcess;
  stdout: string[];
  stderr: string[];
  text(): string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

const children = new Set<ChildProcess>();
const tempDirs: string[] = [];
afterAll(() => {
  for (const child of children) child.kill('SIGKILL');
  for (const dir of tempDirs) rmSync(dir, { recursive: true, force: true });
});

function run(argv: string[], options: { cwd: string; env: Record<string, string>; user?: { uid: number; gid: number } }): Run {
  const child = spawn(argv[0]!, argv.slice(1), {
    cwd: options.cwd,
    env: options.env, // the lookup of argv[0] uses this PATH
    stdio: ['ignore', 'pipe', 'pipe'],
    ...(options.user ?? {}), // setgid/setuid in the child before exec (supplementary groups dropped): no wrapper process
  });
  children.add(child);
  const stdout: string[] = [];
  const stderr: string[] = [];
  child.stdout!.on('data', (chunk: Buffer) => stdout.push(String(chunk)));
  child.stderr!.on('data', (chunk: Buffer) => stderr.push(String(chunk)));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (code, signal) => {
      children.delete(child);
      resolve({ code, signal });
    });
  });
  return { child, stdout, stderr, text: () => `${stdout.join('')}${stderr.join('')}`, exited };
}

async function finished(r: Run, timeoutMs: number, what: string) {
  try {
    return await within(r.exited, timeoutMs, what);
  } catch (error) {
    r.child.kill('SIGKILL');
    throw new Error(`${String(error)}\n${r.text()}`);
  }
}

// --- the test -----------------------------------------------------------------------------------

const dockerfile = readFileSync(join(ROOT, 'Dockerfile'), 'utf8');
const stages = parseDockerfile(dockerfile);
const stage = (name: string) => {
  const found = stages.find((s) => s.name === name);
  if (!found) throw new Error(`the Dockerfile has no stage ${name}`);
  return found;
};

describe('Dockerfile', () => {
  it('two stages on a node:24 slim base; a non-root USER before the exec-form CMD; EXPOSE matches PORT', () => {
    expect(stages.map((s) => s.name)).toEqual(['deps', 'runtime']);
    for (const s of stages) expect(s.base, `stage ${s.name}`).toMatch(/^node:24(\.\d+){0,2}-(?:[a-z]+-)?slim(@sha256:[0-9a-f]{64})?$/);

    const runtime = stage('runtime');
    const keywords = runtime.instructions.map((i) => i.keyword);
    const cmdAt = keywords.lastIndexOf('CMD');
    const userAt = keywords.lastIndexOf('USER');
    expect(cmdAt).toBeGreaterThan(-1);
    expect(userAt, 'USER comes before CMD').toBeGreaterThan(-1);
    expect(userAt).toBeLessThan(cmdAt);
    const user = runtime.instructions[userAt]!.args.split(':')[0]!;
    expect(['root', '0']).not.toContain(user);

    // Exec form: node is the process Docker signals, no shell in between.
    expect(execForm(runtime.instructions[cmdAt]!.args), 'CMD in exec form (a JSON array)').not.toBeNull();
    // The image runs what `npm start` runs: the node flags are written in package.json's start script.
    expect(execForm(runtime.instructions[cmdAt]!.args), 'CMD = the start script\'s node command').toEqual(['node', ...startNodeFlags(), START_ENTRY]);
    const health = parseHealthcheck(last(runtime, 'HEALTHCHECK')!.args);
    expect(Array.isArray(health.command), 'HEALTHCHECK CMD in exec form').toBe(true);

    const env = Object.assign({}, ...all(runtime, 'ENV').map((i) => parseEnv(i.args))) as Record<string, string>;
    expect(last(runtime, 'EXPOSE')?.args.split(/\s+/)).toContain(env.PORT ?? '4000');
  });

  it('built by hand, step by step: deps installed without dev dependencies, runs as non-root, healthy, stops on SIGTERM', { timeout: 60_000 }, async () => {
    const imageMajor = /^node:(\d+)/.exec(stage('runtime').base)![1]!;
    expect(process.versions.node.split('.')[0], `this test runs the image's Node ${imageMajor}: start vitest with Node ${imageMajor} on PATH`).toBe(imageMajor);
    const ignored = dockerignore();

    const work = mkdtempSync(join(tmpdir(), 'dockerfile-test-'));
    tempDirs.push(work);
    chmodSync(work, 0o755); // uid 65534 must reach the runtime root below, as any user can walk an image's tree
    const roots = new Map<string, string>();
    const workdirs = new Map<string, string>();
    const inStage = (name: string, containerPath: string) => join(roots.get(name)!, normalize(`/${containerPath}`));
    /** The base image's part: Node in /usr/local/bin (a hard link when possible, else a copy). */
    const installNode = (name: string) => {
      const bin = inStage(name, IMAGE_NODE_DIR);
      mkdirSync(bin, { recursive: true, mode: 0o755 });
      try {
        linkSync(process.execPath, join(bin, 'node'));
      } catch {
        copyFileSync(process.execPath, join(bin, 'node'));
        chmodSync(join(bin, 'node'), 0o755);
      }
      return bin;
    };

    /** COPY semantics: into a directory when dest ends in `/` or several sources; a directory's contents, not itself. */
    const copy = (from: string, to: string, multiple: boolean, destIsDir: boolean, filter?: (src: string) => boolean) => {
      const target = multiple || destIsDir ? join(to, posix.basename(from)) : to;
      if (statSync(from).isDirectory()) mkdirSync(target, { recursive: true, mode: 0o755 });
      else mkdirSync(dirname(target), { recursive: true, mode: 0o755 });
      cpSync(from, target, { recursive: true, verbatimSymlinks: true, ...(filter ? { filter } : {}) });
    };

    const buildEnv: Record<string, string> = {};
    for (const s of stages) {
      const root = join(work, s.name);
      mkdirSync(root, { mode: 0o755 });
      roots.set(s.name, root);
      const nodeBin = installNode(s.name);
      let workdir = '/';
      const env: Record<string, string> = { PATH: `${nodeBin}:${IMAGE_PATH}` };
      for (const { keyword, args } of s.instructions) {
        switch (keyword) {
          case 'WORKDIR':
            workdir = posix.resolve(workdir, args);
            mkdirSync(inStage(s.name, workdir), { recursive: true, mode: 0o755 });
            break;
          case 'ENV':
            Object.assign(env, parseEnv(args));
            break;
          case 'COPY': {
            const { from, sources, dest } = parseCopy(args);
            const to = inStage(s.name, posix.resolve(workdir, dest));
            const destIsDir = dest.endsWith('/') || dest === '.';
            for (const source of sources) {
              if (from !== null) {
                if (!roots.has(from)) throw new Error(`COPY --from=${from}: no such earlier stage`);
                copy(inStage(from, source), to, sources.length > 1, destIsDir);
              } else {
                const rel = posix.normalize(source).replace(/^\/+|\/+$/g, '');
                if (ignored(rel) || !existsSync(join(ROOT, rel))) throw new Error(`COPY ${source}: not in the build context (missing or .dockerignore'd)`);
                copy(join(ROOT, rel), to, sources.length > 1, destIsDir, (src) => !ignored(relative(ROOT, src).split('\\').join('/')));
              }
            }
            break;
          }
          case 'RUN': {
            if (s.name === 'deps') {
              // The line exactly as written, through the image's default shell, as root, in WORKDIR.
              expect(args).toMatch(/^npm ci --omit=dev\b/);
              const home = inStage(s.name, '/root');
              mkdirSync(home, { recursive: true });
              // The build host's network settings reach the build, as `docker build` passes proxies through.
              const network = Object.fromEntries(Object.entries(process.env).filter(([k, v]) => NETWORK_ENV.test(k) && v)) as Record<string, string>;
              const install = run(['/bin/sh', '-c', args], {
                cwd: inStage(s.name, workdir),
                env: { ...env, ...network, HOME: home, PATH: `${env.PATH}:${process.env.PATH ?? ''}` },
              });
              const { code } = await finished(install, 45_000, `RUN ${args}`);
              expect(code, `RUN ${args}\n${install.text()}`).toBe(0);
            } else {
              // `mkdir -p /data && chown node:node /data`, step by step, on the mapped paths; the image's
              // `node` user is uid/gid 65534 here.
              for (const step of args.split('&&').map((c) => c.trim())) {
                const [command, ...rest] = step.split(/\s+/);
                if (command === 'mkdir' && rest[0] === '-p') {
                  for (const path of rest.slice(1)) mkdirSync(inStage(s.name, path), { recursive: true, mode: 0o755 });
                } else if (command === 'chown' && rest[0] === 'node:node') {
                  for (const path of rest.slice(1)) chownSync(inStage(s.name, path), RUN_AS.uid, RUN_AS.gid);
                } else {
                  throw new Error(`RUN step "${step}" in stage ${s.name} is not reproduced by this test: extend it`);
                }
              }
            }
            break;
          }
          case 'USER':
          case 'VOLUME':
          case 'EXPOSE':
          case 'HEALTHCHECK':
          case 'CMD':
            break; // metadata, used below
          default:
            throw new Error(`Dockerfile instruction ${keyword} is not reproduced by this test: extend it`);
        }
      }
      workdirs.set(s.name, workdir);
      if (s.name === 'runtime') Object.assign(buildEnv, env);
    }

    // The image's contents.
    const runtime = stage('runtime');
    const app = inStage('runtime', workdirs.get('runtime')!);
    const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { dependencies?: Record<string, string>; devDependencies?: Record<string, string> };
    const devDeps = Object.keys(pkg.devDependencies ?? {});
    expect(devDeps.length).toBeGreaterThan(0);
    for (const name of devDeps) expect(existsSync(join(app, 'node_modules', name)), `devDependency ${name} in the image`).toBe(false);
    const hidden = JSON.parse(readFileSync(join(app, 'node_modules', '.package-lock.json'), 'utf8')) as { packages: Record<string, { dev?: boolean }> };
    expect(Object.entries(hidden.packages).filter(([, p]) => p.dev).map(([path]) => path)).toEqual([]);
    for (const name of Object.keys(pkg.dependencies ?? {})) expect(existsSync(join(app, 'node_modules', name)), `dependency ${name} in the image`).toBe(true);
    for (const absent of ['test', 'scripts', '.git']) expect(existsSync(join(app, absent)), `${absent} in the image`).toBe(false);
    // Nothing above the image's app directory may lend it packages (the test would pass for the wrong reason).
    for (let dir = dirname(app); dir !== dirname(dir); dir = dirname(dir)) expect(existsSync(join(dir, 'node_modules')), `${dir}/node_modules`).toBe(false);

    // The container's environment: the image's ENV, with two values changed (see the file comment).
    expect(buildEnv.SQLITE_PATH).toMatch(/^\//);
    const port = await freePort();
    const home = inStage('runtime', '/home/node');
    mkdirSync(home, { recursive: true, mode: 0o755 });
    chownSync(home, RUN_AS.uid, RUN_AS.gid);
    const containerEnv: Record<string, string> = {
      ...buildEnv,
      HOME: home,
      PORT: String(port), // instead of 4000: a free port on this machine
      SQLITE_PATH: inStage('runtime', buildEnv.SQLITE_PATH!), // instead of /data/...: the mapped volume directory
    };
    const volumeDir = dirname(containerEnv.SQLITE_PATH!);
    expect(statSync(volumeDir).uid, 'the volume directory belongs to the runtime user').toBe(RUN_AS.uid);
    expect(statSync(app).uid, 'the app directory stays root-owned, as COPY leaves it').toBe(0);

    const cmd = execForm(last(runtime, 'CMD')!.args)!;
    const health = parseHealthcheck(last(runtime, 'HEALTHCHECK')!.args);
    const healthArgv = Array.isArray(health.command) ? health.command : ['/bin/sh', '-c', health.command];
    const healthTimeoutMs = durationMs(health.options.timeout, 30_000);
    const healthcheck = async () => {
      const probe = run(healthArgv, { cwd: app, env: containerEnv, user: RUN_AS });
      return { ...(await finished(probe, healthTimeoutMs, `HEALTHCHECK (--timeout=${health.options.timeout})`)), output: probe.text() };
    };

    const gateway = run(cmd, { cwd: app, env: containerEnv, user: RUN_AS });
    try {
      await within(
        Promise.race([
          waitFor(() => gateway.stdout.join('').includes('gateway listening'), { timeoutMs: 20_000, message: 'gateway listening' }),
          gateway.exited.then(({ code, signal }) => {
            throw new Error(`the CMD exited (${code ?? signal}) before listening:\n${gateway.text()}`);
          }),
        ]),
        20_000,
        'CMD start-up',
      );

      // The CMD process itself is node, as uid/gid 65534, with exactly the CMD's argv: no shell, no wrapper.
      const pid = gateway.child.pid!;
      const status = readFileSync(`/proc/${pid}/status`, 'utf8');
      expect(status).toMatch(new RegExp(`^Uid:\\s+${RUN_AS.uid}\\s+${RUN_AS.uid}\\s`, 'm'));
      expect(status).toMatch(new RegExp(`^Gid:\\s+${RUN_AS.gid}\\s+${RUN_AS.gid}\\s`, 'm'));
      expect(readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').slice(0, -1)).toEqual(cmd);
      expect(statSync(readlinkSync(`/proc/${pid}/exe`)).ino, 'node from the image\'s /usr/local/bin').toBe(statSync(inStage('runtime', `${IMAGE_NODE_DIR}/node`)).ino);

      const healthy = await healthcheck();
      expect(healthy.code, `HEALTHCHECK output:\n${healthy.output}`).toBe(0);
      expect(existsSync(containerEnv.SQLITE_PATH!), 'the database lives in the volume directory').toBe(true);
      expect(statSync(containerEnv.SQLITE_PATH!).uid).toBe(RUN_AS.uid);

      gateway.child.kill('SIGTERM');
      const stopped = await finished(gateway, 10_000, 'exit after SIGTERM');
      expect(stopped, gateway.text()).toEqual({ code: 0, signal: null });
      expect(gateway.stdout.join('')).toMatch(/"signal":"SIGTERM"/);

      // The same check fails once the gateway is gone: it tests the server, not just node.
      expect((await healthcheck()).code).not.toBe(0);
    } finally {
      gateway.child.kill('SIGKILL');
    }
  });
});

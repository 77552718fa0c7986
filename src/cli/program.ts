/**
 * The commands and their flags (commander), and the one place that turns every outcome into an
 * exit code: CliError -> its code and a message on stderr; a commander usage error -> 2; help -> 0.
 */
import { Command, CommanderError, Option } from 'commander';
import { cancel, list, status, watch } from './commands/jobs.ts';
import { events } from './commands/events.ts';
import { submit, type SubmitFlags } from './commands/submit.ts';
import type { Context, Signals } from './context.ts';
import { CliError, EXIT, usage } from './errors.ts';
import { createHttpClient } from './http.ts';
import { createOutput, type OutputStream } from './output.ts';

export const DEFAULT_GATEWAY_URL = 'http://localhost:4000/graphql';

export interface CliDeps {
  env: Record<string, string | undefined>;
  stdout: OutputStream;
  stderr: OutputStream;
  signals: Signals;
  exitNow(code: number): never;
  now?: () => number;
}

interface CommonFlags {
  url?: string;
  key?: string;
  json?: boolean;
  reconnectTimeout: string;
}

/** The GraphQL endpoint: `--url`, else GATEWAY_URL, else the default; a bare origin gets /graphql. */
export function endpointOf(value: string): string {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw usage(`--url / GATEWAY_URL must be an http(s) URL, not "${value}"`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw usage(`--url / GATEWAY_URL must be an http(s) URL, not "${value}"`);
  if (url.pathname === '/' || url.pathname === '') url.pathname = '/graphql';
  return url.toString();
}

function contextOf(deps: CliDeps, flags: CommonFlags): Context {
  const connection = { url: endpointOf(flags.url ?? deps.env.GATEWAY_URL ?? DEFAULT_GATEWAY_URL), key: flags.key ?? (deps.env.GATEWAY_API_KEY || undefined) };
  const seconds = Number(flags.reconnectTimeout);
  if (!Number.isFinite(seconds) || seconds < 0) throw usage(`--reconnect-timeout must be a number of seconds, not "${flags.reconnectTimeout}"`);
  return {
    out: createOutput({ stdout: deps.stdout, stderr: deps.stderr, env: deps.env, json: Boolean(flags.json) }),
    connection,
    http: createHttpClient(connection),
    signals: deps.signals,
    exitNow: deps.exitNow,
    now: deps.now ?? Date.now,
    reconnectTimeoutMs: seconds * 1000,
  };
}

function common(command: Command): Command {
  return command
    .option('--url <url>', 'the gateway GraphQL endpoint (default: GATEWAY_URL, else http://localhost:4000/graphql)')
    .option('--key <key>', 'API key or JWT, sent as a bearer token (default: GATEWAY_API_KEY)')
    .option('--json', 'JSON lines only on stdout (the default when stdout is not a terminal)')
    .option('--reconnect-timeout <seconds>', 'how long a dropped connection keeps retrying before exit 4', '120');
}

function build(deps: CliDeps, run: Run): Command {
  const program = new Command('fal-video')
    .description('Submit image-to-video jobs to the gateway, follow them, download their videos.')
    .addHelpText('after', '\nExit codes: 0 success (--wait, watch: COMPLETED), 1 job FAILED or CANCELLED (or another refusal), 2 bad usage or BAD_USER_INPUT,\n3 UNAUTHENTICATED, 4 gateway unreachable or UPSTREAM_UNAVAILABLE, 130 interrupted (detached).')
    .exitOverride()
    .configureOutput({ writeOut: (s) => void deps.stdout.write(s), writeErr: (s) => void deps.stderr.write(s) })
    .showHelpAfterError('(run with --help for usage)');
  defineSubmit(program, run);
  defineJobCommands(program, run);
  return program;
}

type Run = (task: (ctx: Context) => Promise<number>, flags: CommonFlags) => void;

function defineSubmit(program: Command, run: Run): void {
  common(program.command('submit').description('submit a job; with --wait, follow it to the end'))
    .requiredOption('--prompt <text>', 'what should happen in the video (1..2500 characters)')
    .option('--image-url <url>', 'http(s) URL of the first frame (jpg, png, webp, gif, avif)')
    .option('--image <file>', 'a local image file, uploaded (GraphQL multipart request)')
    .addOption(new Option('--duration <seconds>', 'video length in seconds').choices(['5', '10']))
    .option('--negative-prompt <text>', 'what to avoid')
    .option('--cfg-scale <x>', 'how closely to follow the prompt, 0..1')
    .option('--idempotency-key <key>', 'the same key again finds the same job (safe to rerun)')
    .option('--wait', 'follow the job until it ends; exit 0 only when COMPLETED')
    .option('--download <path>', 'save the video there (a file, or a folder); implies --wait')
    .option('--cancel-on-interrupt', 'Ctrl-C cancels the job instead of detaching')
    .action((flags: SubmitFlags & CommonFlags) => run((ctx) => submit(ctx, flags), flags));
}

function defineJobCommands(program: Command, run: Run): void {
  common(program.command('status').argument('<id>', 'job id').description("print a job's current state"))
    .action((id: string, flags: CommonFlags) => run((ctx) => status(ctx, id), flags));
  common(program.command('watch').argument('<id>', 'job id').description('follow a job to its end (at once if it already ended)'))
    .option('--download <path>', 'save the video there when COMPLETED')
    .option('--cancel-on-interrupt', 'Ctrl-C cancels the job instead of detaching')
    .action((id: string, flags: CommonFlags & { download?: string; cancelOnInterrupt?: boolean }) => run((ctx) => watch(ctx, id, flags), flags));
  common(program.command('cancel').argument('<id>', 'job id').description('cancel a job'))
    .action((id: string, flags: CommonFlags) => run((ctx) => cancel(ctx, id), flags));
  common(program.command('list').description('list jobs, newest first'))
    .option('--status <status>', 'only jobs in this status (IN_QUEUE, IN_PROGRESS, COMPLETED, FAILED, CANCELLED)')
    .option('--first <n>', 'how many (gateway default 20, at most 100)')
    .option('--after <cursor>', 'the page after this cursor')
    .action((flags: CommonFlags & { status?: string; first?: string; after?: string }) => run((ctx) => list(ctx, flags), flags));
  common(program.command('events').description('follow every change of every job you may see, until Ctrl-C'))
    .option('--after <cursor>', 'replay from after this cursor (from an earlier event), then live')
    .option('--status <status...>', 'only events whose job has one of these statuses')
    .action((flags: CommonFlags & { after?: string; status?: string[] }) => run((ctx) => events(ctx, flags), flags));
}

/** Runs one command line; resolves with the exit code. */
export async function runCli(argv: string[], deps: CliDeps): Promise<number> {
  let task: Promise<number> = Promise.resolve(EXIT.ok);
  const program = build(deps, (run, flags) => {
    task = Promise.resolve().then(() => run(contextOf(deps, flags)));
  });
  try {
    await program.parseAsync(argv, { from: 'user' });
    if (argv.length === 0) program.outputHelp();
    return await task;
  } catch (error) {
    if (error instanceof CommanderError) return error.exitCode === 0 ? EXIT.ok : EXIT.usage;
    if (error instanceof CliError) {
      deps.stderr.write(`error: ${error.message}\n`);
      return error.exitCode;
    }
    deps.stderr.write(`error: ${error instanceof Error ? error.message : String(error)}\n`);
    return EXIT.failed;
  }
}

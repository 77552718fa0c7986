/**
 * Following one job to its end (`watch`, `submit --wait`): its state at once, then each change, as
 * JSON lines or the live display. A dropped connection subscribes to `jobUpdates` again (whose first
 * event is the state missed). Ctrl-C detaches (or cancels, with `--cancel-on-interrupt`), exit 130.
 */
import type { Context } from './context.ts';
import { onInterrupt } from './context.ts';
import { CliError, EXIT, type ExitCode } from './errors.ts';
import { downloadVideo } from './download.ts';
import { createLiveDisplay, type LiveDisplay } from './live.ts';
import { CANCEL, JOB_UPDATES, TERMINAL, type Job } from './queries.ts';
import { details } from './render.ts';
import { sleep, stream } from './stream.ts';

export interface FollowOptions {
  cancelOnInterrupt?: boolean;
  download?: string;
  /** The command that resumes following, for the detach message. */
  resumeHint?: string;
}

/** Prints a job once per visible change (the same state twice prints once). */
function createPrinter(ctx: Context, live: LiveDisplay | null) {
  let last = '';
  let latest: Job | null = null;
  return {
    get latest() {
      return latest;
    },
    show(job: Job) {
      const text = JSON.stringify(job);
      if (text === last) return;
      last = text;
      latest = job;
      if (live) live.update(job);
      else if (ctx.out.json) ctx.out.record(job);
    },
  };
}

export async function followJob(ctx: Context, initial: Job, options: FollowOptions = {}): Promise<ExitCode> {
  const live = ctx.out.json || TERMINAL.has(initial.status) ? null : createLiveDisplay({ out: ctx.out, now: ctx.now });
  const printer = createPrinter(ctx, live);
  // Messages while the live line is on screen go above it (else to stderr).
  const note = (text: string) => (live ? live.log(text) : ctx.out.warn(text));
  const abort = new AbortController();
  const state: { interrupted: Promise<void> | null } = { interrupted: null };
  const release = onInterrupt(ctx, () => {
    state.interrupted = options.cancelOnInterrupt ? cancelAfterInterrupt(ctx, initial.id, { show: printer.show, note, abort }) : Promise.resolve(abort.abort());
  });
  printer.show(initial); // after the handler: whoever saw this line can interrupt
  try {
    while (!TERMINAL.has(printer.latest!.status) && !abort.signal.aborted) {
      await stream<{ jobUpdates: Job }>({
        connection: ctx.connection,
        query: JOB_UPDATES,
        variables: () => ({ id: initial.id }),
        next: (data) => printer.show(data.jobUpdates),
        signal: abort.signal,
        reconnectTimeoutMs: ctx.reconnectTimeoutMs,
        now: ctx.now,
        onDrop: (reason) => note(`connection lost (${reason}); reconnecting…`),
        onResume: () => note('reconnected'),
      });
      // Completed before the end (a gateway shutting down): subscribe again, after a breath.
      if (!TERMINAL.has(printer.latest!.status)) await sleep(250, abort.signal);
    }
    if (state.interrupted) await state.interrupted;
  } finally {
    release();
    live?.stop();
  }
  if (state.interrupted) {
    if (!options.cancelOnInterrupt) {
      ctx.out.warn(`detached: job ${initial.id} goes on (${printer.latest!.status}). Resume with: ${options.resumeHint ?? `fal-video watch ${initial.id}`}`);
    }
    return EXIT.interrupted;
  }
  return finish(ctx, printer.latest!, options);
}

async function cancelAfterInterrupt(ctx: Context, id: string, { show, note, abort }: { show: (job: Job) => void; note: (text: string) => void; abort: AbortController }): Promise<void> {
  note(`cancelling job ${id}…`);
  try {
    const { cancelJob } = await ctx.http.request<{ cancelJob: Job }>(CANCEL, { id });
    abort.abort();
    show(cancelJob);
    note(`job ${id} cancelled`);
  } catch (error) {
    abort.abort();
    note(`could not cancel job ${id}: ${(error as Error).message}`);
  }
}

/** The end of a followed job: its outcome for people, the download, and the exit code. */
export async function finish(ctx: Context, job: Job, options: FollowOptions): Promise<ExitCode> {
  if (!ctx.out.json) for (const line of details(ctx.out, job, ctx.now())) ctx.out.say(line);
  if (job.status === 'FAILED') throw new CliError(EXIT.failed, `job ${job.id} FAILED: ${job.error?.message ?? 'no reason given'}${job.error?.code ? ` [${job.error.code}]` : ''}`);
  if (job.status === 'CANCELLED') throw new CliError(EXIT.failed, `job ${job.id} was CANCELLED`);
  if (options.download) {
    const abort = new AbortController();
    const release = onInterrupt(ctx, () => abort.abort());
    try {
      const saved = await downloadVideo(job, options.download, abort.signal);
      ctx.out.say(`saved ${saved.path} (${saved.bytes} bytes)`);
    } finally {
      release();
    }
  }
  return EXIT.ok;
}

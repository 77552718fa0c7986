/**
 * `events`: every change of every job the caller may see (`jobEvents`), until Ctrl-C. It keeps the
 * last cursor, so a dropped connection (or a stream the gateway completed on shutdown) resumes from
 * there with no gap; a cursor expired during a long outage restarts live, with a warning.
 */
import type { Context } from '../context.ts';
import { onInterrupt } from '../context.ts';
import { CliError, EXIT, type ExitCode } from '../errors.ts';
import { createLiveDisplay } from '../live.ts';
import { JOB_EVENTS, type JobEvent } from '../queries.ts';
import { sleep, stream } from '../stream.ts';
import { statusOf } from './jobs.ts';

export interface EventsFlags {
  after?: string;
  status?: string[];
}

export async function events(ctx: Context, flags: EventsFlags): Promise<ExitCode> {
  await ctx.http.request<{ __typename: string }>('query Ping { __typename }'); // the credential and the gateway, checked at once
  const status = flags.status?.flatMap((s) => s.split(',')).filter(Boolean).map(statusOf);
  const live = ctx.out.json ? null : createLiveDisplay({ out: ctx.out, now: ctx.now, keepFinished: true });
  let cursor = flags.after ?? null;
  let ours = false; // is `cursor` one the gateway gave this run?
  const abort = new AbortController();
  const release = onInterrupt(ctx, () => abort.abort());
  const say = (text: string) => (live ? live.log(text) : ctx.out.warn(text));
  live?.log('following every job; Ctrl-C to stop');
  try {
    while (!abort.signal.aborted) {
      try {
        await stream<{ jobEvents: JobEvent }>({
          connection: ctx.connection,
          query: JOB_EVENTS,
          variables: () => ({ after: cursor, status }),
          next: ({ jobEvents }) => {
            cursor = jobEvents.cursor;
            ours = true;
            if (live) live.update(jobEvents.job);
            else ctx.out.record(jobEvents);
          },
          signal: abort.signal,
          reconnectTimeoutMs: ctx.reconnectTimeoutMs,
          now: ctx.now,
          onDrop: (reason) => say(`connection lost (${reason}); reconnecting from the last event…`),
          onResume: () => say('reconnected'),
        });
        await sleep(250, abort.signal); // the gateway completed the stream (a shutdown): subscribe again
      } catch (error) {
        if (!(error instanceof CliError) || error.code !== 'CURSOR_EXPIRED') throw error;
        if (!ours) throw new CliError(EXIT.usage, `${error.message}: that cursor is no longer retained; read the current state with \`fal-video list\`, then run \`fal-video events\` without --after`, error.code);
        say('the last cursor expired while disconnected: some events were missed; following live from now (`fal-video list` shows the current state)');
        cursor = null;
        ours = false;
      }
    }
  } finally {
    release();
    live?.stop();
  }
  ctx.out.warn(cursor ? `stopped. Resume with: fal-video events --after ${cursor}` : 'stopped.');
  return EXIT.interrupted;
}

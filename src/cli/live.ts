/**
 * The live display on a terminal: one line per job (status, queue position or latest log line,
 * elapsed time, and a bar while it runs), redrawn in place by cli-progress. A finished job's line
 * is replaced by its final summary, printed above the live lines.
 */
import cliProgress from 'cli-progress';
import type { Job } from './queries.ts';
import type { Output } from './output.ts';
import { TERMINAL } from './queries.ts';
import { formatElapsed, elapsedOf, progressText, statusLabel, summaryLine } from './render.ts';

export interface LiveDisplay {
  update(job: Job): void;
  /** Text above the live lines. */
  log(text: string): void;
  stop(): void;
}

export interface LiveDeps {
  out: Output;
  now?: () => number;
  /** Typical seconds of IN_PROGRESS per video second, for the estimated bar when logs give no percentage. */
  secondsPerVideoSecond?: number;
  redrawMs?: number;
  /** Print a finished job's summary above the live lines (`events`); else its line just goes. */
  keepFinished?: boolean;
}

/** The id's random tail: ids made close in time (UUIDv7) share their head. */
export const shortId = (id: string) => id.slice(-8);

const PERCENT = /(\d{1,3}(?:\.\d+)?)\s?%/;

/** 0..100: a percentage from the latest log line, else an estimate from time spent running (never 100 before the end). */
export function progressOf(job: Job, runningSinceMs: number | undefined, now: number, secondsPerVideoSecond: number): number {
  if (job.status === 'COMPLETED') return 100;
  if (job.status !== 'IN_PROGRESS') return 0;
  const fromLog = PERCENT.exec(job.logs.at(-1)?.message ?? '');
  if (fromLog) return Math.min(100, Number(fromLog[1]));
  const expectedMs = (job.input.duration === 'SECONDS_10' ? 10 : 5) * secondsPerVideoSecond * 1000;
  return runningSinceMs === undefined ? 0 : Math.min(95, (100 * (now - runningSinceMs)) / expectedMs);
}

export function createLiveDisplay({ out, now = Date.now, secondsPerVideoSecond = 12, redrawMs = 250, keepFinished = false }: LiveDeps): LiveDisplay {
  const multibar = new cliProgress.MultiBar(
    {
      stream: out.stdout as NodeJS.WritableStream,
      hideCursor: true,
      gracefulExit: false,
      clearOnComplete: false,
      barsize: 20,
      fps: 1000 / redrawMs,
      format: (options, params, payload: { job: Job }) => {
        const { job } = payload;
        const bar = job.status === 'IN_PROGRESS' ? ` ${cliProgress.Format.BarFormat(params.progress, options)} ${String(Math.round(params.progress * 100)).padStart(3)}%` : '';
        const head = `${shortId(job.id)} ${job.status.padEnd(11)} ${formatElapsed(elapsedOf(job, now())).padStart(7)}${bar}  `;
        const painted = head.replace(job.status.padEnd(11), statusLabel(out, job));
        // cli-progress clips the line at the terminal width counting escape codes: leave room for them.
        const room = Math.max(0, (params.maxWidth || 80) - 1 - painted.length);
        const text = progressText(job);
        return `${painted}${text.length > room ? `${text.slice(0, Math.max(0, room - 1))}…` : text}`;
      },
    },
    cliProgress.Presets.shades_classic,
  );
  const bars = new Map<string, { bar: cliProgress.SingleBar; job: Job; runningSince?: number }>();
  const redraw = (entry: { bar: cliProgress.SingleBar; job: Job; runningSince?: number }) =>
    entry.bar.update(progressOf(entry.job, entry.runningSince, now(), secondsPerVideoSecond), { job: entry.job });
  // Elapsed time and the estimated bar move even when the job says nothing new.
  const ticker = setInterval(() => bars.forEach(redraw), 1000);
  ticker.unref();
  return {
    update(job) {
      let entry = bars.get(job.id);
      if (!entry) {
        entry = { bar: multibar.create(100, 0, { job }), job };
        bars.set(job.id, entry);
      }
      entry.job = job;
      if (job.status === 'IN_PROGRESS') entry.runningSince ??= now();
      redraw(entry);
      // A finished job's line stays as its last state; with keepFinished it moves above the live lines.
      if (TERMINAL.has(job.status) && keepFinished) {
        multibar.log(`${summaryLine(out, job, now())}\n`);
        multibar.remove(entry.bar);
        bars.delete(job.id);
      }
    },
    // With no live line on screen there is nothing to redraw around: write at once.
    log: (text) => (bars.size === 0 ? void out.stdout.write(`${text}\n`) : multibar.log(`${text}\n`)),
    stop() {
      clearInterval(ticker);
      if (multibar.isActive) multibar.update(); // flush messages still waiting for a redraw
      multibar.stop();
    },
  };
}

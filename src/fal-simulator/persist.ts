/**
 * Keeps the built-in simulator's jobs and webhook key in a small journal file (JSON lines), so that a
 * restart of the gateway finds its jobs in flight (still progressing in wall-clock time meanwhile, as
 * on fal). Each change appends one line (cheap, and on disk before the answer goes out); the file is
 * rewritten compactly at start and when jobs are forgotten. Simulated instants are stored as wall-clock
 * milliseconds.
 */
import { appendFileSync, existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import type { SimClock } from './clock.ts';
import type { Job } from './jobs.ts';

type Line = { key: string } | { job: Job } | { forget: string };

export interface Journal {
  /** The saved jobs (in simulated time) and key, read at creation. */
  readonly jobs: Job[];
  readonly privateKeyPem: string | null;
  /** Appends the job's current state. */
  record(job: Job): void;
  /** Rewrites the file with only these jobs. */
  compact(privateKeyPem: string, jobs: Iterable<Job>): void;
}

const TIMES = ['startAt', 'naturalEndAt', 'cancelledAt', 'submittedAt'] as const;

/** The job with its instants moved by `shift` ms (null stays null). */
function shifted(job: Job, shift: number): Job {
  const copy: Job = { ...job, timing: { ...job.timing } };
  for (const key of TIMES) {
    const value = copy[key];
    if (typeof value === 'number') (copy as unknown as Record<string, number>)[key] = value + shift;
  }
  return copy;
}

/** Wall-clock ms of simulated instant 0, at this moment. */
const wallOfZero = (clock: SimClock) => Date.now() - clock.now();

function read(path: string): { key: string | null; jobs: Map<string, Job> } {
  const jobs = new Map<string, Job>();
  let key: string | null = null;
  const text = existsSync(path) ? readFileSync(path, 'utf8') : '';
  for (const raw of text.split('\n')) {
    let line: Line;
    try {
      line = JSON.parse(raw) as Line;
    } catch {
      continue; // an empty or torn line (a crash mid-append): skip it
    }
    if ('key' in line && typeof line.key === 'string') key = line.key;
    else if ('job' in line && typeof line.job?.id === 'string') jobs.set(line.job.id, line.job);
    else if ('forget' in line) jobs.delete(line.forget);
  }
  return { key, jobs };
}

export function openJournal(path: string, clock: SimClock): Journal {
  mkdirSync(dirname(path), { recursive: true });
  const saved = read(path);
  const toSim = -wallOfZero(clock);
  const append = (line: Line) => appendFileSync(path, `${JSON.stringify(line)}\n`, { mode: 0o600 });
  return {
    jobs: [...saved.jobs.values()].map((job) => shifted(job, toSim)),
    privateKeyPem: saved.key,
    record: (job) => append({ job: shifted(job, wallOfZero(clock)) }),
    compact(privateKeyPem, jobs) {
      const shift = wallOfZero(clock);
      const lines = [{ key: privateKeyPem }, ...[...jobs].map((job) => ({ job: shifted(job, shift) }))];
      const temporary = `${path}.${process.pid}.tmp`;
      writeFileSync(temporary, lines.map((line) => `${JSON.stringify(line)}\n`).join(''), { mode: 0o600 });
      renameSync(temporary, path);
    },
  };
}

/**
 * Keeps the built-in simulator's jobs and webhook key in a small JSON file, so that a restart of the
 * gateway finds its jobs in flight (still progressing in wall-clock time meanwhile, as on fal).
 * Simulated instants are stored as wall-clock milliseconds.
 */
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import type { SimClock } from './clock.ts';
import type { Job } from './jobs.ts';

interface SavedFile {
  version: 1;
  privateKeyPem: string;
  jobs: Job[];
}

export interface Saved {
  privateKeyPem: string | null;
  jobs: Job[];
}

const TIMES = ['startAt', 'naturalEndAt', 'cancelledAt', 'submittedAt'] as const;

/** Maps a job's instants from one time base to another (`shift` ms added; null stays null). */
function shifted(job: Job, shift: number): Job {
  const copy: Job = { ...job, timing: { ...job.timing } };
  for (const key of TIMES) {
    const value = copy[key];
    if (typeof value === 'number') (copy as unknown as Record<string, number>)[key] = value + shift;
  }
  return copy;
}

/** Sim ms -> wall ms at this moment. */
const toWall = (clock: SimClock) => Date.now() - clock.now();

export function loadSaved(path: string, clock: SimClock): Saved {
  if (!existsSync(path)) return { privateKeyPem: null, jobs: [] };
  try {
    const file = JSON.parse(readFileSync(path, 'utf8')) as SavedFile;
    if (file.version !== 1 || !Array.isArray(file.jobs)) return { privateKeyPem: null, jobs: [] };
    const shift = -toWall(clock);
    return { privateKeyPem: typeof file.privateKeyPem === 'string' ? file.privateKeyPem : null, jobs: file.jobs.map((job) => shifted(job, shift)) };
  } catch {
    return { privateKeyPem: null, jobs: [] }; // unreadable: start afresh (it is only a simulator)
  }
}

/** Writes the file atomically (temporary file, then rename). */
export function save(path: string, clock: SimClock, privateKeyPem: string, jobs: Iterable<Job>): void {
  const shift = toWall(clock);
  const file: SavedFile = { version: 1, privateKeyPem, jobs: [...jobs].map((job) => shifted(job, shift)) };
  const temporary = `${path}.${process.pid}.tmp`;
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(temporary, JSON.stringify(file), { mode: 0o600 });
  renameSync(temporary, path);
}

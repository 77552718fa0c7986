/**
 * The simulated job model: progress is a pure function of simulated time since submit, so idle
 * jobs cost nothing. Phases, log lines and fal's failure shapes.
 */
import { randomUUID } from 'node:crypto';
import type { SimClock } from './clock.ts';

/** How fast simulated jobs move through IN_QUEUE, IN_PROGRESS and COMPLETED. */
export interface SimulatorTiming {
  /** queue_position at submit, e.g. 3; 0 = next in line. */
  initialQueuePosition: number;
  /** Every step the position falls by one; after position 0 has lasted one step the job is IN_PROGRESS. */
  queueStepMs: number;
  /** Time IN_PROGRESS before COMPLETED. */
  runMs: number;
  /** One new log line this often while IN_PROGRESS (0 = no logs). */
  logEveryMs: number;
  /** Status responses return only log lines newer than now - logWindowMs (fal's sliding window). */
  logWindowMs: number;
}

/** Demo timing: a job completes in about 16 s (8 s queued, 8 s running). */
export const DEFAULT_SIMULATOR_TIMING: SimulatorTiming = Object.freeze({
  initialQueuePosition: 3,
  queueStepMs: 2000,
  runMs: 8000,
  logEveryMs: 1000,
  logWindowMs: 3000,
});

/** Overrides `base` with the defined values of `patch`. */
export function mergeTiming(base: SimulatorTiming, patch: Partial<SimulatorTiming> = {}): SimulatorTiming {
  const defined = Object.entries(patch).filter(([, value]) => typeof value === 'number' && !Number.isNaN(value));
  return { ...base, ...(Object.fromEntries(defined) as Partial<SimulatorTiming>) };
}

export type Outcome = 'success' | 'runner_error' | 'image_error' | 'prompt_too_long';

export interface Job {
  id: string;
  outcome: Outcome;
  timing: SimulatorTiming;
  startAt: number; // sim ms when IN_PROGRESS begins
  naturalEndAt: number; // sim ms when it would complete
  cancelledAt: number | null;
  submittedAt: number;
  /** `?fal_webhook=` of the submit: POSTed to when the job completes, until delivered (or given up). */
  webhookUrl: string | null;
  webhookDone: boolean;
  /** The submitted body, as fal keeps it (the platform API lists it with `expand=payloads`). */
  input?: Record<string, unknown>;
}

export type Phase =
  | { status: 'IN_QUEUE'; position: number }
  | { status: 'IN_PROGRESS' }
  | { status: 'COMPLETED'; cancelled: boolean };

export interface LogEntry {
  message: string;
  level: 'INFO';
  source: 'USER';
  timestamp: string;
}

const MAX_PROMPT_LENGTH = 2500;

export function createJob(prompt: string, timing: SimulatorTiming, now: number, webhookUrl: string | null = null): Job {
  const fast = prompt.includes('[sim:fast]');
  const queueMs = fast ? 0 : (timing.initialQueuePosition + 1) * timing.queueStepMs;
  const outcome: Outcome =
    prompt.length > MAX_PROMPT_LENGTH ? 'prompt_too_long'
    : prompt.includes('[sim:422]') ? 'image_error'
    : prompt.includes('[sim:fail]') ? 'runner_error'
    : 'success';
  const startAt = now + queueMs;
  return { id: randomUUID(), outcome, timing, startAt, naturalEndAt: startAt + timing.runMs, cancelledAt: null, submittedAt: now, webhookUrl, webhookDone: false };
}

export function endAt(job: Job): number {
  return job.cancelledAt ?? job.naturalEndAt;
}

export function phaseAt(job: Job, now: number): Phase {
  if (now >= endAt(job)) return { status: 'COMPLETED', cancelled: job.cancelledAt !== null };
  if (now >= job.startAt) return { status: 'IN_PROGRESS' };
  const { initialQueuePosition, queueStepMs } = job.timing;
  return { status: 'IN_QUEUE', position: Math.max(0, initialQueuePosition - Math.floor((now - job.submittedAt) / queueStepMs)) };
}

/**
 * The sim instant of the job's next visible change after `now`: the next queue step, the start, the
 * next log line (`withLogs`), the end; null once COMPLETED. A cancel moves the end (not foreseen here).
 */
export function nextChangeAt(job: Job, now: number, withLogs: boolean): number | null {
  const end = endAt(job);
  if (now >= end) return null;
  if (now < job.startAt) {
    const { queueStepMs } = job.timing;
    const step = job.submittedAt + (Math.floor((now - job.submittedAt) / queueStepMs) + 1) * queueStepMs;
    return Math.min(step, job.startAt, end);
  }
  const every = job.timing.logEveryMs;
  if (!withLogs || !(every > 0)) return end;
  return Math.min(job.startAt + (lastLogIndex(job, now) + 1) * every, end);
}

/** Index of the newest log line emitted by `now` (-1 if none). Line k is at startAt + k*logEveryMs, before the end. */
export function lastLogIndex(job: Job, now: number): number {
  const every = job.timing.logEveryMs;
  if (!(every > 0) || now < job.startAt) return -1;
  const end = endAt(job);
  if (now >= end) return Math.ceil((end - job.startAt) / every) - 1;
  return Math.floor((now - job.startAt) / every);
}

/** Index of the oldest line still inside the sliding window (timestamp > now - logWindowMs). */
export function windowFirstIndex(job: Job, now: number): number {
  const { logEveryMs, logWindowMs } = job.timing;
  return Math.max(0, Math.floor((now - logWindowMs - job.startAt) / logEveryMs) + 1);
}

export function logEntries(job: Job, clock: SimClock, from: number, to: number): LogEntry[] {
  const entries: LogEntry[] = [];
  for (let k = Math.max(0, from); k <= to; k++) {
    const message = k === 0 ? 'Starting image-to-video generation' : `Generating video: step ${k}`;
    entries.push({ message, level: 'INFO', source: 'USER', timestamp: clock.iso(job.startAt + k * job.timing.logEveryMs) });
  }
  return entries;
}

export const FAILURES: Readonly<Record<Exclude<Outcome, 'success'>, { error: string; error_type: string }>> = {
  runner_error: { error: 'Internal error while generating the video', error_type: 'runner_error' },
  image_error: { error: 'Image could not be downloaded', error_type: 'image_load_error' },
  prompt_too_long: { error: 'String should have at most 2500 characters', error_type: 'string_too_long' },
};

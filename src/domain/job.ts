/**
 * The job as the gateway knows it: plain data, JSON-serialisable (dates are ISO strings) so one
 * snapshot can be stored, published across replicas and sent to clients unchanged.
 */

export const JOB_STATUSES = ['IN_QUEUE', 'IN_PROGRESS', 'COMPLETED', 'FAILED', 'CANCELLED'] as const;
export type JobStatus = (typeof JOB_STATUSES)[number];

export type VideoDuration = '5' | '10';

/** What the client asked for, normalised (the idempotency key is kept apart). */
export interface VideoInput {
  prompt: string;
  imageUrl: string;
  duration: VideoDuration;
  negativePrompt: string | null;
  cfgScale: number | null;
  /** Set when the image was uploaded (imageUrl is then fal's storage URL): what identifies it. */
  image?: UploadedImage | null;
}

export interface UploadedImage {
  sha256: string;
  size: number;
  contentType: string;
}

export interface JobLog {
  message: string;
  level: string | null;
  timestamp: string | null;
}

export interface Video {
  url: string;
  contentType: string | null;
  fileName: string | null;
  fileSize: number | null;
  /** fal's own URL (it expires); absent on jobs stored before durable copies existed. */
  upstreamUrl?: string | null;
  /** True once `url` points at the gateway's own copy. */
  durable?: boolean;
}

export interface JobError {
  message: string;
  code: string | null;
}

export interface Job {
  id: string;
  tenant: string;
  /** Who submitted it: the signed-in user, or null for an API key (see domain/caller.ts). */
  userId: string | null;
  /** The upstream request id; null only while the submission is in flight (or its outcome is unknown). */
  requestId: string | null;
  model: string;
  status: JobStatus;
  queuePosition: number | null;
  logs: JobLog[];
  video: Video | null;
  error: JobError | null;
  input: VideoInput;
  idempotencyKey: string | null;
  /** Set once the client asked to cancel. */
  cancelRequested: boolean;
  /** Set when a submit may have reached the upstream without an answer: the job is being looked for there (jobs/adopt-orphans.ts). */
  submitOutcomeUnknownSince?: string | null;
  createdAt: string;
  updatedAt: string;
  completedAt: string | null;
  /** Grows by one on every stored change; subscribers drop anything not newer than what they sent. */
  version: number;
  /** What it costs, in nano-dollars (domain/money.ts): the estimate at submit, fal's billed figure once reconciled. */
  costNanoUsd?: number | null;
  /** True once `costNanoUsd` is fal's own billed figure (jobs/reconcile-costs.ts). */
  costBilled?: boolean;
}

const TERMINAL: ReadonlySet<JobStatus> = new Set(['COMPLETED', 'FAILED', 'CANCELLED']);

export function isTerminal(status: JobStatus): boolean {
  return TERMINAL.has(status);
}

/** Legal moves of the state machine. A status may repeat (queue position or logs changed). */
const TRANSITIONS: Readonly<Record<JobStatus, readonly JobStatus[]>> = {
  IN_QUEUE: ['IN_QUEUE', 'IN_PROGRESS', 'COMPLETED', 'FAILED', 'CANCELLED'],
  IN_PROGRESS: ['IN_PROGRESS', 'COMPLETED', 'FAILED', 'CANCELLED'],
  COMPLETED: [],
  FAILED: [],
  CANCELLED: [],
};

export function canTransition(from: JobStatus, to: JobStatus): boolean {
  return TRANSITIONS[from].includes(to);
}

/** The fields a client can see change (everything but bookkeeping), for "did anything visible change?". */
export function visibleState(job: Job): string {
  return JSON.stringify([job.status, job.queuePosition, job.logs.length, job.video, job.error, job.requestId]);
}

/**
 * Appends log lines not seen before, keyed by (timestamp, message): fal returns a sliding window.
 * A few incoming lines (a stream event carries only the new ones) are looked up from the newest
 * known line backwards, without a key per known line: a change costs nothing per line already held.
 */
export function mergeLogs(known: readonly JobLog[], incoming: readonly JobLog[]): JobLog[] {
  if (incoming.length === 0) return [...known];
  if (incoming.length * known.length > 65_536) return mergeBySet(known, incoming);
  const merged = [...known];
  for (const line of incoming) {
    let seen = false;
    const at = line.timestamp ?? '';
    for (let i = merged.length - 1; i >= 0 && !seen; i--) seen = (merged[i]!.timestamp ?? '') === at && merged[i]!.message === line.message;
    if (!seen) merged.push(line);
  }
  return merged;
}

function mergeBySet(known: readonly JobLog[], incoming: readonly JobLog[]): JobLog[] {
  const seen = new Set(known.map(logKey));
  const merged = [...known];
  for (const line of incoming) {
    const key = logKey(line);
    if (seen.has(key)) continue;
    seen.add(key);
    merged.push(line);
  }
  return merged;
}

function logKey(line: JobLog): string {
  return `${line.timestamp ?? ''}\u0000${line.message}`;
}

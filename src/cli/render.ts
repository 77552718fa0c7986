/** Text for people: a job's one-line summary, its details, and a table of jobs. Pure functions. */
import type { Job } from './queries.ts';
import type { Output } from './output.ts';

const STYLE_OF_STATUS = { IN_QUEUE: 'yellow', IN_PROGRESS: 'cyan', COMPLETED: 'green', FAILED: 'red', CANCELLED: 'magenta' } as const;

export function statusLabel(out: Pick<Output, 'paint'>, job: Pick<Job, 'status'>, pad = true): string {
  return out.paint(STYLE_OF_STATUS[job.status] ?? 'white', pad ? job.status.padEnd(11) : job.status);
}

/** "1m 05s", "42s". */
export function formatElapsed(ms: number): string {
  const seconds = Math.max(0, Math.floor(ms / 1000));
  const minutes = Math.floor(seconds / 60);
  return minutes > 0 ? `${minutes}m ${String(seconds % 60).padStart(2, '0')}s` : `${seconds}s`;
}

export function elapsedOf(job: Job, now: number): number {
  const finished = job.status === 'COMPLETED' || job.status === 'FAILED' || job.status === 'CANCELLED';
  const end = job.completedAt ? Date.parse(job.completedAt) : finished ? Date.parse(job.updatedAt) : now;
  return end - Date.parse(job.createdAt);
}

export const latestLog = (job: Job): string => job.logs.at(-1)?.message ?? '';

/** Where a job is, in a few words: "queue position 2", "video ready", the error. */
export function progressText(job: Job): string {
  switch (job.status) {
    case 'IN_QUEUE':
      return job.queuePosition == null ? 'queued' : `queue position ${job.queuePosition}`;
    case 'IN_PROGRESS':
      return latestLog(job) || 'generating';
    case 'COMPLETED':
      return job.video?.url ?? 'completed';
    case 'FAILED':
      return job.error ? `${job.error.message}${job.error.code ? ` [${job.error.code}]` : ''}` : 'failed';
    case 'CANCELLED':
      return 'cancelled';
  }
}

export function summaryLine(out: Pick<Output, 'paint'>, job: Job, now: number): string {
  return `${job.id}  ${statusLabel(out, job)} ${formatElapsed(elapsedOf(job, now)).padStart(7)}  ${progressText(job)}`;
}

export function details(out: Pick<Output, 'paint'>, job: Job, now: number): string[] {
  const rows: Array<[string, string | null | undefined]> = [
    ['job', job.id],
    ['status', statusLabel(out, job, false)],
    ['queue position', job.queuePosition == null ? null : String(job.queuePosition)],
    ['request id', job.requestId || null],
    ['prompt', job.input.prompt],
    ['image', job.input.imageUrl],
    ['duration', job.input.duration === 'SECONDS_10' ? '10 s' : '5 s'],
    ['created', job.createdAt],
    ['elapsed', formatElapsed(elapsedOf(job, now))],
    ['latest log', latestLog(job) || null],
    ['video', job.video ? `${job.video.url}${job.video.fileSize ? ` (${job.video.fileSize} bytes)` : ''}` : null],
    ['error', job.error ? progressText(job) : null],
  ];
  return rows.filter((row): row is [string, string] => Boolean(row[1])).map(([name, value]) => `${name.padEnd(15)}${value}`);
}

const clip = (text: string, width: number) => (text.length > width ? `${text.slice(0, width - 1)}…` : text);

export function table(out: Pick<Output, 'paint'>, jobs: Job[], columns?: number): string[] {
  const width = columns || 100;
  const header = `${'ID'.padEnd(36)}  ${'STATUS'.padEnd(11)} ${'CREATED'.padEnd(20)}  PROMPT`;
  const promptWidth = Math.max(10, width - 72);
  return [
    header,
    ...jobs.map((job) => `${job.id.padEnd(36)}  ${statusLabel(out, job)} ${job.createdAt.slice(0, 19).replace('T', ' ').padEnd(20)}  ${clip(job.input.prompt, promptWidth)}`),
  ];
}

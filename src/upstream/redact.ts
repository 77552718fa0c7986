/**
 * Credential redaction for everything the upstream says: error texts, log lines, URLs. An upstream
 * (or a reseller in front of it) that echoes the Authorization header must not get the key stored,
 * shown to clients or logged. The key, each `:`-separated part of it (fal keys are `id:secret`) and
 * their URL-encoded forms are cut out; parts shorter than 6 characters are left (they would match
 * ordinary text).
 */
import type { JobError, JobLog, Video } from '../domain/job.ts';
import type { UpstreamStatus } from './upstream-queue.ts';

export type Redact = (text: string) => string;

export const REDACTED = '[redacted]';

export function createRedactor(credential: () => string): Redact {
  return (text) => {
    const key = credential();
    const parts = [key, ...key.split(':')].filter((part) => part.length >= 6);
    const forms = [...new Set(parts.flatMap((part) => [part, encodeURIComponent(part)]))].sort((a, b) => b.length - a.length);
    return forms.reduce((out, part) => out.split(part).join(REDACTED), text);
  };
}

export function redactLogs(logs: JobLog[], redact: Redact): JobLog[] {
  return logs.map((log) => ({ ...log, message: redact(log.message), level: log.level === null ? null : redact(log.level) }));
}

export function redactError(error: JobError | null, redact: Redact): JobError | null {
  return error === null ? null : { ...error, message: redact(error.message), code: error.code === null ? null : redact(error.code) };
}

export function redactVideo(video: Video, redact: Redact): Video {
  return { ...video, url: redact(video.url), fileName: video.fileName === null ? null : redact(video.fileName), contentType: video.contentType === null ? null : redact(video.contentType) };
}

/** A status answer (poll or stream event) with its log lines and error text redacted. */
export function redactStatus(status: UpstreamStatus, redact: Redact): UpstreamStatus {
  return { ...status, logs: redactLogs(status.logs, redact), error: redactError(status.error, redact) };
}

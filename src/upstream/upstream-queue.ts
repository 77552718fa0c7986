/**
 * The port the jobs layer talks to: fal's queue in domain terms. Only `fal-queue-client.ts` knows
 * URLs, headers and JSON; nothing here holds a credential.
 */
import type { JobError, JobLog, Video, VideoInput } from '../domain/job.ts';

export interface SubmitAccepted {
  requestId: string;
  status: 'IN_QUEUE' | 'IN_PROGRESS';
  queuePosition: number | null;
}

export interface UpstreamStatus {
  status: 'IN_QUEUE' | 'IN_PROGRESS' | 'COMPLETED';
  queuePosition: number | null;
  /** The lines fal returned this time (a sliding window, not a growing prefix). */
  logs: JobLog[];
  /** Set when a COMPLETED run failed or was cancelled (fal has no FAILED status). */
  error: JobError | null;
}

/** The result of a finished run: its video, or the model's own refusal (e.g. a 422 raised only now). */
export type UpstreamResult = { ok: true; video: Video } | { ok: false; error: JobError };

export type CancelOutcome = 'CANCELLATION_REQUESTED' | 'ALREADY_COMPLETED' | 'NOT_FOUND';

/** Per-call options: a request id for log correlation and a signal to give up. */
export interface CallOptions {
  signal?: AbortSignal;
  requestId?: string;
  /** submit only: where fal POSTs its signed completion webhook (`fal_webhook`). */
  webhookUrl?: string;
}

export interface UpstreamQueue {
  /** Never retried once it may have reached the upstream: a failure then is `ambiguous`. */
  submit(input: VideoInput, options?: CallOptions): Promise<SubmitAccepted>;
  status(requestId: string, options?: CallOptions): Promise<UpstreamStatus>;
  result(requestId: string, options?: CallOptions): Promise<UpstreamResult>;
  cancel(requestId: string, options?: CallOptions): Promise<CancelOutcome>;
  close(): Promise<void>;
}

export type UpstreamFailureKind =
  | 'unreachable' // socket error, timeout, 5xx: safe to try again later
  | 'rate_limited' // 429
  | 'unauthorized' // 401: bad credential
  | 'forbidden' // 403: e.g. a locked account
  | 'not_found' // 404: the upstream does not know the request (or the path)
  | 'rejected' // other 4xx: the upstream refused what we sent
  | 'malformed'; // an answer we could not parse

/**
 * A failed upstream call. Its message is safe to log: it never holds request headers or the key.
 */
export class UpstreamError extends Error {
  override name = 'UpstreamError';
  readonly kind: UpstreamFailureKind;
  readonly httpStatus: number | null;
  readonly retryAfterSeconds: number | null;
  /** True when a non-idempotent call (submit) may have reached the upstream before failing. */
  readonly ambiguous: boolean;
  constructor(
    kind: UpstreamFailureKind,
    message: string,
    details: { httpStatus?: number | null; retryAfterSeconds?: number | null; ambiguous?: boolean } = {},
  ) {
    super(message);
    this.kind = kind;
    this.httpStatus = details.httpStatus ?? null;
    this.retryAfterSeconds = details.retryAfterSeconds ?? null;
    this.ambiguous = details.ambiguous ?? false;
  }

  get transient(): boolean {
    return this.kind === 'unreachable' || this.kind === 'rate_limited' || this.kind === 'malformed';
  }
}

/** How a status stream ended. Anything but `completed` is a disconnect (fal closes only after COMPLETED). */
export type StreamEnd =
  | { reason: 'completed' }
  /** The stream could not be opened: fal answered this HTTP status (or could not be reached: null). */
  | { reason: 'refused'; httpStatus: number | null }
  /** It ended cleanly but without COMPLETED, went silent past the stall timeout, or broke. */
  | { reason: 'ended' | 'stalled' | 'dropped' | 'aborted' };

export interface FollowOptions {
  signal: AbortSignal;
  /** Silence (not even a keep-alive) longer than this is a stall. fal sends a keep-alive every 15 s. */
  stallMs: number;
  /** Called once the stream is open (HTTP 200, text/event-stream). */
  onOpen?: () => void;
  /** Every status event, in order (log lines: only the new ones, as fal sends them). */
  onStatus: (status: UpstreamStatus) => void;
}

/** fal's per-request status stream (`GET .../status/stream?logs=1`). */
export interface UpstreamStreams {
  /** Follows one request until the stream ends; never rejects. */
  follow(requestId: string, options: FollowOptions): Promise<StreamEnd>;
}

/**
 * fal's queue over HTTP: the one module that knows fal's URLs, headers and JSON (FAL_QUEUE.md).
 *
 * - The credential goes only to the configured base URL's origin. URLs fal returns are followed only
 *   when their origin is that same origin; otherwise they are rebuilt from the endpoint id.
 * - status/result/cancel are retried with backoff (see retry.ts). submit is retried only when it
 *   certainly did not reach the upstream (connection refused, or an explicit 429); any other failure
 *   is `ambiguous` and surfaces to the caller, because a submit costs money and fal has no idempotency key.
 */
import type { Dispatcher } from 'undici';
import type { VideoInput } from '../domain/job.ts';
import { describeErrorBody, falCancelSchema, falStatusSchema, falSubmitSchema, falVideoOutputSchema, toUpstreamStatus } from './fal-wire.ts';
import { DEFAULT_RETRY, parseRetryAfter, withRetry, type RetryPolicy } from './retry.ts';
import {
  UpstreamError,
  type CallOptions,
  type CancelOutcome,
  type SubmitAccepted,
  type UpstreamQueue,
  type UpstreamResult,
  type UpstreamStatus,
} from './upstream-queue.ts';

export interface FalQueueClientOptions {
  /** Shared keep-alive dispatcher (pool.ts); requests are sent to `baseUrl`'s origin only. */
  dispatcher: Dispatcher;
  /** e.g. https://queue.fal.run, or a reseller's base URL (a path prefix is kept). */
  baseUrl: string;
  /** Returns the credential; a function so that the value is never a property anyone can print. */
  credential: () => string;
  authScheme: 'Key' | 'Bearer';
  modelId: string;
  retry?: RetryPolicy;
  /** Per-call deadline for headers and for the body, in ms. */
  timeoutMs?: number;
  userAgent?: string;
  onRetry?: (operation: string, error: UpstreamError, delayMs: number) => void;
  /** Sent on submits as X-Fal-Object-Lifecycle-Preference: fal deletes the outputs after this long (0/absent: not sent). */
  mediaExpirationSeconds?: number;
}

type Operation = 'submit' | 'status' | 'result' | 'cancel';
interface Answer {
  status: number;
  body: unknown;
  retryAfterSeconds: number | null;
}

const SAFE_CONNECT_ERRORS = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'UND_ERR_CONNECT_TIMEOUT']);
const URL_CACHE_LIMIT = 10_000;
/** 4xx answers from the result endpoint that are fal's (not yet done, credential, account, gone, limits), not the model's. */
const NOT_MODEL_REFUSALS = new Set([400, 401, 403, 404, 429]);

export function createFalQueueClient(options: FalQueueClientOptions): UpstreamQueue {
  const { dispatcher, credential, authScheme, modelId, retry = DEFAULT_RETRY, timeoutMs = 30_000 } = options;
  const base = new URL(options.baseUrl);
  const basePath = base.pathname.replace(/\/+$/, '');
  const appPath = appPathOf(modelId);
  /** URLs fal handed us at submit (already vetted), by request id; rebuilt on a miss. */
  const knownUrls = new Map<string, { status: string; result: string; cancel: string }>();

  function urlsFor(requestId: string) {
    const known = knownUrls.get(requestId);
    if (known) return known;
    const root = `${basePath}/${appPath}/requests/${encodeURIComponent(requestId)}`;
    return { status: `${root}/status`, result: root, cancel: `${root}/cancel` };
  }

  /** The path to call for a URL fal gave us, or null when it points to another origin (never sent the key). */
  function sameOriginPath(url: string | null): string | null {
    if (!url) return null;
    try {
      const parsed = new URL(url);
      return parsed.origin === base.origin ? parsed.pathname : null;
    } catch {
      return null;
    }
  }

  async function send(operation: Operation, method: 'GET' | 'POST' | 'PUT', path: string, call: CallOptions, body?: unknown): Promise<Answer> {
    const headers: Record<string, string> = {
      authorization: `${authScheme} ${credential()}`,
      accept: 'application/json',
      'user-agent': options.userAgent ?? 'fal-video-gateway',
    };
    if (body !== undefined) headers['content-type'] = 'application/json';
    if (call.requestId) headers['x-request-id'] = call.requestId;
    if (operation === 'submit' && options.mediaExpirationSeconds) {
      headers['x-fal-object-lifecycle-preference'] = JSON.stringify({ expiration_duration_seconds: options.mediaExpirationSeconds });
    }
    let response: Dispatcher.ResponseData;
    try {
      response = await dispatcher.request({
        origin: base.origin,
        path,
        method,
        headers,
        body: body === undefined ? null : JSON.stringify(body),
        signal: call.signal ?? null,
        headersTimeout: timeoutMs,
        bodyTimeout: timeoutMs,
      });
    } catch (error) {
      throw transportError(operation, error);
    }
    let text: string;
    try {
      text = await response.body.text();
    } catch (error) {
      throw transportError(operation, error);
    }
    let parsed: unknown = null;
    if (text.length > 0) {
      try {
        parsed = JSON.parse(text);
      } catch {
        if (response.statusCode < 300) throw new UpstreamError('malformed', `fal ${operation}: answer ${response.statusCode} is not JSON`, { httpStatus: response.statusCode, ambiguous: operation === 'submit' });
      }
    }
    return { status: response.statusCode, body: parsed, retryAfterSeconds: parseRetryAfter(response.headers['retry-after']) };
  }

  /** fal's own error text, with the credential (or a part of it) cut out should an upstream echo it. */
  function redact(text: string): string {
    const key = credential();
    const parts = [key, ...key.split(':')].filter((part) => part.length >= 6);
    return parts.reduce((out, part) => out.split(part).join('[redacted]'), text);
  }

  function retried<T>(operation: Operation, call: CallOptions, run: () => Promise<T>, shouldRetry?: (error: UpstreamError) => boolean): Promise<T> {
    return withRetry(run, retry, {
      ...(call.signal ? { signal: call.signal } : {}),
      ...(shouldRetry ? { shouldRetry } : {}),
      onRetry: (error, delayMs) => options.onRetry?.(operation, error, delayMs),
    });
  }

  return {
    async submit(input: VideoInput, call: CallOptions = {}): Promise<SubmitAccepted> {
      const body = toFalInput(input);
      const attempt = async () => {
        const query = call.webhookUrl ? `?fal_webhook=${encodeURIComponent(call.webhookUrl)}` : '';
        const answer = await send('submit', 'POST', `${basePath}/${modelId}${query}`, call, body);
        if (answer.status >= 300) throw answerError('submit', answer, redact);
        const parsed = falSubmitSchema.safeParse(answer.body);
        if (!parsed.success) throw new UpstreamError('malformed', 'fal submit: answer lacks a request_id', { httpStatus: answer.status, ambiguous: true });
        const accepted = parsed.data;
        const fallback = urlsFor(accepted.request_id);
        const urls = {
          status: sameOriginPath(accepted.status_url) ?? fallback.status,
          result: sameOriginPath(accepted.response_url) ?? fallback.result,
          cancel: sameOriginPath(accepted.cancel_url) ?? fallback.cancel,
        };
        remember(accepted.request_id, urls);
        return {
          requestId: accepted.request_id,
          status: accepted.status === 'IN_PROGRESS' ? 'IN_PROGRESS' : 'IN_QUEUE',
          queuePosition: accepted.status === 'IN_PROGRESS' ? null : accepted.queue_position,
        } satisfies SubmitAccepted;
      };
      // Only failures that certainly did not reach fal are retried (connection refused); a 429 goes back to the client.
      return retried('submit', call, attempt, (error) => error.kind === 'unreachable' && !error.ambiguous);
    },

    status(requestId: string, call: CallOptions = {}): Promise<UpstreamStatus> {
      return retried('status', call, async () => {
        const answer = await send('status', 'GET', `${urlsFor(requestId).status}?logs=1`, call);
        if (answer.status >= 300) throw answerError('status', answer, redact);
        const parsed = falStatusSchema.safeParse(answer.body);
        if (!parsed.success) throw new UpstreamError('malformed', 'fal status: unexpected answer shape', { httpStatus: answer.status });
        return toUpstreamStatus(parsed.data);
      });
    },

    result(requestId: string, call: CallOptions = {}): Promise<UpstreamResult> {
      return retried('result', call, async () => {
        const answer = await send('result', 'GET', urlsFor(requestId).result, call);
        if (answer.status >= 400 && answer.status < 500 && !NOT_MODEL_REFUSALS.has(answer.status)) {
          // The model refused the input only now (validation happens late at fal): e.g. 422.
          const described = describeErrorBody(answer.body);
          return { ok: false, error: { message: described ? redact(described.message) : `The model refused the input (HTTP ${answer.status}).`, code: described?.type ?? 'model_error' } };
        }
        if (answer.status >= 300) throw answerError('result', answer, redact);
        const parsed = falVideoOutputSchema.safeParse(answer.body);
        if (!parsed.success) {
          return { ok: false, error: { message: 'The model answered without a video.', code: 'no_video' } };
        }
        knownUrls.delete(requestId);
        const v = parsed.data.video;
        return { ok: true, video: { url: v.url, contentType: v.content_type, fileName: v.file_name, fileSize: v.file_size } };
      });
    },

    cancel(requestId: string, call: CallOptions = {}): Promise<CancelOutcome> {
      return retried('cancel', call, async () => {
        const answer = await send('cancel', 'PUT', urlsFor(requestId).cancel, call);
        const parsed = falCancelSchema.safeParse(answer.body);
        const said = parsed.success ? parsed.data.status : undefined;
        if (answer.status < 300) return said === 'ALREADY_COMPLETED' ? 'ALREADY_COMPLETED' : 'CANCELLATION_REQUESTED';
        if (answer.status === 400) return 'ALREADY_COMPLETED';
        if (answer.status === 404) return 'NOT_FOUND';
        throw answerError('cancel', answer, redact);
      });
    },

    async close() {
      knownUrls.clear();
    },
  };

  function remember(requestId: string, urls: { status: string; result: string; cancel: string }) {
    if (knownUrls.size >= URL_CACHE_LIMIT) {
      const oldest = knownUrls.keys().next().value;
      if (oldest !== undefined) knownUrls.delete(oldest);
    }
    knownUrls.set(requestId, urls);
  }
}

/** `fal-ai/kling-video/v2.5-turbo/...` -> `fal-ai/kling-video`; `workflows/o/a/...` -> `workflows/o/a`. */
export function appPathOf(modelId: string): string {
  const parts = modelId.split('/').filter(Boolean);
  const width = parts[0] === 'workflows' || parts[0] === 'comfy' ? 3 : 2;
  if (parts.length < width) throw new Error(`FAL_MODEL "${modelId}" is not an endpoint id like owner/app[/path]`);
  return parts.slice(0, width).join('/');
}

function toFalInput(input: VideoInput): Record<string, unknown> {
  const body: Record<string, unknown> = { prompt: input.prompt, image_url: input.imageUrl, duration: input.duration };
  if (input.negativePrompt !== null) body.negative_prompt = input.negativePrompt;
  if (input.cfgScale !== null) body.cfg_scale = input.cfgScale;
  return body;
}

function transportError(operation: Operation, error: unknown): UpstreamError {
  const code = (error as { code?: unknown } | null)?.code;
  const name = (error as { name?: unknown } | null)?.name;
  if (name === 'AbortError') return new UpstreamError('unreachable', `fal ${operation}: aborted`, { ambiguous: operation === 'submit' });
  const safe = typeof code === 'string' && SAFE_CONNECT_ERRORS.has(code);
  return new UpstreamError('unreachable', `fal ${operation}: ${typeof code === 'string' ? code : 'network error'}`, {
    ambiguous: operation === 'submit' && !safe,
  });
}

function answerError(operation: Operation, answer: Answer, redact: (text: string) => string): UpstreamError {
  const { status } = answer;
  const described = describeErrorBody(answer.body);
  const detail = described ? `: ${redact(described.message).slice(0, 300)}` : '';
  const details = { httpStatus: status, retryAfterSeconds: answer.retryAfterSeconds };
  if (status === 429) return new UpstreamError('rate_limited', `fal ${operation}: rate limited (HTTP 429)${detail}`, details);
  if (status === 401) return new UpstreamError('unauthorized', `fal ${operation}: the upstream credential was refused (HTTP 401)`, details);
  if (status === 403) return new UpstreamError('forbidden', `fal ${operation}: the upstream account refused the call (HTTP 403)${detail}`, details);
  if (status === 404) return new UpstreamError('not_found', `fal ${operation}: not found (HTTP 404)`, details);
  if (status >= 500) return new UpstreamError('unreachable', `fal ${operation}: upstream error (HTTP ${status})`, { ...details, ambiguous: operation === 'submit' });
  return new UpstreamError('rejected', `fal ${operation}: refused (HTTP ${status})${detail}`, details);
}

/**
 * fal's platform API over HTTP (RESEARCH-2.md section 4): an endpoint's recent requests with their
 * inputs, and per-request billing events. Same rules as the queue client: one keep-alive dispatcher
 * bound to one origin (FAL_API_URL), the credential behind a function, fal's words redacted, GETs
 * retried with backoff. fal wants an Admin key here (FAL_ADMIN_KEY); an inference key gets 401/403.
 */
import type { Dispatcher } from 'undici';
import { z } from 'zod';
import type { VideoInput } from '../domain/job.ts';
import { answerError, transportError } from './fal-queue-client.ts';
import type { BillingEvent, BillingEventsQuery, ListRequestsQuery, PlatformApi, PlatformRequest } from './platform-api.ts';
import { createRedactor } from './redact.ts';
import { DEFAULT_RETRY, parseRetryAfter, withRetry, type RetryPolicy } from './retry.ts';
import { UpstreamError, type CallOptions } from './upstream-queue.ts';

export interface FalPlatformClientOptions {
  dispatcher: Dispatcher;
  /** e.g. https://api.fal.ai (paths under /v1 are added). */
  baseUrl: string;
  credential: () => string;
  authScheme: 'Key' | 'Bearer';
  retry?: RetryPolicy;
  timeoutMs?: number;
  onRetry?: (operation: string, error: UpstreamError, delayMs: number) => void;
}

const PAGE_LIMIT = 100;
const MAX_PAGES = 10;
const REQUEST_IDS_PER_CALL = 50;

const nullish = <T extends z.ZodType>(schema: T) => schema.nullish().transform((v) => v ?? null);
const requestsPage = z.object({
  items: z.array(z.object({
    request_id: z.string().min(1),
    started_at: nullish(z.string()),
    sent_at: nullish(z.string()),
    ended_at: nullish(z.string()),
    status_code: nullish(z.number()),
    json_input: z.unknown().optional(),
  })),
  next_cursor: nullish(z.string()),
  has_more: z.boolean().optional(),
});
const billingPage = z.object({
  billing_events: z.array(z.object({ request_id: z.string().min(1), timestamp: z.string(), cost_estimate_nano_usd: z.number() })),
  next_cursor: nullish(z.string()),
  has_more: z.boolean().optional(),
});

export function createFalPlatformClient(options: FalPlatformClientOptions): PlatformApi {
  const { dispatcher, credential, authScheme, retry = DEFAULT_RETRY, timeoutMs = 30_000 } = options;
  const base = new URL(options.baseUrl);
  const basePath = base.pathname.replace(/\/+$/, '');
  const redact = createRedactor(credential);

  async function get(operation: string, path: string, params: URLSearchParams, call: CallOptions): Promise<unknown> {
    return withRetry(async () => {
      let response: Dispatcher.ResponseData;
      let text: string;
      try {
        response = await dispatcher.request({
          origin: base.origin,
          path: `${basePath}/v1${path}?${params}`,
          method: 'GET',
          headers: { authorization: `${authScheme} ${credential()}`, accept: 'application/json', ...(call.requestId ? { 'x-request-id': call.requestId } : {}) },
          signal: call.signal ?? null,
          headersTimeout: timeoutMs,
          bodyTimeout: timeoutMs,
        });
        text = await response.body.text();
      } catch (error) {
        throw transportError(operation, error);
      }
      let body: unknown = null;
      try {
        body = text ? JSON.parse(text) : null;
      } catch {
        if (response.statusCode < 300) throw new UpstreamError('malformed', `fal ${operation}: answer is not JSON`, { httpStatus: response.statusCode });
      }
      if (response.statusCode >= 300) {
        throw answerError(operation, { status: response.statusCode, body, retryAfterSeconds: parseRetryAfter(response.headers['retry-after']) }, redact);
      }
      return body;
    }, retry, {
      ...(call.signal ? { signal: call.signal } : {}),
      onRetry: (error, delayMs) => options.onRetry?.(operation, error, delayMs),
    });
  }

  return {
    async listRequests({ endpointId, start, end, limit = PAGE_LIMIT }: ListRequestsQuery, call: CallOptions = {}): Promise<PlatformRequest[]> {
      const out: PlatformRequest[] = [];
      let cursor: string | null = null;
      for (let page = 0; page < MAX_PAGES && out.length < limit; page++) {
        const params = new URLSearchParams({ endpoint_id: endpointId, start: start.toISOString(), end: end.toISOString(), expand: 'payloads', limit: String(Math.min(PAGE_LIMIT, limit - out.length)) });
        if (cursor) params.set('cursor', cursor);
        const parsed = requestsPage.safeParse(await get('requests', '/models/requests/by-endpoint', params, call));
        if (!parsed.success) throw new UpstreamError('malformed', 'fal requests: unexpected answer shape');
        for (const item of parsed.data.items) {
          out.push({
            requestId: item.request_id,
            startedAt: item.started_at ?? item.sent_at,
            endedAt: item.ended_at,
            statusCode: item.status_code,
            input: item.json_input ?? null,
            videoInput: fromFalInput(item.json_input),
          });
        }
        cursor = parsed.data.next_cursor;
        if (!parsed.data.has_more || !cursor) break;
      }
      return out.slice(0, limit);
    },

    async billingEvents({ endpointId, requestIds, start, end }: BillingEventsQuery, call: CallOptions = {}): Promise<BillingEvent[]> {
      const out: BillingEvent[] = [];
      for (let i = 0; i < requestIds.length; i += REQUEST_IDS_PER_CALL) {
        let cursor: string | null = null;
        for (let page = 0; page < MAX_PAGES; page++) {
          const params = new URLSearchParams({ endpoint_id: endpointId, start: start.toISOString(), end: end.toISOString(), limit: String(PAGE_LIMIT) });
          for (const id of requestIds.slice(i, i + REQUEST_IDS_PER_CALL)) params.append('request_id', id);
          if (cursor) params.set('cursor', cursor);
          const parsed = billingPage.safeParse(await get('billing', '/models/billing-events', params, call));
          if (!parsed.success) throw new UpstreamError('malformed', 'fal billing: unexpected answer shape');
          for (const event of parsed.data.billing_events) {
            out.push({ requestId: event.request_id, costNanoUsd: event.cost_estimate_nano_usd, timestamp: event.timestamp });
          }
          cursor = parsed.data.next_cursor;
          if (!parsed.data.has_more || !cursor) break;
        }
      }
      return out;
    },

    async close() {},
  };
}

const falInput = z.object({
  prompt: z.string(),
  image_url: z.string(),
  duration: z.union([z.literal('5'), z.literal('10'), z.literal(5), z.literal(10)]).optional(),
  negative_prompt: z.string().nullish(),
  cfg_scale: z.number().nullish(),
});

/** The model's input (fal's field names) in domain terms, with fal's defaults where a field is absent. */
export function fromFalInput(input: unknown): VideoInput | null {
  const parsed = falInput.safeParse(input);
  if (!parsed.success) return null;
  const v = parsed.data;
  return {
    prompt: v.prompt,
    imageUrl: v.image_url,
    duration: String(v.duration ?? '5') as VideoInput['duration'],
    negativePrompt: v.negative_prompt ?? null,
    cfgScale: v.cfg_scale ?? null,
  };
}

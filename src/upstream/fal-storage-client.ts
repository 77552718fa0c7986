/**
 * fal's storage upload, the way fal's own client does it (@fal-ai/client storage.ts, RESEARCH-2
 * section 2): `POST {base}/storage/upload/initiate?storage_type=fal-cdn-v3` with the credential,
 * answered `{upload_url, file_url}`; then `PUT upload_url` with the raw bytes and no credential.
 * Single PUT only: images are far below fal's 90 MB multipart threshold.
 */
import { request, type Dispatcher } from 'undici';
import { z } from 'zod';
import type { FileStorage, UploadFile } from './file-storage.ts';
import { UpstreamError, type CallOptions } from './upstream-queue.ts';
import { withRetry, type RetryPolicy } from './retry.ts';

export interface FalStorageOptions {
  /** e.g. https://rest.fal.ai (a reseller's base works the same way). */
  baseUrl: string;
  credential: () => string;
  authScheme: 'Key' | 'Bearer';
  timeoutMs?: number;
  retry?: RetryPolicy;
  /** For both calls; default undici's global dispatcher. */
  dispatcher?: Dispatcher;
  /** Sent on the initiate as X-Fal-Object-Lifecycle (expiration of the uploaded file), when set. */
  expirationSeconds?: number;
}

const initiateSchema = z.object({ upload_url: z.string().url(), file_url: z.string().url() });

export function createFalStorageClient(options: FalStorageOptions): FileStorage {
  const { credential, authScheme, timeoutMs = 30_000, retry = { maxRetries: 2, baseDelayMs: 250, maxDelayMs: 5_000 } } = options;
  const base = options.baseUrl.replace(/\/+$/, '');
  const dispatcher = options.dispatcher ? { dispatcher: options.dispatcher } : {};

  async function call(what: string, url: string, init: { method: 'POST' | 'PUT'; headers: Record<string, string>; body: string | Uint8Array; signal?: AbortSignal }) {
    let response: Dispatcher.ResponseData;
    try {
      response = await request(url, { ...init, ...dispatcher, headersTimeout: timeoutMs, bodyTimeout: timeoutMs, signal: init.signal ?? null });
    } catch (error) {
      const code = (error as { code?: unknown }).code;
      throw new UpstreamError('unreachable', `fal storage ${what}: ${typeof code === 'string' ? code : 'network error'}`);
    }
    const text = await response.body.text().catch(() => '');
    const status = response.statusCode;
    if (status < 300) return text;
    const kind = status === 429 ? 'rate_limited' : status === 401 ? 'unauthorized' : status === 403 ? 'forbidden' : status >= 500 ? 'unreachable' : 'rejected';
    throw new UpstreamError(kind, `fal storage ${what}: HTTP ${status}`, { httpStatus: status });
  }

  return {
    upload(file: UploadFile, call_: CallOptions = {}) {
      const signal = call_.signal ? { signal: call_.signal } : {};
      return withRetry(async () => {
        const headers: Record<string, string> = {
          authorization: `${authScheme} ${credential()}`,
          accept: 'application/json',
          'content-type': 'application/json',
          'user-agent': 'fal-video-gateway',
        };
        if (options.expirationSeconds) headers['x-fal-object-lifecycle'] = JSON.stringify({ expiration_duration_seconds: options.expirationSeconds });
        if (call_.requestId) headers['x-request-id'] = call_.requestId;
        const text = await call('initiate', `${base}/storage/upload/initiate?storage_type=fal-cdn-v3`, {
          method: 'POST',
          headers,
          body: JSON.stringify({ content_type: file.contentType, file_name: file.fileName }),
          ...signal,
        });
        let parsed;
        try {
          parsed = initiateSchema.safeParse(JSON.parse(text));
        } catch {
          parsed = null;
        }
        if (!parsed?.success) throw new UpstreamError('malformed', 'fal storage initiate: answer lacks upload_url/file_url');
        const target = new URL(parsed.data.upload_url);
        if (target.protocol !== 'https:' && target.protocol !== 'http:') throw new UpstreamError('malformed', 'fal storage initiate: upload_url is not http(s)');
        // The PUT carries no credential: upload_url is a signed, single-use target.
        await call('put', target.href, { method: 'PUT', headers: { 'content-type': file.contentType }, body: file.bytes, ...signal });
        return parsed.data.file_url;
      }, retry, signal);
    },
  };
}

/**
 * fal's status stream (FAL_QUEUE.md 1.3): `GET {base}/{owner}/{app}/requests/{id}/status/stream?logs=1`,
 * server-sent events whose `data` is a status object, a `: keep-alive` comment every 15 s, closed by
 * fal after COMPLETED. Parsed with eventsource-parser; each event through the same status schema as a
 * poll. Unlike fal's own client, a stream that ends without COMPLETED is reported as a disconnect
 * (`ended`), silence past `stallMs` as `stalled` (undici's body timeout, reset by every byte, keep-alives
 * included), a broken socket as `dropped`. Same pool, same origin-only credential as every other call.
 */
import { createParser } from 'eventsource-parser';
import type { Dispatcher } from 'undici';
import { appPathOf } from './fal-queue-client.ts';
import { falStatusSchema, toUpstreamStatus } from './fal-wire.ts';
import type { FollowOptions, StreamEnd, UpstreamStreams } from './upstream-queue.ts';

export interface FalStatusStreamsOptions {
  dispatcher: Dispatcher;
  baseUrl: string;
  credential: () => string;
  authScheme: 'Key' | 'Bearer';
  modelId: string;
  userAgent?: string;
  /** Deadline for the stream's headers. */
  timeoutMs?: number;
}

export function createFalStatusStreams(options: FalStatusStreamsOptions): UpstreamStreams {
  const { dispatcher, credential, authScheme, timeoutMs = 30_000 } = options;
  const base = new URL(options.baseUrl);
  const root = `${base.pathname.replace(/\/+$/, '')}/${appPathOf(options.modelId)}/requests`;

  async function open(requestId: string, follow: FollowOptions): Promise<Dispatcher.ResponseData | StreamEnd> {
    try {
      return await dispatcher.request({
        origin: base.origin,
        path: `${root}/${encodeURIComponent(requestId)}/status/stream?logs=1`,
        method: 'GET',
        headers: { authorization: `${authScheme} ${credential()}`, accept: 'text/event-stream', 'user-agent': options.userAgent ?? 'fal-video-gateway' },
        signal: follow.signal,
        headersTimeout: timeoutMs,
        bodyTimeout: follow.stallMs,
      });
    } catch {
      return follow.signal.aborted ? { reason: 'aborted' } : { reason: 'refused', httpStatus: null };
    }
  }

  return {
    async follow(requestId, follow) {
      const response = await open(requestId, follow);
      if ('reason' in response) return response;
      const type = String(response.headers['content-type'] ?? '');
      if (response.statusCode !== 200 || !type.includes('text/event-stream')) {
        await response.body.dump().catch(() => undefined);
        return { reason: 'refused', httpStatus: response.statusCode };
      }
      follow.onOpen?.();
      let completed = false;
      const parser = createParser({
        onEvent(event) {
          if (completed) return;
          let data: unknown;
          try {
            data = JSON.parse(event.data);
          } catch {
            return; // not a status object: ignored, like fal's own client would fail on it
          }
          const parsed = falStatusSchema.safeParse(data);
          if (!parsed.success) return;
          const status = toUpstreamStatus(parsed.data);
          if (status.status === 'COMPLETED') completed = true;
          follow.onStatus(status);
        },
      });
      const decoder = new TextDecoder();
      try {
        for await (const chunk of response.body) {
          parser.feed(decoder.decode(chunk as Buffer, { stream: true }));
          if (completed) break;
        }
      } catch (error) {
        if (completed) return { reason: 'completed' };
        if (follow.signal.aborted) return { reason: 'aborted' };
        const code = (error as { code?: unknown } | null)?.code;
        return { reason: code === 'UND_ERR_BODY_TIMEOUT' ? 'stalled' : 'dropped' };
      } finally {
        response.body.destroy();
      }
      return completed ? { reason: 'completed' } : { reason: follow.signal.aborted ? 'aborted' : 'ended' };
    },
  };
}

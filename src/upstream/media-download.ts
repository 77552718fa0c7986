/**
 * Downloads fal's media over HTTP (undici), within the rules of media-source.ts: allowed hosts only,
 * redirects followed only when they stay on allowed hosts (at most 3), a size bound checked against
 * Content-Length and again while the bytes flow, deadlines for headers and body. No credential is
 * ever sent: fal's CDN URLs are public.
 */
import { pipeline, Transform } from 'node:stream';
import { request, type Dispatcher } from 'undici';
import { isAllowedMediaUrl, MediaSourceError, type MediaDownload, type MediaSource } from './media-source.ts';

export interface MediaDownloadOptions {
  hosts: readonly string[];
  timeoutMs: number;
  dispatcher?: Dispatcher;
  maxRedirects?: number;
}

export function createMediaDownloader({ hosts, timeoutMs, dispatcher, maxRedirects = 3 }: MediaDownloadOptions): MediaSource {
  return {
    async open(url: string, { signal, maxBytes }): Promise<MediaDownload> {
      let target: URL;
      try {
        target = new URL(url);
      } catch {
        throw new MediaSourceError('media URL is not a URL', true);
      }
      for (let hop = 0; ; hop++) {
        if (!isAllowedMediaUrl(target, hosts)) throw new MediaSourceError(`media host ${target.host} is not allowed (MEDIA_SOURCE_HOSTS)`, true);
        let response: Dispatcher.ResponseData;
        try {
          response = await request(target, {
            method: 'GET',
            headersTimeout: timeoutMs,
            bodyTimeout: timeoutMs,
            signal: signal ?? null,
            headers: { 'user-agent': 'fal-video-gateway' },
            ...(dispatcher ? { dispatcher } : {}),
          });
        } catch (error) {
          const code = (error as { code?: unknown }).code;
          throw new MediaSourceError(`media download failed: ${typeof code === 'string' ? code : (error as Error).name}`, false);
        }
        const status = response.statusCode;
        if (status >= 300 && status < 400 && response.headers.location) {
          response.body.resume();
          if (hop >= maxRedirects) throw new MediaSourceError('media download: too many redirects', true);
          target = new URL(String(response.headers.location), target);
          continue;
        }
        if (status !== 200) {
          response.body.resume();
          throw new MediaSourceError(`media download: HTTP ${status}`, status === 404 || status === 410 || status === 403);
        }
        const declared = Number(response.headers['content-length']);
        const size = Number.isFinite(declared) && response.headers['content-length'] !== undefined ? declared : null;
        if (size !== null && size > maxBytes) {
          response.body.destroy();
          throw new MediaSourceError(`media is larger than ${maxBytes} bytes`, true);
        }
        const type = response.headers['content-type'];
        // pipeline passes a body error (a stall past bodyTimeout, a reset) on to the reader.
        return { body: pipeline(response.body, limit(maxBytes), () => undefined), size, contentType: typeof type === 'string' ? type : null };
      }
    },
  };
}

function limit(maxBytes: number): Transform {
  let seen = 0;
  return new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      seen += chunk.length;
      if (seen > maxBytes) callback(new MediaSourceError(`media is larger than ${maxBytes} bytes`, true));
      else callback(null, chunk);
    },
  });
}

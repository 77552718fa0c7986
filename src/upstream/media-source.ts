/**
 * The port for reading fal's media (generated videos) so the gateway can keep a copy: only from the
 * hosts fal names for media (`*.fal.media`, plus MEDIA_SOURCE_HOSTS), over http(s), never following a
 * redirect anywhere else. The copy must not become a way to make the gateway fetch arbitrary URLs.
 */
import type { Readable } from 'node:stream';

export interface MediaDownload {
  body: Readable;
  /** Content-Length, when the host sent one. */
  size: number | null;
  contentType: string | null;
}

export interface MediaSource {
  /** Opens `url` for reading. Rejects with a MediaSourceError. */
  open(url: string, options: { signal?: AbortSignal; maxBytes: number }): Promise<MediaDownload>;
}

/** `permanent`: trying again cannot help (a host not allowed, too large); otherwise retry later. */
export class MediaSourceError extends Error {
  override name = 'MediaSourceError';
  readonly permanent: boolean;
  constructor(message: string, permanent: boolean) {
    super(message);
    this.permanent = permanent;
  }
}

export const DEFAULT_MEDIA_HOSTS: readonly string[] = ['fal.media', '*.fal.media'];

/**
 * Whether `url` may be downloaded: http(s), no credentials, and a host matching one pattern:
 * `*.domain` (any subdomain), `host` (any port) or `host:port` (that port only).
 */
export function isAllowedMediaUrl(url: URL, patterns: readonly string[]): boolean {
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return false;
  if (url.username || url.password) return false;
  const hostname = url.hostname.toLowerCase().replace(/^\[|\]$/g, '');
  const host = url.host.toLowerCase();
  return patterns.some((pattern) => {
    const p = pattern.toLowerCase();
    if (p.startsWith('*.')) return hostname.endsWith(p.slice(1));
    const withPort = /^(\[[^\]]+\]|[^:]+):\d+$/.test(p);
    return withPort ? host === p : hostname === p.replace(/^\[|\]$/g, '');
  });
}

/**
 * `/media/...`: the gateway's durable copies, by capability URL (media-copier.ts makes the keys).
 * GET and HEAD, single byte ranges (206, 416), the stored content type, and caching for immutable
 * content: a `<video>` element seeks with Range and cannot send headers, so the URL is the key.
 * Unknown or malformed keys answer 404 alike.
 */
import { Readable } from 'node:stream';

/** What the route reads (the MediaStore port, structurally). */
export interface MediaFiles {
  stat(key: string): Promise<{ size: number; contentType: string } | null>;
  read(key: string, range?: { start: number; end: number }): Promise<Readable | null>;
}

const KEY = /^videos\/[\w-]{1,64}\/[0-9a-f]{32}\/[\w.-]{1,100}$/;
const CACHING = 'private, max-age=31536000, immutable';

/** The one range of `Range: bytes=...` (null: serve it whole; 'unsatisfiable': 416). Several ranges: whole. */
export function parseRange(header: string | null, size: number): { start: number; end: number } | null | 'unsatisfiable' {
  if (!header) return null;
  const match = /^bytes=(\d*)-(\d*)$/.exec(header.trim());
  if (!match || (match[1] === '' && match[2] === '')) return null;
  const [, from, to] = match as unknown as [string, string, string];
  if (from === '') {
    const suffix = Number(to);
    if (suffix === 0) return 'unsatisfiable';
    return { start: Math.max(0, size - suffix), end: size - 1 };
  }
  const start = Number(from);
  const end = to === '' ? size - 1 : Math.min(Number(to), size - 1);
  if (start >= size || end < start) return 'unsatisfiable';
  return { start, end };
}

export function createMediaRoute(files: MediaFiles) {
  return async (request: Request, url: URL): Promise<Response | null> => {
    if (!url.pathname.startsWith('/media/')) return null;
    if (request.method !== 'GET' && request.method !== 'HEAD') {
      return new Response('Method Not Allowed', { status: 405, headers: { allow: 'GET, HEAD' } });
    }
    let key: string;
    try {
      key = decodeURIComponent(url.pathname.slice('/media/'.length));
    } catch {
      return notFound();
    }
    const info = KEY.test(key) ? await files.stat(key) : null;
    if (!info) return notFound();
    const etag = `"${key.split('/')[2]}-${info.size}"`;
    const headers: Record<string, string> = { 'content-type': info.contentType, 'accept-ranges': 'bytes', 'cache-control': CACHING, etag };
    if (request.headers.get('if-none-match') === etag) return new Response(null, { status: 304, headers });
    const ifRange = request.headers.get('if-range');
    const range = ifRange && ifRange !== etag ? null : parseRange(request.headers.get('range'), info.size);
    if (range === 'unsatisfiable') return new Response(null, { status: 416, headers: { ...headers, 'content-range': `bytes */${info.size}` } });
    const length = range ? range.end - range.start + 1 : info.size;
    Object.assign(headers, { 'content-length': String(length) }, range ? { 'content-range': `bytes ${range.start}-${range.end}/${info.size}` } : {});
    const status = range ? 206 : 200;
    if (request.method === 'HEAD' || length === 0) return new Response(null, { status, headers });
    const body = await files.read(key, range ?? undefined);
    if (!body) return notFound(); // purged between the stat and the read
    return new Response(Readable.toWeb(body) as ReadableStream, { status, headers });
  };
}

function notFound(): Response {
  return new Response('Not Found', { status: 404, headers: { 'content-type': 'text/plain', 'cache-control': 'no-store' } });
}

/**
 * The result video the simulator serves at `/files/{id}/output.mp4`: a real, playable 4 s H.264 clip
 * (assets/sample.mp4, made by scripts/make-sample-video.sh), with HEAD and single `Range` requests.
 */
import { readFileSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';

/** Reads the committed sample clip. */
export function loadSampleVideo(): Buffer {
  return readFileSync(new URL('./assets/sample.mp4', import.meta.url));
}

/** A single byte range of `size` bytes: [start, end] inclusive; 'unsatisfiable'; or null (whole file). */
export function parseRange(header: string | undefined, size: number): { start: number; end: number } | 'unsatisfiable' | null {
  if (!header) return null;
  const match = /^bytes=(\d*)-(\d*)$/.exec(header.trim());
  if (!match || (match[1] === '' && match[2] === '')) return null; // not one plain range: ignore it, as servers may
  if (match[1] === '') {
    const suffix = Number(match[2]);
    return suffix === 0 || size === 0 ? 'unsatisfiable' : { start: Math.max(0, size - suffix), end: size - 1 };
  }
  const start = Number(match[1]);
  const end = match[2] === '' ? size - 1 : Math.min(Number(match[2]), size - 1);
  if (start >= size || end < start) return 'unsatisfiable';
  return { start, end };
}

export function serveVideo(req: IncomingMessage, res: ServerResponse, video: Buffer): void {
  const method = req.method ?? 'GET';
  const base = { 'content-type': 'video/mp4', 'accept-ranges': 'bytes', 'cache-control': 'public, max-age=3600' };
  const range = parseRange(req.headers.range, video.length);
  if (range === 'unsatisfiable') {
    res.writeHead(416, { ...base, 'content-range': `bytes */${video.length}`, 'content-length': '0' });
    return void res.end();
  }
  const { start, end } = range ?? { start: 0, end: video.length - 1 };
  const headers = { ...base, 'content-length': String(end - start + 1) };
  if (range) res.writeHead(206, { ...headers, 'content-range': `bytes ${start}-${end}/${video.length}` });
  else res.writeHead(200, headers);
  res.end(method === 'HEAD' ? undefined : video.subarray(start, end + 1));
}

/** The pure rules behind media: image signatures and framing, allowed media hosts, byte ranges. */
import { expect, it } from 'vitest';
import { sniffImage } from '../../src/domain/image-type.ts';
import { createMediaRoute, parseRange } from '../../src/http/media-route.ts';
import { DEFAULT_MEDIA_HOSTS, isAllowedMediaUrl } from '../../src/upstream/media-source.ts';
import { IMAGES } from '../helpers/media.ts';

it('judges images by their bytes, whole', () => {
  expect(sniffImage(IMAGES.png)).toEqual({ type: 'png' });
  expect(sniffImage(IMAGES.jpeg)).toEqual({ type: 'jpeg' });
  expect(sniffImage(IMAGES.webp)).toEqual({ type: 'webp' });
  const gif = Buffer.from('R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7', 'base64');
  expect(sniffImage(gif)).toEqual({ type: 'gif' });
  const ftyp = Buffer.concat([Buffer.from([0, 0, 0, 0x1c]), Buffer.from('ftypavif'), Buffer.from([0, 0, 0, 0]), Buffer.from('avifmif1miaf')]);
  const avif = Buffer.concat([ftyp, Buffer.from([0, 0, 0, 0x10]), Buffer.from('mdat'), Buffer.alloc(8)]);
  expect(sniffImage(avif)).toEqual({ type: 'avif' });
  for (const bad of [IMAGES.png.subarray(0, 40), IMAGES.jpeg.subarray(0, 100), IMAGES.webp.subarray(0, 50), gif.subarray(0, gif.length - 1), avif.subarray(0, avif.length - 3), Buffer.from('<svg/>')]) {
    expect(sniffImage(bad)).toHaveProperty('problem');
  }
  const corrupted = Buffer.from(IMAGES.png);
  corrupted[40] = (corrupted[40] ?? 0) ^ 0xff;
  expect(sniffImage(corrupted)).toHaveProperty('problem');
});

it('downloads media only from allowed hosts, over http(s)', () => {
  const hosts = [...DEFAULT_MEDIA_HOSTS, '127.0.0.1:4010', 'cdn.reseller.example'];
  const allowed = (url: string) => isAllowedMediaUrl(new URL(url), hosts);
  expect(allowed('https://v3b.fal.media/files/x/output.mp4')).toBe(true);
  expect(allowed('https://fal.media/files/x/output.mp4')).toBe(true);
  expect(allowed('http://127.0.0.1:4010/files/x/output.mp4')).toBe(true);
  expect(allowed('https://cdn.reseller.example:8443/v.mp4')).toBe(true);
  expect(allowed('https://fal.media.evil.example/v.mp4')).toBe(false);
  expect(allowed('https://evilfal.media/v.mp4')).toBe(false);
  expect(allowed('http://127.0.0.1:4011/files/x/output.mp4')).toBe(false);
  expect(allowed('http://169.254.169.254/latest/meta-data')).toBe(false);
  expect(allowed('file:///etc/passwd')).toBe(false);
  expect(allowed('https://user:pass@v3.fal.media/v.mp4')).toBe(false);
});

it('reads one byte range; several ranges or none serve the whole', () => {
  expect(parseRange('bytes=0-99', 1000)).toEqual({ start: 0, end: 99 });
  expect(parseRange('bytes=900-', 1000)).toEqual({ start: 900, end: 999 });
  expect(parseRange('bytes=-100', 1000)).toEqual({ start: 900, end: 999 });
  expect(parseRange('bytes=990-2000', 1000)).toEqual({ start: 990, end: 999 });
  expect(parseRange('bytes=1000-', 1000)).toBe('unsatisfiable');
  expect(parseRange('bytes=0-1,5-6', 1000)).toBeNull();
  expect(parseRange(null, 1000)).toBeNull();
});

it('a copy purged between its stat and its read is a 404, not a broken stream', async () => {
  const route = createMediaRoute({ stat: async () => ({ size: 10, contentType: 'video/mp4' }), read: async () => null });
  const url = new URL('http://127.0.0.1/media/videos/job-1/0123456789abcdef0123456789abcdef/output.mp4');
  const response = await route(new Request(url), url);
  expect(response?.status).toBe(404);
});

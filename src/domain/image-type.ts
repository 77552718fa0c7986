/**
 * What an uploaded file really is, from its bytes (never its name or declared type): one of the
 * images the model accepts, whole. Each format is checked by its signature and by its own framing
 * (chunks, boxes, trailers), so a truncated file, a text file renamed .png or an SVG is refused.
 */
import { crc32 } from 'node:zlib';

export type ImageType = 'png' | 'jpeg' | 'webp' | 'gif' | 'avif';

export const IMAGE_CONTENT_TYPES: Readonly<Record<ImageType, string>> = {
  png: 'image/png',
  jpeg: 'image/jpeg',
  webp: 'image/webp',
  gif: 'image/gif',
  avif: 'image/avif',
};

export const IMAGE_EXTENSIONS: Readonly<Record<ImageType, string>> = { png: 'png', jpeg: 'jpg', webp: 'webp', gif: 'gif', avif: 'avif' };

/** The image type, or a reason the bytes are not an accepted, complete image. */
export function sniffImage(bytes: Uint8Array): { type: ImageType } | { problem: string } {
  const buffer = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const checks: Array<[ImageType, (b: Buffer) => boolean, (b: Buffer) => string | null]> = [
    ['png', (b) => b.subarray(0, 8).equals(PNG_SIGNATURE), checkPng],
    ['jpeg', (b) => b[0] === 0xff && b[1] === 0xd8 && b[2] === 0xff, checkJpeg],
    ['webp', (b) => b.toString('latin1', 0, 4) === 'RIFF' && b.toString('latin1', 8, 12) === 'WEBP', checkWebp],
    ['gif', (b) => /^GIF8[79]a$/.test(b.toString('latin1', 0, 6)), checkGif],
    ['avif', (b) => b.toString('latin1', 4, 8) === 'ftyp' && isAvifBrand(b), checkIsoBoxes],
  ];
  for (const [type, matches, complete] of checks) {
    if (!matches(buffer)) continue;
    const problem = complete(buffer);
    return problem ? { problem: `image is not a complete ${type.toUpperCase()} file (${problem})` } : { type };
  }
  return { problem: 'image must be a jpg, png, webp, gif or avif file (judged by its content, not its name)' };
}

const PNG_SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

/** Walks the chunks: each whole with a matching CRC, IHDR first, IEND last at the very end. */
function checkPng(b: Buffer): string | null {
  let offset = 8;
  let first = true;
  while (offset + 12 <= b.length) {
    const length = b.readUInt32BE(offset);
    const end = offset + 12 + length;
    if (end > b.length) return 'a chunk runs past the end';
    const type = b.toString('latin1', offset + 4, offset + 8);
    if (first && type !== 'IHDR') return 'IHDR is not the first chunk';
    first = false;
    if (crc32(b.subarray(offset + 4, offset + 8 + length)) !== b.readUInt32BE(offset + 8 + length)) return `bad CRC in ${type}`;
    if (type === 'IEND') return end === b.length ? null : 'bytes after IEND';
    offset = end;
  }
  return 'no IEND chunk';
}

/** Ends with the end-of-image marker (some encoders pad a few zero bytes after it). */
function checkJpeg(b: Buffer): string | null {
  let end = b.length;
  while (end > 0 && b[end - 1] === 0 && b.length - end < 16) end--;
  return end >= 4 && b[end - 2] === 0xff && b[end - 1] === 0xd9 ? null : 'no end-of-image marker';
}

function checkWebp(b: Buffer): string | null {
  if (b.length < 20) return 'too short';
  const declared = b.readUInt32LE(4) + 8;
  if (declared > b.length) return 'shorter than its RIFF header says';
  return checkRiffChunks(b, 12, declared);
}

function checkRiffChunks(b: Buffer, start: number, end: number): string | null {
  let offset = start;
  while (offset + 8 <= end) {
    const size = b.readUInt32LE(offset + 4);
    offset += 8 + size + (size % 2);
  }
  return offset === end || offset === end + 1 ? null : 'a chunk runs past the end';
}

function checkGif(b: Buffer): string | null {
  return b.length >= 14 && b[b.length - 1] === 0x3b ? null : 'no trailer';
}

function isAvifBrand(b: Buffer): boolean {
  if (b.length < 16) return false;
  const size = Math.min(b.readUInt32BE(0), b.length);
  for (let offset = 8; offset + 4 <= size; offset += 4) {
    if (offset === 12) continue; // minor version
    const brand = b.toString('latin1', offset, offset + 4);
    if (brand === 'avif' || brand === 'avis') return true;
  }
  return false;
}

/** ISO-BMFF: top-level boxes tile the file exactly. */
function checkIsoBoxes(b: Buffer): string | null {
  let offset = 0;
  while (offset + 8 <= b.length) {
    let size = b.readUInt32BE(offset);
    if (size === 1) {
      if (offset + 16 > b.length) return 'a box runs past the end';
      size = Number(b.readBigUInt64BE(offset + 8));
    } else if (size === 0) {
      size = b.length - offset;
    }
    if (size < 8 || offset + size > b.length) return 'a box runs past the end';
    offset += size;
  }
  return offset === b.length ? null : 'trailing bytes';
}

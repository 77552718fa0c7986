/**
 * The port for durable media (copies of generated videos): objects by key, written whole or not at
 * all, read whole or by byte range; plus small JSON records (the copies still pending). The folder
 * (`local-media-store.ts`) and any S3-compatible bucket (`s3-media-store.ts`) implement it.
 *
 * Keys are built by the gateway (`videos/<jobId>/<token>/<file>`, `pending/<jobId>.json`), never
 * taken from a client unchecked.
 */
import type { Readable } from 'node:stream';

export interface MediaInfo {
  /** Bytes; null when unknown before the write (the adapter then learns it from the body). */
  size: number | null;
  contentType: string;
}

export interface StoredMedia {
  size: number;
  contentType: string;
}

/** Inclusive byte range, as in `Range: bytes=start-end`. */
export interface ByteRange {
  start: number;
  end: number;
}

export interface MediaStore {
  readonly kind: 'local' | 's3';
  /** Stores `body` under `key`; visible only once complete. Rejects (keeping nothing) when the body errors. */
  put(key: string, body: Readable, info: MediaInfo, signal?: AbortSignal): Promise<void>;
  /** Size and type of a stored object; null when there is none. */
  stat(key: string): Promise<StoredMedia | null>;
  /** The object's bytes, or the given range of them. */
  /** The stored bytes (a range of them); null when the key is gone (purged since a stat). */
  read(key: string, range?: ByteRange): Promise<Readable | null>;
  /** Removes every object whose key starts with `prefix` (a folder-like prefix ending in '/'), or one key. */
  delete(keyOrPrefix: string): Promise<void>;
  putRecord(key: string, value: unknown): Promise<void>;
  /** The records whose keys start with `prefix`. */
  listRecords(prefix: string): Promise<Array<{ key: string; value: unknown }>>;
  close(): Promise<void>;
}

/** Content types of the media the gateway serves, by file extension. */
const CONTENT_TYPES: Readonly<Record<string, string>> = {
  mp4: 'video/mp4', m4v: 'video/mp4', webm: 'video/webm', mov: 'video/quicktime', mkv: 'video/x-matroska',
  png: 'image/png', jpg: 'image/jpeg', jpeg: 'image/jpeg', webp: 'image/webp', gif: 'image/gif', avif: 'image/avif', json: 'application/json',
};

export function contentTypeOf(key: string): string {
  return CONTENT_TYPES[key.split('.').pop()?.toLowerCase() ?? ''] ?? 'application/octet-stream';
}

/** Refuses keys that could escape the store's namespace. */
export function checkKey(key: string): string {
  if (!/^[\w-]+(\/[\w.-]+)*\/?$/.test(key) || key.split('/').some((part) => part === '..' || part === '.')) throw new RangeError(`bad media key ${JSON.stringify(key)}`);
  return key;
}

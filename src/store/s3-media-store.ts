/**
 * Durable media in any S3-compatible bucket (MEDIA_STORE=s3) through the official AWS SDK. Served
 * through the gateway (GetObject with the client's Range), so a bucket can stay private and media
 * URLs keep the gateway's capability rules.
 *
 * Checksums: recent SDK releases add a CRC32 to every upload by default (aws-chunked bodies with a
 * trailer); many S3-compatible servers store or reject that wrongly (s3rver 3.7 keeps the trailer
 * bytes inside the object). `checksums: 'when_required'` (the default off AWS, S3_CHECKSUMS) sends
 * them only where the API demands one.
 */
import {
  DeleteObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
} from '@aws-sdk/client-s3';
import { Readable } from 'node:stream';
import { buffer } from 'node:stream/consumers';
import { checkKey, type ByteRange, type MediaInfo, type MediaStore, type StoredMedia } from './media-store.ts';

export interface S3MediaStoreOptions {
  bucket: string;
  /** A non-AWS endpoint (MinIO, R2, s3rver...); null = AWS. */
  endpoint: string | null;
  region: string;
  /** Prepended to every key (e.g. "gateway/"). */
  prefix: string;
  forcePathStyle: boolean;
  checksums: 'when_required' | 'when_supported';
  /** Tests may pass them; otherwise the SDK's standard chain (AWS_ACCESS_KEY_ID, profiles, roles...). */
  credentials?: { accessKeyId: string; secretAccessKey: string };
}

export function createS3MediaStore(options: S3MediaStoreOptions): MediaStore {
  const { bucket } = options;
  const checksum = options.checksums === 'when_required' ? 'WHEN_REQUIRED' : 'WHEN_SUPPORTED';
  const client = new S3Client({
    region: options.region,
    ...(options.endpoint ? { endpoint: options.endpoint } : {}),
    forcePathStyle: options.forcePathStyle,
    requestChecksumCalculation: checksum,
    responseChecksumValidation: checksum,
    ...(options.credentials ? { credentials: options.credentials } : {}),
  });
  const full = (key: string) => `${options.prefix}${checkKey(key)}`;

  async function keysUnder(prefix: string): Promise<string[]> {
    const keys: string[] = [];
    let token: string | undefined;
    do {
      const page = await client.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: full(prefix), ...(token ? { ContinuationToken: token } : {}) }));
      for (const object of page.Contents ?? []) if (object.Key) keys.push(object.Key);
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
    return keys;
  }

  return {
    kind: 's3',
    async put(key: string, body: Readable, info: MediaInfo, signal?: AbortSignal) {
      // Without a known length the SDK cannot stream a PutObject: the body is read first (it is bounded by the caller).
      const payload = info.size === null ? await buffer(body) : body;
      const length = info.size ?? (payload as Buffer).length;
      await client.send(
        new PutObjectCommand({ Bucket: bucket, Key: full(key), Body: payload, ContentLength: length, ContentType: info.contentType }),
        signal ? { abortSignal: signal } : {},
      );
    },
    async stat(key: string): Promise<StoredMedia | null> {
      try {
        const head = await client.send(new HeadObjectCommand({ Bucket: bucket, Key: full(key) }));
        return { size: head.ContentLength ?? 0, contentType: head.ContentType ?? 'application/octet-stream' };
      } catch (error) {
        if (isNotFound(error)) return null;
        throw error;
      }
    },
    async read(key: string, range?: ByteRange): Promise<Readable | null> {
      let object;
      try {
        object = await client.send(new GetObjectCommand({ Bucket: bucket, Key: full(key), ...(range ? { Range: `bytes=${range.start}-${range.end}` } : {}) }));
      } catch (error) {
        if ((error as { name?: string }).name === 'NoSuchKey') return null; // purged since its stat
        throw error;
      }
      const body = object.Body;
      if (body instanceof Readable) return body;
      throw new Error('S3 GetObject: no readable body');
    },
    async delete(keyOrPrefix: string) {
      const keys = keyOrPrefix.endsWith('/') ? await keysUnder(keyOrPrefix) : [full(keyOrPrefix)];
      // One call per object: DeleteObjects needs a checksum that some S3-compatible servers mishandle.
      await Promise.all(keys.map((Key) => client.send(new DeleteObjectCommand({ Bucket: bucket, Key }))));
    },
    async putRecord(key: string, value: unknown) {
      const text = JSON.stringify(value);
      await client.send(new PutObjectCommand({ Bucket: bucket, Key: full(key), Body: text, ContentLength: Buffer.byteLength(text), ContentType: 'application/json' }));
    },
    async listRecords(prefix: string) {
      const records = await Promise.all(
        (await keysUnder(prefix)).map(async (Key) => {
          try {
            const object = await client.send(new GetObjectCommand({ Bucket: bucket, Key }));
            return { key: Key.slice(options.prefix.length), value: JSON.parse((await object.Body?.transformToString()) ?? 'null') as unknown };
          } catch {
            return null;
          }
        }),
      );
      return records.filter((record) => record !== null);
    },
    async close() {
      client.destroy();
    },
  };
}

function isNotFound(error: unknown): boolean {
  const e = error as { name?: string; $metadata?: { httpStatusCode?: number } };
  return e.name === 'NotFound' || e.name === 'NoSuchKey' || e.$metadata?.httpStatusCode === 404;
}

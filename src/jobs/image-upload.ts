/**
 * Uploaded images: checked by their bytes before anything is stored or sent (BAD_USER_INPUT, field
 * `image`), then stored upstream (fal storage) so the submission names them by URL.
 *
 * Idempotency: an uploaded image is identified by its sha256, not by the URL fal gives it, so a
 * replay with the same key and the same file is the same job and is not uploaded again.
 */
import { createHash } from 'node:crypto';
import { InvalidInputError } from '../domain/errors.ts';
import { IMAGE_CONTENT_TYPES, IMAGE_EXTENSIONS, sniffImage } from '../domain/image-type.ts';
import type { Job, UploadedImage, VideoInput } from '../domain/job.ts';
import type { FileStorage } from '../upstream/file-storage.ts';
import type { UploadBlob } from './validate-input.ts';

export interface CheckedImage {
  bytes: Uint8Array;
  image: UploadedImage;
  fileName: string;
}

/** Reads and checks an uploaded file; throws InvalidInputError('image', ...) when it is not an accepted image. */
export async function checkUpload(blob: UploadBlob, maxBytes: number): Promise<CheckedImage> {
  if (blob.size > maxBytes) throw new InvalidInputError('image', `image must be at most ${maxBytes} bytes`);
  if (blob.size === 0) throw new InvalidInputError('image', 'image is empty');
  const bytes = new Uint8Array(await blob.arrayBuffer());
  if (bytes.byteLength > maxBytes) throw new InvalidInputError('image', `image must be at most ${maxBytes} bytes`);
  const sniffed = sniffImage(bytes);
  if ('problem' in sniffed) throw new InvalidInputError('image', sniffed.problem);
  const sha256 = createHash('sha256').update(bytes).digest('hex');
  return {
    bytes,
    image: { sha256, size: bytes.byteLength, contentType: IMAGE_CONTENT_TYPES[sniffed.type] },
    fileName: `${sha256.slice(0, 16)}.${IMAGE_EXTENSIONS[sniffed.type]}`,
  };
}

/** What makes two submissions "the same input" for an idempotency key. */
export function inputIdentity(input: VideoInput): string {
  const { image, ...rest } = input;
  return JSON.stringify(image ? { ...rest, imageUrl: `sha256:${image.sha256}` } : rest);
}

/** Stores the job's image upstream; resolves with the job's input naming fal's URL for it. */
export async function uploadImage(storage: FileStorage, job: Job, checked: CheckedImage, requestId?: string): Promise<VideoInput> {
  const url = await storage.upload({ bytes: checked.bytes, contentType: checked.image.contentType, fileName: checked.fileName }, requestId ? { requestId } : {});
  return { ...job.input, imageUrl: url };
}

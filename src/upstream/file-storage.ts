/**
 * The port for storing an uploaded file upstream (fal storage), so that a submission can name it by
 * URL. Only `fal-storage-client.ts` knows fal's storage wire.
 */
import type { CallOptions } from './upstream-queue.ts';

export interface UploadFile {
  bytes: Uint8Array;
  contentType: string;
  fileName: string;
}

export interface FileStorage {
  /** Stores the file; resolves with the public URL fal gave it. Fails with an UpstreamError. */
  upload(file: UploadFile, options?: CallOptions): Promise<string>;
}

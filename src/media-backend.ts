/**
 * Part of the composition root: durable media chosen by MEDIA_STORE (a folder, an S3-compatible
 * bucket, or none), the downloader of fal's media, and the copier that ties them to the jobs.
 * Only app.ts imports this.
 */
import type { Logger } from 'pino';
import type { Config } from './config.ts';
import { createMediaCopier, type MediaCopier } from './jobs/media-copier.ts';
import type { JobWriter } from './jobs/job-writer.ts';
import type { Job } from './domain/job.ts';
import { createLocalMediaStore } from './store/local-media-store.ts';
import type { MediaStore } from './store/media-store.ts';
import { createMediaDownloader } from './upstream/media-download.ts';
import { DEFAULT_MEDIA_HOSTS } from './upstream/media-source.ts';

export interface MediaBackend {
  store: MediaStore;
  copier: MediaCopier;
  /** Sets the public base URL once the gateway listens (Video.url is built from it). */
  setPublicUrl(url: string): void;
}

export async function createMediaBackend(
  config: Config,
  deps: { logger: Logger; simulatorUrl: string | null; save: JobWriter['save']; get: (id: string) => Promise<Job | null> },
): Promise<MediaBackend | null> {
  const m = config.media;
  if (m.store === 'off') return null;
  // The AWS SDK is loaded only when it is used (about a second of start-up).
  const store =
    m.store === 's3'
      ? (await import('./store/s3-media-store.ts')).createS3MediaStore({ bucket: m.s3.bucket ?? '', endpoint: m.s3.endpoint, region: m.s3.region, prefix: m.s3.prefix, forcePathStyle: m.s3.forcePathStyle, checksums: m.s3.checksums })
      : createLocalMediaStore({ dir: m.dir });
  const hosts = [...DEFAULT_MEDIA_HOSTS, ...m.sourceHosts, ...(deps.simulatorUrl ? [new URL(deps.simulatorUrl).host] : [])];
  let resolveUrl!: (url: string) => void;
  const publicUrl = new Promise<string>((resolve) => (resolveUrl = resolve));
  if (m.publicUrl) resolveUrl(m.publicUrl);
  const copier = createMediaCopier({
    media: store,
    source: createMediaDownloader({ hosts, timeoutMs: m.copyTimeoutMs }),
    save: deps.save,
    get: deps.get,
    logger: deps.logger,
    publicUrl: () => publicUrl,
    waitMs: m.copyWaitMs,
    timeoutMs: m.copyTimeoutMs,
    retries: m.copyRetries,
    maxBytes: m.maxVideoBytes,
  });
  deps.logger.info({ store: m.store, ...(m.store === 'local' ? { dir: m.dir } : { bucket: m.s3.bucket, endpoint: m.s3.endpoint }), sourceHosts: hosts }, 'durable video copies on');
  return { store, copier, setPublicUrl: (url) => resolveUrl(url.replace(/\/+$/, '')) };
}

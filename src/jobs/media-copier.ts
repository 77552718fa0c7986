/**
 * Durable videos: a COMPLETED job's video is streamed from fal into the media store before the
 * terminal event, within `waitMs`. Past that, the job completes with fal's URL (`durable: false`) and
 * the copy goes on in the background; once it lands, the job is updated to the gateway's URL.
 *
 * Restart-safe: a record `pending/<jobId>.json` is written before a copy starts and removed once
 * the job points at the copy; `resume()` (at start-up) finishes whatever a previous process left.
 * Each copy attempt has a deadline, is checked against fal's `file_size`, and is retried with
 * backoff; a permanent refusal (a host not allowed, too large) leaves fal's URL in place.
 *
 * Capability URLs: `/media/videos/<jobId>/<token>/<file>`, the token 128 random bits made for this
 * job, so a URL is unguessable and opens only its own job's video.
 */
import { randomBytes } from 'node:crypto';
import { Transform } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from 'pino';
import type { Job, Video } from '../domain/job.ts';
import type { MediaStore } from '../store/media-store.ts';
import { MediaSourceError, type MediaSource } from '../upstream/media-source.ts';
import type { JobWriter } from './job-writer.ts';

export interface MediaCopierDeps {
  media: MediaStore;
  source: MediaSource;
  save: JobWriter['save'];
  get: (id: string) => Promise<Job | null>;
  logger: Logger;
  /** The gateway's public base URL; resolves once known (after listen). */
  publicUrl: () => Promise<string>;
  waitMs: number;
  timeoutMs: number;
  retries: number;
  maxBytes: number;
  retryDelayMs?: number;
  newToken?: () => string;
}

interface PendingCopy {
  jobId: string;
  key: string;
  sourceUrl: string;
  size: number | null;
  contentType: string;
}

/** What the store decorator gets for a job about to be stored COMPLETED. */
export interface CompletedVideo {
  video: Video;
  /** Call once the job is stored with `video`: a background copy may then update it. */
  stored(): void;
}

export type MediaCopier = ReturnType<typeof createMediaCopier>;

const recordKey = (jobId: string) => `pending/${jobId}.json`;

export function createMediaCopier(deps: MediaCopierDeps) {
  const { media, source, save, get, logger, waitMs, timeoutMs, retries, maxBytes, retryDelayMs = 1000 } = deps;
  const newToken = deps.newToken ?? (() => randomBytes(16).toString('hex'));
  const stopping = new AbortController();
  const stopped = new Promise<void>((resolve) => stopping.signal.addEventListener('abort', () => resolve(), { once: true }));
  const inFlight = new Map<string, { result: Promise<CompletedVideo>; abort: AbortController; done: Promise<unknown> }>();

  const mediaUrl = async (copy: PendingCopy) => `${await deps.publicUrl()}/media/${copy.key}`;
  async function durableVideo(video: Video, copy: PendingCopy): Promise<Video> {
    return { ...video, url: await mediaUrl(copy), upstreamUrl: copy.sourceUrl, durable: true };
  }

  /** One attempt: stream, bounded, checked against the size fal gave. */
  async function copyOnce(copy: PendingCopy, signal: AbortSignal) {
    const attempt = AbortSignal.any([signal, AbortSignal.timeout(timeoutMs)]);
    const download = await source.open(copy.sourceUrl, { signal: attempt, maxBytes });
    if (copy.size !== null && download.size !== null && download.size !== copy.size) {
      download.body.destroy();
      throw new MediaSourceError(`media host sent ${download.size} bytes, fal said ${copy.size}`, false);
    }
    let seen = 0;
    const counted = download.body.pipe(
      new Transform({
        transform(chunk: Buffer, _encoding, callback) {
          seen += chunk.length;
          callback(null, chunk);
        },
        flush(callback) {
          callback(copy.size !== null && seen !== copy.size ? new MediaSourceError(`copied ${seen} bytes, fal said ${copy.size}`, false) : null);
        },
      }),
    );
    download.body.once('error', (error) => counted.destroy(error));
    await media.put(copy.key, counted, { size: copy.size ?? download.size, contentType: copy.contentType }, attempt);
  }

  /** Resolves true once copied; false when it cannot be (permanently) or was stopped. */
  async function copyWithRetries(copy: PendingCopy, signal: AbortSignal): Promise<boolean> {
    for (let attempt = 0; ; attempt++) {
      try {
        await copyOnce(copy, signal);
        logger.info({ jobId: copy.jobId, key: copy.key, attempt }, 'video copied into the media store');
        return true;
      } catch (error) {
        if (signal.aborted) return false;
        const permanent = error instanceof MediaSourceError && error.permanent;
        logger.warn({ jobId: copy.jobId, err: (error as Error).message, attempt, permanent }, 'video copy failed');
        if (permanent) {
          await media.delete(recordKey(copy.jobId)).catch(() => undefined);
          return false;
        }
        if (attempt >= retries) return false; // the record stays: a restart tries again
        const slept = await sleep(Math.min(retryDelayMs * 2 ** attempt, 30_000), true, { signal, ref: false }).catch(() => false);
        if (!slept) return false; // stopped while waiting: the record stays
      }
    }
  }

  /** After a background copy: point the stored job at it (only if it still shows fal's URL), then drop the record. */
  async function adopt(copy: PendingCopy) {
    const url = await mediaUrl(copy);
    await save(copy.jobId, (job) =>
      job.status !== 'COMPLETED' || !job.video || job.video.durable ? null : { ...job, video: { ...job.video, url, upstreamUrl: copy.sourceUrl, durable: true } },
    );
    await media.delete(recordKey(copy.jobId));
  }

  return {
    /** For a job about to be stored COMPLETED with fal's video: the video to store (durable or not). */
    complete(job: Job & { video: Video }): Promise<CompletedVideo> {
      const known = inFlight.get(job.id);
      if (known) return known.result;
      const video = job.video;
      const fileName = /^[\w.-]{1,100}$/.test(video.fileName ?? '') && !/^\.+$/.test(video.fileName ?? '') ? video.fileName! : 'video.mp4';
      const copy: PendingCopy = { jobId: job.id, key: `videos/${job.id}/${newToken()}/${fileName}`, sourceUrl: video.url, size: video.fileSize, contentType: video.contentType ?? 'video/mp4' };
      const abort = new AbortController();
      const signal = AbortSignal.any([abort.signal, stopping.signal]);
      let markStored!: () => void;
      const stored = new Promise<void>((resolve) => (markStored = resolve));
      const fallback: Video = { ...video, upstreamUrl: video.url, durable: false };
      let copied: Promise<boolean> = Promise.resolve(false);
      const result = (async (): Promise<CompletedVideo> => {
        try {
          await media.putRecord(recordKey(job.id), copy);
        } catch (error) {
          logger.warn({ jobId: job.id, err: (error as Error).message }, 'media store unavailable: the job keeps fal\'s URL');
          return { video: fallback, stored: markStored };
        }
        copied = copyWithRetries(copy, signal);
        let timer: NodeJS.Timeout | undefined;
        const inTime = await Promise.race([copied, new Promise<null>((resolve) => (timer = setTimeout(() => resolve(null), waitMs)))]);
        clearTimeout(timer);
        if (inTime === true) {
          return { video: await durableVideo(video, copy), stored: markStored };
        }
        if (inTime === null) logger.info({ jobId: job.id, waitMs }, 'video copy still running: completing with fal\'s URL, the copy goes on');
        return { video: fallback, stored: markStored };
      })();
      const done = result
        .then(async (completed) => {
          // Kept in flight until the job is stored, so a write retried after a conflict reuses this copy.
          await Promise.race([stored, stopped]);
          if (stopping.signal.aborted) return;
          if (completed.video.durable) await media.delete(recordKey(job.id));
          else if (await copied) await adopt(copy); // the job shows fal's URL until the copy lands
        })
        .catch((error: unknown) => logger.warn({ jobId: job.id, err: error }, 'could not adopt a finished video copy'))
        .finally(() => inFlight.delete(job.id));
      inFlight.set(job.id, { result, abort, done });
      return result;
    },

    /** Finishes the copies a previous process left pending (call once at start-up). */
    async resume(): Promise<number> {
      const records = await media.listRecords('pending/');
      let resumed = 0;
      for (const { value } of records) {
        const copy = value as PendingCopy;
        if (typeof copy?.jobId !== 'string' || inFlight.has(copy.jobId)) continue;
        const job = await get(copy.jobId);
        if (!job || job.status !== 'COMPLETED' || !job.video || job.video.durable) {
          // Gone (purge the copy too), not stored as completed yet (it will be copied again), or done.
          if (!job) await media.delete(`videos/${copy.jobId}/`);
          await media.delete(recordKey(copy.jobId));
          continue;
        }
        resumed++;
        const abort = new AbortController();
        const done = copyWithRetries(copy, AbortSignal.any([abort.signal, stopping.signal]))
          .then((ok) => (ok ? adopt(copy) : undefined))
          .catch((error: unknown) => logger.warn({ jobId: copy.jobId, err: error }, 'resumed video copy failed'))
          .finally(() => inFlight.delete(copy.jobId));
        inFlight.set(copy.jobId, { result: Promise.resolve({ video: job.video, stored: () => undefined }), abort, done });
      }
      if (resumed > 0) logger.info({ copies: resumed }, 'resumed pending video copies');
      return resumed;
    },

    /** Removes the media of purged (or deleted) jobs. */
    async purge(jobIds: readonly string[]) {
      for (const id of jobIds) {
        inFlight.get(id)?.abort.abort();
        await media.delete(`videos/${id}/`);
        await media.delete(recordKey(id));
      }
    },

    /** Stops the copies in flight; their records stay, so the next start finishes them. */
    async stop() {
      stopping.abort();
      await Promise.allSettled([...inFlight.values()].map((entry) => entry.done));
    },

    pendingCount: () => inFlight.size,
  };
}

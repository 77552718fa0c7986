/**
 * Saves a finished job's video: streamed into a temporary file beside the target, checked against
 * the size the job reports, then renamed into place, so PATH is either the whole video or untouched.
 */
import { createWriteStream } from 'node:fs';
import { rename, rm, stat } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { CliError, EXIT } from './errors.ts';
import type { Job } from './queries.ts';

export interface Downloaded {
  path: string;
  bytes: number;
}

/** PATH itself, or PATH/<fileName> when PATH is an existing folder. */
export async function targetPath(path: string, job: Job): Promise<string> {
  const isDir = await stat(path).then((s) => s.isDirectory(), () => false);
  return isDir ? join(path, job.video?.fileName ?? `${job.id}.mp4`) : path;
}

/** `signal` (Ctrl-C) stops the transfer and removes the temporary file. */
export async function downloadVideo(job: Job, path: string, signal?: AbortSignal, fetchImpl: typeof fetch = fetch): Promise<Downloaded> {
  if (!job.video) throw new CliError(EXIT.failed, `job ${job.id} has no video to download`);
  const target = await targetPath(path, job);
  const temp = join(dirname(target), `.${basename(target)}.${randomBytes(4).toString('hex')}.part`);
  let response: Response;
  try {
    // The video URL is a capability URL (or fal's CDN): the gateway credential is not sent there.
    response = await fetchImpl(job.video.url, { signal });
  } catch (error) {
    if (signal?.aborted) throw interrupted(job, path);
    throw new CliError(EXIT.unreachable, `could not download ${job.video.url}: ${(error as Error).message}`);
  }
  if (!response.ok || !response.body) throw new CliError(EXIT.failed, `could not download ${job.video.url}: HTTP ${response.status}`);
  try {
    await pipeline(Readable.fromWeb(response.body as import('node:stream/web').ReadableStream), createWriteStream(temp, { flags: 'wx' }), { signal });
    const { size } = await stat(temp);
    const expected = job.video.fileSize;
    if (expected != null && size !== expected) {
      throw new CliError(EXIT.failed, `downloaded ${size} bytes from ${job.video.url} but the job reports ${expected}; ${target} left untouched`);
    }
    await rename(temp, target);
    return { path: target, bytes: size };
  } catch (error) {
    await rm(temp, { force: true });
    if (error instanceof CliError) throw error;
    if (signal?.aborted) throw interrupted(job, path);
    throw new CliError(EXIT.failed, `could not write ${target}: ${(error as Error).message}`);
  }
}

const interrupted = (job: Job, path: string) =>
  new CliError(EXIT.interrupted, `interrupted: the video was not saved. Again with: fal-video watch ${job.id} --download ${path}`);

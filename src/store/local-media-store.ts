/**
 * Durable media in a folder (MEDIA_STORE=local, MEDIA_DIR). An object is written to a temporary
 * name and renamed into place, so a reader never sees half a file. One process, or replicas that
 * all mount the same folder (MEDIA_DIR_SHARED=true).
 */
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, open, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { dirname, join, resolve } from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { checkKey, contentTypeOf, type ByteRange, type MediaInfo, type MediaStore, type StoredMedia } from './media-store.ts';

export function createLocalMediaStore({ dir }: { dir: string }): MediaStore {
  const root = resolve(dir);
  const pathOf = (key: string) => join(root, checkKey(key));

  async function writeAtomically(key: string, write: (temp: string) => Promise<void>) {
    const target = pathOf(key);
    await mkdir(dirname(target), { recursive: true });
    const temp = `${target}.partial-${randomBytes(6).toString('hex')}`;
    try {
      await write(temp);
      await rename(temp, target);
    } catch (error) {
      await rm(temp, { force: true });
      throw error;
    }
  }

  return {
    kind: 'local',
    put(key: string, body: Readable, _info: MediaInfo, signal?: AbortSignal) {
      return writeAtomically(key, (temp) => pipeline(body, createWriteStream(temp), signal ? { signal } : {}));
    },
    async stat(key: string): Promise<StoredMedia | null> {
      try {
        const info = await stat(pathOf(key));
        return info.isFile() ? { size: info.size, contentType: contentTypeOf(key) } : null;
      } catch {
        return null;
      }
    },
    async read(key: string, range?: ByteRange): Promise<Readable | null> {
      // Opened here, not lazily by the stream: a copy purged since its stat is a 404, not a stream error.
      let handle;
      try {
        handle = await open(pathOf(key), 'r');
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
        throw error;
      }
      return handle.createReadStream(range ? { start: range.start, end: range.end } : {});
    },
    async delete(keyOrPrefix: string) {
      await rm(pathOf(keyOrPrefix), { recursive: true, force: true });
    },
    putRecord(key: string, value: unknown) {
      return writeAtomically(key, (temp) => writeFile(temp, JSON.stringify(value)));
    },
    async listRecords(prefix: string) {
      const folder = pathOf(prefix);
      const names = await readdir(folder).catch(() => [] as string[]);
      const records = await Promise.all(
        names.filter((name) => name.endsWith('.json')).map(async (name) => {
          try {
            return { key: `${prefix}${name}`, value: JSON.parse(await readFile(join(folder, name), 'utf8')) as unknown };
          } catch {
            return null; // removed meanwhile, or half-written by a crash before rename (never: rename is atomic)
          }
        }),
      );
      return records.filter((record) => record !== null);
    },
    async close() {},
  };
}

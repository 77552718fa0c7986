/**
 * Guards around the SQLite store's file, which lives outside the process and can be lost under it:
 * - before opening: is a new, empty store about to be created where one was expected (a marker
 *   beside the path says a store existed, or the folder holds other files such as a WAL or media)?
 * - after opening: is the path still the file this process opened (not deleted or replaced)? A
 *   process keeps serving from a deleted inode, and a restart would then start from nothing.
 * - a file that is not a SQLite database stops start-up with one clear line (StoreOpenError).
 */
import { existsSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';

/** A start-up failure that is the operator's to fix; main.ts prints its message alone, without a stack. */
export class StoreOpenError extends Error {
  override name = 'StoreOpenError';
}

/** The marker written beside a store file once it is opened: its presence later means a store existed. */
export const markerPath = (path: string) => join(dirname(path), `.${basename(path)}.created`);

/**
 * Why jobs were expected at `path` although no file is there, or null (the file exists, it is a
 * first start in an empty or new folder, or the store is in memory).
 */
export function missingStoreReason(path: string): string | null {
  if (path === ':memory:' || existsSync(path)) return null;
  if (existsSync(markerPath(path))) return 'a marker says a store was created here before';
  const folder = dirname(path);
  if (!existsSync(folder)) return null;
  // Empty folders do not count: another component (e.g. the media store) may have just created one.
  const others = readdirSync(folder, { withFileTypes: true })
    .filter((entry) => entry.name !== basename(path) && (!entry.isDirectory() || readdirSync(join(folder, entry.name)).length > 0))
    .map((entry) => entry.name);
  return others.length > 0 ? `the folder ${folder} holds other files (${others.slice(0, 3).join(', ')}${others.length > 3 ? ', …' : ''})` : null;
}

export interface FileIdentity {
  dev: number;
  ino: number;
}

/** Records the identity of the file just opened at `path`, and writes the marker. */
export function openedIdentity(path: string): FileIdentity {
  const { dev, ino } = statSync(path);
  try {
    if (!existsSync(markerPath(path))) writeFileSync(markerPath(path), `${new Date().toISOString()}\n`);
  } catch {
    // A read-only folder: the marker is a hint only.
  }
  return { dev, ino };
}

/** Null while `path` is still the opened file; otherwise what happened to it, in words for /readyz. */
export function fileChangedReason(path: string, opened: FileIdentity): string | null {
  let now: FileIdentity;
  try {
    now = statSync(path);
  } catch {
    return `the store file ${path} was deleted under the running gateway; restore it before restarting, or its jobs and idempotency keys are lost`;
  }
  if (now.dev !== opened.dev || now.ino !== opened.ino) {
    return `the store file ${path} was replaced by another file under the running gateway; restart to serve from the new one`;
  }
  return null;
}

/** Turns SQLite's "not a database" / corruption errors at open into one operator-readable line. */
export function describeOpenError(path: string, error: unknown): Error {
  const message = error instanceof Error ? error.message : String(error);
  const code = (error as { errcode?: number; code?: string } | null)?.errcode;
  // 26 SQLITE_NOTADB, 11 SQLITE_CORRUPT
  if (code === 26 || code === 11 || /not a database|malformed|corrupt/i.test(message)) {
    return new StoreOpenError(`SQLITE_PATH ${path} is not a readable SQLite database (${message}). Move it aside or restore a backup, then start again.`);
  }
  if (/unable to open|readonly|permission/i.test(message)) {
    return new StoreOpenError(`SQLITE_PATH ${path} cannot be opened (${message}). Check the path and its permissions.`);
  }
  return error instanceof Error ? error : new Error(message);
}

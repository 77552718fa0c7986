/**
 * The simulator's fal storage and media host (RESEARCH-2 section 2): `POST /storage/upload/initiate
 * ?storage_type=fal-cdn-v3` (with the key) answers `{upload_url, file_url}`; `PUT upload_url` (no key)
 * stores the bytes; `GET`/`HEAD file_url` serves them. It also spoils the media host on demand for
 * the gateway's durable copies: outputs deleted once downloaded (fal's retention), a slow host, a
 * redirect elsewhere. Requests it does not own pass through to the queue simulator.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { randomUUID } from 'node:crypto';

export interface StoredUpload {
  fileUrl: string;
  bytes: Buffer;
  contentType: string;
  fileName: string;
  /** The Authorization header the PUT carried (fal's client sends none). */
  putAuthorization: string | null;
}

/** The storage side of a running simulator, and its media-host switches. */
export interface SimulatorStorage {
  /** Every file uploaded (PUT completed), in order. */
  uploads(): StoredUpload[];
  /** Upload initiations received (authorized or not). */
  initiateCount(): number;
  /** X-Fal-Object-Lifecycle-Preference of every queue submission (null when absent). */
  lifecyclePreferences(): Array<string | null>;
  /** Downloads of generated outputs (GET /files/<id>/output.mp4) that were answered. */
  outputDownloads(): number;
  /** The output of this request id answers 404 from now on (fal's media expired). */
  deleteOutput(requestId: string): void;
  /** When on, each output is deleted right after its first complete download. */
  deleteOutputsAfterDownload(on: boolean): void;
  /** Every media answer (outputs and uploads) waits this long first (a slow media host); 0 = none. */
  setMediaDelay(ms: number): void;
  /** Outputs answer 302 to the same path on this origin (null = serve them). */
  setRedirect(origin: string | null): void;
}

export interface StorageDeps {
  /** The simulator's own URL (file_url and upload_url point at it). */
  url: () => string;
  isAuthorized: (authorization: string | undefined) => boolean;
  modelPath: string;
  /** Where the simulator is mounted on another server ('' = its own). */
  pathPrefix: string;
  /** Registers a cleanup run at close (pending delays). */
  onClose: (cleanup: () => void) => void;
}

const MAX_UPLOAD_BYTES = 100 * 1024 * 1024;
const OUTPUT_PATH = /^\/files\/([^/]+)\/output\.mp4$/;

export function createSimulatorStorage(deps: StorageDeps): SimulatorStorage & {
  /** Handles the request when it is storage's; resolves false to let the queue simulator answer. */
  intercept(req: IncomingMessage, res: ServerResponse): Promise<boolean>;
} {
  const uploads: StoredUpload[] = [];
  const pending = new Map<string, { fileUrl: string; contentType: string; fileName: string }>();
  const byPath = new Map<string, StoredUpload>();
  const deleted = new Set<string>();
  const lifecycle: Array<string | null> = [];
  let initiates = 0;
  let downloads = 0;
  let deleteAfterDownload = false;
  let mediaDelayMs = 0;
  let redirectOrigin: string | null = null;
  const timers = new Set<NodeJS.Timeout>();
  deps.onClose(() => {
    for (const timer of timers) clearTimeout(timer);
    timers.clear();
  });
  const delay = (ms: number) =>
    new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        timers.delete(timer);
        resolve();
      }, ms);
      timers.add(timer);
    });

  function initiate(req: IncomingMessage, res: ServerResponse, body: Buffer) {
    initiates++;
    if (!deps.isAuthorized(req.headers.authorization)) return json(res, 401, { detail: 'No user found for Key ID and Secret' });
    let parsed: { content_type?: unknown; file_name?: unknown } = {};
    try {
      parsed = JSON.parse(body.toString('utf8')) as typeof parsed;
    } catch {
      return json(res, 422, { detail: 'JSON decode error' });
    }
    const contentType = typeof parsed.content_type === 'string' ? parsed.content_type : 'application/octet-stream';
    const fileName = typeof parsed.file_name === 'string' && /^[\w.-]{1,100}$/.test(parsed.file_name) ? parsed.file_name : `${Date.now()}.bin`;
    const token = randomUUID();
    const fileUrl = `${deps.url()}/files/uploads/${randomUUID()}/${fileName}`;
    pending.set(token, { fileUrl, contentType, fileName });
    json(res, 200, { upload_url: `${deps.url()}/storage/upload/put/${token}?signature=sim`, file_url: fileUrl });
  }

  function put(req: IncomingMessage, res: ServerResponse, token: string, body: Buffer) {
    const target = pending.get(token);
    if (!target) return json(res, 403, { detail: 'upload URL expired or unknown' });
    pending.delete(token);
    const stored: StoredUpload = { ...target, bytes: body, contentType: req.headers['content-type'] ?? target.contentType, putAuthorization: req.headers.authorization ?? null };
    uploads.push(stored);
    byPath.set(new URL(target.fileUrl).pathname, stored);
    res.writeHead(200, { 'content-length': '0' }).end();
  }

  async function intercept(req: IncomingMessage, res: ServerResponse): Promise<boolean> {
    const method = req.method ?? 'GET';
    const full = new URL(req.url ?? '/', 'http://simulator.invalid').pathname;
    if (deps.pathPrefix !== '' && !full.startsWith(`${deps.pathPrefix}/`)) return false;
    const path = full.slice(deps.pathPrefix.length);
    if (method === 'POST' && path === deps.modelPath) lifecycle.push(header(req, 'x-fal-object-lifecycle-preference'));
    if (method === 'POST' && path === '/storage/upload/initiate') return void initiate(req, res, await readBody(req)), true;
    const put_ = /^\/storage\/upload\/put\/([\w-]+)$/.exec(path);
    if (put_ && method === 'PUT') return void put(req, res, put_[1]!, await readBody(req)), true;
    if (!path.startsWith('/files/') || (method !== 'GET' && method !== 'HEAD')) return false;
    if (mediaDelayMs > 0) await delay(mediaDelayMs);
    if (res.destroyed) return true;
    const upload = byPath.get(path);
    if (upload) {
      res.writeHead(200, { 'content-type': upload.contentType, 'content-length': String(upload.bytes.length) });
      return void res.end(method === 'HEAD' ? undefined : upload.bytes), true;
    }
    const output = OUTPUT_PATH.exec(path);
    if (!output) return false;
    const requestId = output[1]!;
    if (deleted.has(requestId)) return void json(res, 404, { detail: 'File not found' }), true;
    if (redirectOrigin) return void res.writeHead(302, { location: `${redirectOrigin}${path}`, 'content-length': '0' }).end(), true;
    if (method === 'GET') {
      res.once('finish', () => {
        downloads++;
        if (deleteAfterDownload) deleted.add(requestId);
      });
    }
    return false;
  }

  return {
    intercept,
    uploads: () => [...uploads],
    initiateCount: () => initiates,
    lifecyclePreferences: () => [...lifecycle],
    outputDownloads: () => downloads,
    deleteOutput: (requestId) => void deleted.add(requestId),
    deleteOutputsAfterDownload: (on) => void (deleteAfterDownload = on),
    setMediaDelay: (ms) => void (mediaDelayMs = Math.max(0, ms)),
    setRedirect: (origin) => void (redirectOrigin = origin ? origin.replace(/\/+$/, '') : null),
  };
}

function header(req: IncomingMessage, name: string): string | null {
  const value = req.headers[name];
  return Array.isArray(value) ? (value[0] ?? null) : (value ?? null);
}

function json(res: ServerResponse, status: number, body: unknown) {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(text)) }).end(text);
}

function readBody(req: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size <= MAX_UPLOAD_BYTES) chunks.push(chunk);
    });
    const done = () => resolve(Buffer.concat(chunks));
    req.on('end', done);
    req.on('close', done);
    req.on('error', done);
  });
}

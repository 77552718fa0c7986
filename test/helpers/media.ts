/**
 * Media fixtures and clients for test/media/*: small real images (made with ffmpeg, embedded), a
 * multipart POST as a browser sends it, sha256, an S3-protocol server (s3rver) on a loopback port,
 * and a plain HTTP server that records what reaches it.
 */
import { createHash } from 'node:crypto';
import { createServer, type IncomingMessage } from 'node:http';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import { transcript, type GraphQLResponse } from './clients.ts';
import { atFileEnd } from './file-end.ts';

export const IMAGES = {
  png: Buffer.from('iVBORw0KGgoAAAANSUhEUgAAADAAAAAgCAIAAADbtmxLAAAACXBIWXMAAAABAAAAAQBPJcTWAAAAzElEQVR4nO3U4RGCMAwF4LeJboKb6CayiW6im+gmT9RqaRM4C40nXkL51ST9etACIihG93ZPf8gsZhlKCvIMKiE9UiPXmgh6N5wOCmVVQX1TGSiW1QbFrS4YlHxpA1D4Oz8E5WfBBkSNtASQcluYgeR3+3mQtrotKDM5yEEOcpCDHPRvoOf8N0FM4zGxBjfgDmzBI3gGr/eOF+JEHIg9sSUaYhU6lRUMZOsFDnLQbJByyF7D9JSFziLGQLGsNihutRTEgbtyDii54UTcAGxqvLQgj3ECAAAAAElFTkSuQmCC', 'base64'),
  jpeg: Buffer.from('/9j/4AAQSkZJRgABAgAAAQABAAD//gAQTGF2YzU5LjM3LjEwMAD/2wBDAAgEBAQEBAUFBQUFBQYGBgYGBgYGBgYGBgYHBwcICAgHBwcGBgcHCAgICAkJCQgICAgJCQoKCgwMCwsODg4RERT/xABNAAEBAAAAAAAAAAAAAAAAAAAABgEBAQEAAAAAAAAAAAAAAAAAAAYHEAEAAAAAAAAAAAAAAAAAAAAAEQEAAAAAAAAAAAAAAAAAAAAA/8AAEQgAGAAgAwEiAAIRAAMRAP/aAAwDAQACEQMRAD8AiwEo38AAAAAB/9k=', 'base64'),
  webp: Buffer.from('UklGRkoAAABXRUJQVlA4ID4AAAAQAwCdASogABgAPpFCnEolo6KhqAgAsBIJZQDMHBapagAA/vVYv/+5wP/9nA//2cD+Ov9eqWuTjgLLeAAAAA==', 'base64'),
};

export const sha256 = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');

export const UPLOAD = `mutation Upload($input: GenerateVideoInput!) { generateVideo(input: $input) { id requestId status input { imageUrl } } }`;

/** A GraphQL multipart request (operations, map, one file), as apollo-upload-client or urql send it. */
export async function postUpload(
  httpUrl: string,
  input: Record<string, unknown>,
  file: { bytes: Uint8Array; name: string; type: string } | null,
  headers: Record<string, string> = { 'x-graphql-csrf': '1' },
): Promise<GraphQLResponse & { status: number; raw: string }> {
  const form = new FormData();
  form.set('operations', JSON.stringify({ query: UPLOAD, variables: { input: { ...input, ...(file ? { image: null } : {}) } } }));
  form.set('map', JSON.stringify(file ? { 0: ['variables.input.image'] } : {}));
  if (file) form.set('0', new File([Buffer.from(file.bytes)], file.name, { type: file.type }));
  const response = await fetch(httpUrl, { method: 'POST', body: form, headers });
  const raw = await response.text();
  transcript.push(raw);
  let parsed: GraphQLResponse = {};
  try {
    parsed = JSON.parse(raw) as GraphQLResponse;
  } catch {
    // not JSON (e.g. a plain 403)
  }
  return { ...parsed, status: response.status, raw };
}

const cleanups: Array<() => Promise<void> | void> = [];
atFileEnd(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** A real S3-protocol server (s3rver) on a loopback port, with one bucket; closed after the file. */
export async function startS3(bucket = 'videos'): Promise<{ endpoint: string; bucket: string; close(): Promise<void> }> {
  const moduleName = 's3rver';
  const { default: S3rver } = (await import(moduleName)) as unknown as { default: new (options: Record<string, unknown>) => { run(): Promise<AddressInfo>; close(): Promise<void> } };
  const directory = mkdtempSync(join(tmpdir(), 's3rver-'));
  const server = new S3rver({ port: 0, address: '127.0.0.1', silent: true, directory, configureBuckets: [{ name: bucket }] });
  const address = await server.run();
  let closed = false;
  const close = async () => {
    if (closed) return;
    closed = true;
    await server.close();
    rmSync(directory, { recursive: true, force: true });
  };
  cleanups.push(close);
  return { endpoint: `http://127.0.0.1:${address.port}`, bucket, close };
}

/** An HTTP server that answers 200 "elsewhere" and records every request it gets. */
export async function startRecordingServer(): Promise<{ url: string; requests: IncomingMessage[] }> {
  const requests: IncomingMessage[] = [];
  const server = createServer((req, res) => {
    requests.push(req);
    res.writeHead(200, { 'content-type': 'video/mp4' }).end('elsewhere');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  cleanups.push(() => new Promise<void>((resolve) => server.close(() => resolve())));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, requests };
}

/**
 * Request bodies are cut at their limit whatever their framing: a declared `content-length` over it is
 * refused before anything is read, and any body (chunked too) is counted as it arrives, before Yoga
 * parses it, and refused as soon as it passes the limit. Both answer 413 with BAD_USER_INPUT.
 */
import type { Plugin } from 'graphql-yoga';
import { ErrorCode } from '../domain/errors.ts';
import { MULTIPART_OVERHEAD_BYTES } from './uploads.ts';

export interface BodyLimits {
  maxBodyBytes: number;
  /** Largest uploaded image: multipart bodies may hold one, plus the operation around it. */
  maxUploadBytes?: number;
}

const isMultipartType = (contentType: string | null) => (contentType ?? '').toLowerCase().startsWith('multipart/form-data');

/** The limit for a request body of this content type: the one place to give uploads their own. */
export function bodyLimitFor(contentType: string | null, limits: BodyLimits): number {
  if (limits.maxUploadBytes !== undefined && isMultipartType(contentType)) return limits.maxUploadBytes + MULTIPART_OVERHEAD_BYTES;
  return limits.maxBodyBytes;
}

export function bodySizeLimit(limits: BodyLimits): Plugin {
  return {
    onRequest({ request, endResponse }) {
      const maxBytes = bodyLimitFor(request.headers.get('content-type'), limits);
      const field = isMultipartType(request.headers.get('content-type')) ? 'image' : undefined;
      if (Number(request.headers.get('content-length') ?? 0) > maxBytes) endResponse(tooLarge(maxBytes, field));
    },
    // Runs after Yoga picked its parser for the request (JSON, multipart, ...): the parser gets the
    // body only once it is known to fit.
    onRequestParse({ request, requestParser, setRequestParser, fetchAPI }) {
      if (!requestParser || request.method === 'GET' || request.method === 'HEAD') return;
      // A declared content-length was checked in onRequest, and Node's HTTP parser delivers exactly that
      // many bytes (a request with both content-length and transfer-encoding is refused with 400): only
      // a body without one (chunked) needs counting as it arrives.
      if (request.headers.get('content-length') !== null) return;
      const maxBytes = bodyLimitFor(request.headers.get('content-type'), limits);
      setRequestParser(async (incoming) => {
        const body = await readWithin(incoming, maxBytes);
        if (body === null) return tooLarge(maxBytes);
        return requestParser(new fetchAPI.Request(incoming.url, { method: incoming.method, headers: incoming.headers, body }));
      });
    },
  };
}

/** The body, counted as it arrives; null as soon as it holds more than `maxBytes`. */
async function readWithin(request: Request, maxBytes: number): Promise<Buffer<ArrayBuffer> | null> {
  const reader = request.body?.getReader();
  if (!reader) return Buffer.alloc(0);
  const chunks: Uint8Array[] = [];
  let bytes = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) return Buffer.concat(chunks, bytes);
    bytes += value.byteLength;
    if (bytes > maxBytes) {
      void reader.cancel().catch(() => undefined);
      return null;
    }
    chunks.push(value);
  }
}

function tooLarge(maxBytes: number, field?: string): Response {
  return Response.json(
    { errors: [{ message: `The request body is larger than ${maxBytes} bytes.`, extensions: { code: ErrorCode.BAD_USER_INPUT, ...(field ? { field } : {}) } }] },
    // The rest of the body is not read: the connection closes after the answer.
    { status: 413, headers: { connection: 'close' } },
  );
}

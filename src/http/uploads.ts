/**
 * Uploads over the GraphQL multipart request spec (Yoga parses them): the parser's limits, and the
 * contract's answer when they are hit. A file over MAX_UPLOAD_BYTES, a second file, or oversized form
 * fields end the parse (busboy stops reading there); the client gets BAD_USER_INPUT with
 * `extensions.field = "image"` and HTTP 413, and nothing is sent upstream. CSRF prevention (limits.ts)
 * applies to multipart posts like any other "simple" request.
 */
import { createFetch } from '@whatwg-node/fetch';
import { GraphQLError } from 'graphql';
import type { Plugin } from 'graphql-yoga';
import { ErrorCode } from '../domain/errors.ts';

/** Room for the `operations` and `map` fields and the part headers around the file. */
export const MULTIPART_OVERHEAD_BYTES = 64 * 1024;

/** The fetch API Yoga runs on, with the multipart parser's limits (Node only). */
export function uploadFetchApi(maxUploadBytes: number) {
  return createFetch({
    formDataLimits: { fileSize: maxUploadBytes, files: 1, fieldSize: MULTIPART_OVERHEAD_BYTES, fields: 8, parts: 10, headerSize: 2000 },
  });
}

export function isMultipart(request: Request): boolean {
  return request.method === 'POST' && (request.headers.get('content-type') ?? '').toLowerCase().startsWith('multipart/form-data');
}

/** Rewrites the multipart parser's limit errors into the contract's BAD_USER_INPUT on `image`. */
export function useUploadErrors(maxUploadBytes: number): Plugin {
  return {
    onRequestParse({ request, requestParser, setRequestParser }) {
      if (!requestParser || !isMultipart(request)) return;
      const imageTooLarge = () =>
        new GraphQLError(`image must be at most ${maxUploadBytes} bytes`, { extensions: { code: ErrorCode.BAD_USER_INPUT, field: 'image', http: { status: 413 } } });
      setRequestParser(async (req) => {
        try {
          const parsed = await requestParser(req);
          // The body limit (counted whatever the framing) answered 413 without reading the rest: name
          // the field, and keep the connection closing (its unread body must not reach the next request).
          if (parsed instanceof Response && parsed.status === 413) {
            const { message, extensions } = imageTooLarge();
            return Response.json({ errors: [{ message, extensions: { code: extensions.code, field: 'image' } }] }, { status: 413, headers: { connection: 'close' } });
          }
          return parsed;
        } catch (error) {
          if (error instanceof GraphQLError && error.extensions.field === 'image') throw error;
          const message = error instanceof Error ? error.message : String(error);
          const limit = /File size limit exceeded|Files limit exceeded|Field value size exceeded|Parts limit exceeded|Fields limit exceeded/.exec(message);
          if (!limit) throw error;
          if (limit[0].startsWith('File size')) throw imageTooLarge();
          throw new GraphQLError(`The upload is malformed or has more than one file (${limit[0]}).`, {
            extensions: { code: ErrorCode.BAD_USER_INPUT, field: 'image', http: { status: 400 } },
          });
        }
      });
    },
  };
}

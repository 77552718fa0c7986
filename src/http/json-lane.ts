/**
 * The lean lane for GraphQL over HTTP: a POST to /graphql with a JSON body, the request every client,
 * the CLI and the dashboard send for queries and mutations (generateVideo, job, jobs, usage). It runs
 * the operation through Yoga's own envelop pipeline (the parse and validation caches, the limits,
 * error masking and codes, compiled queries: every plugin that acts on an operation), but reads the
 * Node request and writes the Node response itself, without the fetch Request and Response, the
 * request parser and the hook chains Yoga wraps around every request (a third of the CPU of a
 * generateVideo that was not the store's or the upstream's).
 *
 * It answers exactly as Yoga does (status, content type, CORS, x-request-id, body, access log line):
 * an answer without errors is written at once; one with errors goes through Yoga's own result
 * processor. Whatever is not the common case is left to Yoga, which answers it from the bytes already
 * read as it always has: another path, method, content type or Accept; a body over the limit or params
 * Yoga would refuse; a refused credential; a document that does not parse or validate; a subscription.
 */
import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { getOperationAST, GraphQLError, type ExecutionResult } from 'graphql';
import { processRegularResult } from 'graphql-yoga';
import type { Logger } from 'pino';
import type { JobsService } from '../jobs/service.ts';
import type { GraphQLContext } from '../schema/context.ts';
import { maskError } from '../schema/errors.ts';
import type { Authenticator } from './auth.ts';
import { corsHeaders } from './cors.ts';
import { answerWithYoga, readPostParams, toFetchRequest } from './http-params.ts';
import { regularMediaType } from './media-types.ts';
import { sendResponse } from './sse-stream.ts';
import type { GatewayYoga } from './yoga.ts';

export interface JsonLaneOptions {
  yoga: GatewayYoga;
  jobs: JobsService;
  auth: Authenticator;
  logger: Logger;
  path?: string;
  /** MAX_BODY_BYTES; a bigger body is left to Yoga (413). */
  maxBodyBytes: number;
  /** CORS_ORIGINS, as Yoga's cors option reads it. */
  corsOrigins: string[];
}

export interface JsonLane {
  /** Takes the request (true) when it is a JSON POST to the GraphQL path; false: Yoga's. */
  handle(req: IncomingMessage, res: ServerResponse): boolean;
}

/** `application/json`, with at most a utf-8 charset: what Yoga's POST JSON parser reads as is. */
const JSON_TYPE = /^application\/json(;\s*charset=utf-8)?$/i;
const anyQuery = () => true;

export function createJsonLane(options: JsonLaneOptions): JsonLane {
  const { yoga, jobs, auth, logger, path = '/graphql', maxBodyBytes } = options;
  const access = logger.child({ component: 'http' });
  const log = logger.child({ component: 'yoga' });
  const cors = corsHeaders(options.corsOrigins);

  /** Yoga answers the request itself, from the bytes already read. */
  const delegate = (req: IncomingMessage, res: ServerResponse, body: Buffer | null) => answerWithYoga(yoga, req, res, body);

  function logged(req: IncomingMessage, requestId: string, status: number, started: number) {
    if (!access.isLevelEnabled('info')) return;
    access.info({ requestId, method: 'POST', path, status, ms: Math.round(performance.now() - started) }, 'request');
  }

  async function serve(req: IncomingMessage, res: ServerResponse, mediaType: string) {
    const started = performance.now();
    const { params, body } = await readPostParams(req, maxBodyBytes, anyQuery);
    if (!params) return delegate(req, res, body);
    const outcome = await auth.authenticate(req.headers.authorization);
    if ('refused' in outcome) return delegate(req, res, body); // Yoga logs the refusal and answers 401
    const header = req.headers['x-request-id'];
    const requestId = (typeof header === 'string' && header.slice(0, 128)) || randomUUID();
    // The initial context as Yoga builds it for a Node request (server context, request, params); the
    // fetch Request is made only if something asks for it (no plugin on this path does).
    let request: Request | undefined;
    const initial = {
      req,
      res,
      params,
      get request() {
        return (request ??= toFetchRequest(req, yoga.fetchAPI, body, { 'x-request-id': requestId }));
      },
    };
    const enveloped = yoga.getEnveloped(initial as never);
    let document;
    try {
      document = enveloped.parse(params.query);
      if (enveloped.validate(enveloped.schema, document).length > 0) return delegate(req, res, body);
    } catch {
      return delegate(req, res, body);
    }
    const operation = getOperationAST(document, params.operationName)?.operation;
    if (operation !== 'query' && operation !== 'mutation') return delegate(req, res, body); // a subscription, or no single operation: Yoga's answer
    // Yoga's context: the initial one with ours (context in yoga.ts) merged in.
    const streamEndsAt = outcome.caller.expiresAt;
    const contextValue = Object.assign(initial, { jobs, caller: outcome.caller, requestId }, streamEndsAt === undefined ? {} : { streamEndsAt }) as unknown as GraphQLContext;
    let result: ExecutionResult;
    try {
      result = (await enveloped.execute({ schema: enveloped.schema, document, contextValue, variableValues: params.variables, operationName: params.operationName })) as ExecutionResult;
    } catch (error) {
      log.error({ err: error }, 'GraphQL request failed');
      result = { errors: [maskError(error, 'Unexpected error.') as GraphQLError] };
    }
    const origin = req.headers.origin;
    if (!result.errors && !result.extensions) {
      const text = JSON.stringify(result);
      const headers: Record<string, string | number> = origin === undefined ? {} : cors(origin);
      headers['content-type'] = `${mediaType}; charset=utf-8`;
      headers['content-length'] = Buffer.byteLength(text);
      headers['x-request-id'] = requestId;
      res.writeHead(200, headers);
      res.end(text);
      logged(req, requestId, 200, started);
      return;
    }
    // Errors (statuses from their extensions, internals left out): Yoga's own result processor.
    const response = await processRegularResult(result, yoga.fetchAPI, mediaType);
    logged(req, requestId, response.status, started);
    await sendResponse(response, res, { ...(origin === undefined ? {} : cors(origin)), 'x-request-id': requestId });
  }

  return {
    handle(req, res) {
      if (req.method !== 'POST' || req.url !== path) return false;
      const type = req.headers['content-type'];
      if (type === undefined || !JSON_TYPE.test(type)) return false;
      if (Number(req.headers['content-length'] ?? 0) > maxBodyBytes) return false; // Yoga answers 413
      const mediaType = regularMediaType(req.headers.accept);
      if (mediaType === null) return false;
      serve(req, res, mediaType).catch((error: unknown) => {
        log.error({ err: error }, 'GraphQL request failed');
        if (!res.headersSent) res.writeHead(500);
        res.end();
      });
      return true;
    },
  };
}

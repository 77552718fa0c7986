/**
 * GraphQL over HTTP: JSON POSTs, and file uploads by the GraphQL multipart request spec
 * (`operations`, `map`, then the file). Every failure becomes a CliError with the contract's exit code.
 */
import { openAsBlob } from 'node:fs';
import { basename } from 'node:path';
import { CliError, EXIT, fromGraphQLErrors, unreachable, type WireError } from './errors.ts';

export interface Connection {
  /** The gateway's GraphQL endpoint, http(s). */
  url: string;
  /** The API key or JWT, sent as `Authorization: Bearer <key>`. */
  key: string | undefined;
}

export interface HttpClient {
  request<T>(query: string, variables?: Record<string, unknown>): Promise<T>;
  /** Sends `file` as the variable at `path` (e.g. `input.image`). */
  upload<T>(query: string, variables: Record<string, unknown>, path: string, file: string): Promise<T>;
}

function headers(connection: Connection): Record<string, string> {
  const all: Record<string, string> = { accept: 'application/graphql-response+json, application/json', 'x-graphql-csrf': '1' };
  if (connection.key) all.authorization = `Bearer ${connection.key}`;
  return all;
}

async function readResponse<T>(url: string, response: Response): Promise<T> {
  const text = await response.text();
  let body: { data?: T | null; errors?: WireError[] };
  try {
    body = JSON.parse(text) as typeof body;
  } catch {
    const exitCode = response.status >= 500 || response.status === 404 ? EXIT.unreachable : EXIT.failed;
    throw new CliError(exitCode, `the gateway at ${url} answered HTTP ${response.status} without a GraphQL response`);
  }
  if (body.errors?.length) throw fromGraphQLErrors(body.errors);
  if (body.data == null) throw new CliError(EXIT.failed, `the gateway at ${url} answered HTTP ${response.status} without data`);
  return body.data;
}

export function createHttpClient(connection: Connection, fetchImpl: typeof fetch = fetch): HttpClient {
  const send = async <T>(init: RequestInit): Promise<T> => {
    let response: Response;
    try {
      response = await fetchImpl(connection.url, { method: 'POST', ...init });
    } catch (error) {
      throw unreachable(connection.url, error);
    }
    return readResponse<T>(connection.url, response);
  };
  return {
    request: (query, variables = {}) =>
      send({ headers: { ...headers(connection), 'content-type': 'application/json' }, body: JSON.stringify({ query, variables }) }),
    async upload(query, variables, path, file) {
      let blob: Blob;
      try {
        blob = await openAsBlob(file);
      } catch (error) {
        throw new CliError(EXIT.usage, `cannot read ${file} (option --image): ${(error as Error).message}`);
      }
      const form = new FormData();
      form.set('operations', JSON.stringify({ query, variables: setAt(variables, path, null) }));
      form.set('map', JSON.stringify({ 0: [`variables.${path}`] }));
      form.set('0', blob, basename(file));
      return send({ headers: headers(connection), body: form });
    },
  };
}

/** A copy of `object` with `value` at the dotted `path`. */
function setAt(object: Record<string, unknown>, path: string, value: unknown): Record<string, unknown> {
  const [head, ...rest] = path.split('.') as [string, ...string[]];
  if (rest.length === 0) return { ...object, [head]: value };
  return { ...object, [head]: setAt((object[head] as Record<string, unknown> | undefined) ?? {}, rest.join('.'), value) };
}

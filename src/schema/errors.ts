/**
 * The one mapping from domain errors to GraphQL errors. Anything else is masked by Yoga
 * ("Unexpected error.") and logged in full on the server.
 */
import { GraphQLError } from 'graphql';
import { maskError as yogaMaskError } from 'graphql-yoga';
import { ErrorCode, GatewayError } from '../domain/errors.ts';

const HTTP_STATUS: Partial<Record<ErrorCode, number>> = { UNAUTHENTICATED: 401 };

export function toGraphQLError(error: GatewayError, source?: GraphQLError): GraphQLError {
  const http = HTTP_STATUS[error.code];
  return new GraphQLError(error.message, {
    ...(source ? { nodes: source.nodes, positions: source.positions, path: source.path } : {}),
    extensions: { ...error.extensions, code: error.code, ...(http ? { http: { status: http } } : {}) },
  });
}

/** Yoga's `maskedErrors.maskError`: our errors pass with their code; everything unexpected is masked. */
/**
 * Duck-typed on purpose: graphql-js may be loaded twice (ESM and CJS builds), so `instanceof
 * GraphQLError` is not reliable for errors raised inside Yoga's executor.
 */
export function maskError(error: unknown, message: string, isDev?: boolean): Error {
  const located = isLocated(error) ? error : undefined;
  const original = located ? located.originalError : error;
  if (original instanceof GatewayError) return toGraphQLError(original, located);
  return yogaMaskError(error, message, isDev);
}

function isLocated(error: unknown): error is GraphQLError {
  return typeof error === 'object' && error !== null && 'originalError' in error && 'path' in error;
}

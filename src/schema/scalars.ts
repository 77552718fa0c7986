import { GraphQLError } from 'graphql';
import { builder } from './builder.ts';

/** An ISO-8601 date-time string (UTC), e.g. 2026-11-25T14:35:51.000Z. */
export const DateTime = builder.scalarType('DateTime', {
  description: 'An ISO-8601 date-time string in UTC, e.g. "2026-11-25T14:35:51.000Z".',
  serialize: (value) => value,
  parseValue: (value) => {
    if (typeof value !== 'string' || Number.isNaN(Date.parse(value))) {
      throw new GraphQLError('DateTime must be an ISO-8601 string', { extensions: { code: 'BAD_USER_INPUT' } });
    }
    return new Date(value).toISOString();
  },
});

/** An uploaded file (GraphQL multipart request spec); input only. */
export const FileScalar = builder.scalarType('File', {
  description: 'A file uploaded with the GraphQL multipart request spec (input only).',
  serialize: () => {
    throw new GraphQLError('File is an input-only scalar');
  },
  // Only the multipart parser can put a file here; any other value (JSON, a WebSocket message) is refused.
  parseValue: (value) => {
    if (typeof value === 'object' && value !== null && typeof (value as Blob).arrayBuffer === 'function') return value as File;
    throw new GraphQLError('image must be a file uploaded with a multipart request', { extensions: { code: 'BAD_USER_INPUT', field: 'image' } });
  },
  parseLiteral: () => {
    throw new GraphQLError('image must be a file uploaded with a multipart request', { extensions: { code: 'BAD_USER_INPUT', field: 'image' } });
  },
});

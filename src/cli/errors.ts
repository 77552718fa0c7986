/**
 * Exit codes and the one mapping from what the gateway answered to what the shell sees. Every
 * failure reaches main.ts as a CliError, which prints its message on stderr and exits with its code.
 */

export const EXIT = {
  ok: 0,
  /** The job FAILED or was CANCELLED, or the gateway refused for another reason (CONFLICT, RATE_LIMITED, ...). */
  failed: 1,
  /** Bad usage, BAD_USER_INPUT, an unknown job id, an expired cursor. */
  usage: 2,
  unauthenticated: 3,
  /** The gateway could not be reached, or answered UPSTREAM_UNAVAILABLE. */
  unreachable: 4,
  interrupted: 130,
} as const;

export type ExitCode = (typeof EXIT)[keyof typeof EXIT];

export class CliError extends Error {
  override name = 'CliError';
  readonly exitCode: ExitCode;
  readonly code: string | undefined;
  constructor(exitCode: ExitCode, message: string, code?: string) {
    super(message);
    this.exitCode = exitCode;
    this.code = code;
  }
}

/** GraphQLErrors as the gateway sends them. */
export interface WireError {
  message: string;
  extensions?: Record<string, unknown>;
}

/** The command-line option behind each input field, so a BAD_USER_INPUT names what the user typed. */
const OPTION_OF_FIELD: Record<string, string> = {
  prompt: '--prompt',
  imageUrl: '--image-url',
  image: '--image',
  duration: '--duration',
  negativePrompt: '--negative-prompt',
  cfgScale: '--cfg-scale',
  idempotencyKey: '--idempotency-key',
  after: '--after',
  first: '--first',
  status: '--status',
};

const EXIT_OF_CODE: Record<string, ExitCode> = {
  BAD_USER_INPUT: EXIT.usage,
  GRAPHQL_VALIDATION_FAILED: EXIT.usage,
  NOT_FOUND: EXIT.usage,
  CURSOR_EXPIRED: EXIT.usage,
  UNAUTHENTICATED: EXIT.unauthenticated,
  UPSTREAM_UNAVAILABLE: EXIT.unreachable,
};

/** The CliError for the first error of a GraphQL response. */
export function fromGraphQLErrors(errors: readonly WireError[]): CliError {
  const first = errors[0] ?? { message: 'the gateway answered an error without a message' };
  const code = typeof first.extensions?.code === 'string' ? first.extensions.code : undefined;
  const field = typeof first.extensions?.field === 'string' ? first.extensions.field : undefined;
  const retryAfter = first.extensions?.retryAfterSeconds;
  const parts = [first.message];
  if (field) parts.push(`(field: ${field}${OPTION_OF_FIELD[field] ? `, option ${OPTION_OF_FIELD[field]}` : ''})`);
  if (code) parts.push(`[${code}]`);
  if (typeof retryAfter === 'number') parts.push(`retry after ${retryAfter} s`);
  return new CliError(code ? (EXIT_OF_CODE[code] ?? EXIT.failed) : EXIT.failed, parts.join(' '), code);
}

export function unreachable(url: string, cause: unknown): CliError {
  const detail = cause instanceof Error ? ((cause.cause as Error | undefined)?.message ?? cause.message) : String(cause);
  return new CliError(EXIT.unreachable, `could not reach the gateway at ${url}: ${detail}`);
}

export function usage(message: string): CliError {
  return new CliError(EXIT.usage, message);
}

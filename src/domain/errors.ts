/**
 * The closed vocabulary of error codes clients can act on (CONTRACT.md, "Errors"), and one error
 * class per case. Match on `code`, never on message text.
 */
export const ErrorCode = {
  BAD_USER_INPUT: 'BAD_USER_INPUT',
  UNAUTHENTICATED: 'UNAUTHENTICATED',
  NOT_FOUND: 'NOT_FOUND',
  CONFLICT: 'CONFLICT',
  RATE_LIMITED: 'RATE_LIMITED',
  UPSTREAM_ERROR: 'UPSTREAM_ERROR',
  UPSTREAM_UNAVAILABLE: 'UPSTREAM_UNAVAILABLE',
  BUDGET_EXCEEDED: 'BUDGET_EXCEEDED',
  CURSOR_EXPIRED: 'CURSOR_EXPIRED',
} as const;
export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

/** An error whose message is safe to show a client; `extensions` go to the client too. */
export class GatewayError extends Error {
  override name = 'GatewayError';
  readonly code: ErrorCode;
  readonly extensions: Readonly<Record<string, unknown>>;
  constructor(code: ErrorCode, message: string, extensions: Record<string, unknown> = {}) {
    super(message);
    this.code = code;
    this.extensions = extensions;
  }
}

export class InvalidInputError extends GatewayError {
  override name = 'InvalidInputError';
  constructor(field: string, message: string) {
    super(ErrorCode.BAD_USER_INPUT, message, { field });
  }
}

/** Several bad fields at once: transports answer one BAD_USER_INPUT error per field (see `errors`). */
export class InvalidInputsError extends GatewayError {
  override name = 'InvalidInputsError';
  readonly errors: readonly InvalidInputError[];
  constructor(errors: InvalidInputError[]) {
    super(ErrorCode.BAD_USER_INPUT, errors.map((e) => e.message).join('; '), { field: errors[0]?.extensions.field, fields: errors.map((e) => e.extensions.field) });
    this.errors = errors;
  }
}

export class UnauthenticatedError extends GatewayError {
  override name = 'UnauthenticatedError';
  constructor(message = 'A valid API key is required: send "Authorization: Bearer <key>".') {
    super(ErrorCode.UNAUTHENTICATED, message);
  }
}

export class JobNotFoundError extends GatewayError {
  override name = 'JobNotFoundError';
  constructor(id: string) {
    super(ErrorCode.NOT_FOUND, `No job with id "${id}".`);
  }
}

export class ConflictError extends GatewayError {
  override name = 'ConflictError';
  constructor(message: string) {
    super(ErrorCode.CONFLICT, message);
  }
}

export class RateLimitedError extends GatewayError {
  override name = 'RateLimitedError';
  constructor(message: string, retryAfterSeconds?: number) {
    super(ErrorCode.RATE_LIMITED, message, retryAfterSeconds === undefined ? {} : { retryAfterSeconds });
  }
}

export class UpstreamRefusedError extends GatewayError {
  override name = 'UpstreamRefusedError';
  constructor(message: string, extensions: Record<string, unknown> = {}) {
    super(ErrorCode.UPSTREAM_ERROR, message, extensions);
  }
}

export class UpstreamUnavailableError extends GatewayError {
  override name = 'UpstreamUnavailableError';
  constructor(message: string, extensions: Record<string, unknown> = {}) {
    super(ErrorCode.UPSTREAM_UNAVAILABLE, message, extensions);
  }
}

export class BudgetExceededError extends GatewayError {
  override name = 'BudgetExceededError';
  constructor(message: string, retryAfterSeconds: number) {
    super(ErrorCode.BUDGET_EXCEEDED, message, { retryAfterSeconds });
  }
}

/** `jobEvents(after:)` with a cursor the event log no longer (or never) held: re-read `jobs`, then subscribe without `after`. */
export class CursorExpiredError extends GatewayError {
  override name = 'CursorExpiredError';
  constructor(message = 'This cursor is no longer retained (or is not a cursor): re-read jobs, then subscribe to jobEvents without after.') {
    super(ErrorCode.CURSOR_EXPIRED, message);
  }
}

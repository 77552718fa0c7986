/**
 * Subscriptions over GraphQL over WebSocket (graphql-ws's own client), resumed when the connection
 * drops: the caller gives the variables for each attempt (so `events` can pass its last cursor), and
 * `jobUpdates` simply starts again with the job's current state. Refusals (a GraphQL error, a 44xx
 * close) end the stream as a CliError; a dropped connection retries, with backoff, until
 * `reconnectTimeoutMs` passes without a connection.
 */
import { createClient } from 'graphql-ws';
import WebSocket from 'ws';
import { CliError, EXIT, fromGraphQLErrors, type WireError } from './errors.ts';
import type { Connection } from './http.ts';

export interface StreamOptions<T> {
  connection: Connection;
  query: string;
  /** Variables for each attempt (the first and every resume). */
  variables: () => Record<string, unknown>;
  next: (data: T) => void;
  /** Aborting ends the stream quietly ('aborted'). */
  signal: AbortSignal;
  /** Told once per drop, before the retries. */
  onDrop?: (reason: string) => void;
  onResume?: () => void;
  reconnectTimeoutMs?: number;
  /** Delay before retry n (1, 2, ...). */
  retryDelayMs?: (attempt: number) => number;
  now?: () => number;
}

type Attempt = { kind: 'complete' } | { kind: 'aborted' } | { kind: 'dropped'; reason: string };

export const wsUrlOf = (httpUrl: string) => httpUrl.replace(/^http/, 'ws');

const CLOSE_MESSAGES: Record<number, [CliError['exitCode'], string]> = {
  4403: [EXIT.unauthenticated, 'the gateway refused the credential (WebSocket close 4403) [UNAUTHENTICATED]'],
  4429: [EXIT.failed, 'too many WebSocket connections for this tenant [RATE_LIMITED]'],
  4400: [EXIT.failed, 'the gateway rejected the subscription (WebSocket close 4400)'],
};

/** graphql-ws closes worth another try: init timeout (a busy server), terminated, internal error. */
const RETRYABLE_CLOSE = new Set([4408, 4499, 4500]);

/** A CliError for a refusal, or a reason string for a drop worth retrying. */
function classify(error: unknown): CliError | string {
  if (Array.isArray(error)) return fromGraphQLErrors(error as WireError[]);
  const code = (error as { code?: unknown } | null)?.code;
  if (typeof code === 'number') {
    const known = CLOSE_MESSAGES[code];
    if (known) return new CliError(known[0], known[1]);
    if (code >= 4000 && !RETRYABLE_CLOSE.has(code)) return new CliError(EXIT.failed, `the gateway closed the subscription (${code} ${String((error as { reason?: unknown }).reason ?? '')})`);
    return `connection closed (${code})`;
  }
  return error instanceof Error ? error.message : 'connection lost';
}

function attempt<T>(options: StreamOptions<T>, onConnected: () => void): Promise<Attempt> {
  const { connection, query, next, signal } = options;
  return new Promise<Attempt>((resolve, reject) => {
    const client = createClient({
      url: wsUrlOf(connection.url),
      webSocketImpl: WebSocket,
      retryAttempts: 0,
      lazy: true,
      keepAlive: 10_000,
      connectionParams: connection.key ? { authorization: `Bearer ${connection.key}` } : {},
      on: { connected: onConnected },
    });
    const finish = (outcome: Attempt | CliError) => {
      signal.removeEventListener('abort', onAbort);
      unsubscribe();
      void client.dispose();
      if (outcome instanceof CliError) reject(outcome);
      else resolve(outcome);
    };
    const onAbort = () => finish({ kind: 'aborted' });
    signal.addEventListener('abort', onAbort, { once: true });
    const unsubscribe = client.subscribe<T>(
      { query, variables: options.variables() },
      {
        next: (value) => {
          if (value.errors?.length) return finish(fromGraphQLErrors(value.errors as unknown as WireError[]));
          if (value.data) next(value.data as T);
        },
        error: (error) => {
          const verdict = classify(error);
          finish(typeof verdict === 'string' ? { kind: 'dropped', reason: verdict } : verdict);
        },
        complete: () => finish({ kind: 'complete' }),
      },
    );
    if (signal.aborted) onAbort();
  });
}

const defaultDelay = (n: number) => Math.min(5_000, 250 * 2 ** (n - 1));

/** Runs the subscription to its end: 'complete' (the server completed it) or 'aborted'. */
export async function stream<T>(options: StreamOptions<T>): Promise<'complete' | 'aborted'> {
  const { reconnectTimeoutMs = 120_000, retryDelayMs = defaultDelay, now = Date.now } = options;
  let droppedSince: number | null = null;
  let retries = 0;
  const onConnected = () => {
    if (droppedSince !== null) options.onResume?.();
    droppedSince = null;
    retries = 0;
  };
  for (;;) {
    const outcome = await attempt(options, onConnected);
    if (outcome.kind !== 'dropped') return outcome.kind;
    if (droppedSince === null) {
      droppedSince = now();
      options.onDrop?.(outcome.reason);
    }
    if (now() - droppedSince > reconnectTimeoutMs) {
      throw new CliError(EXIT.unreachable, `lost the gateway at ${options.connection.url} (${outcome.reason}) and could not reconnect for ${Math.round(reconnectTimeoutMs / 1000)} s`);
    }
    retries += 1;
    const aborted = await sleep(retryDelayMs(retries), options.signal);
    if (aborted) return 'aborted';
  }
}

/** Resolves after `ms` (false), or at once when `signal` aborts (true). */
export function sleep(ms: number, signal: AbortSignal): Promise<boolean> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve(true);
    const timer = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve(false);
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      resolve(true);
    };
    signal.addEventListener('abort', onAbort, { once: true });
  });
}

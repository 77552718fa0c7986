/** What every command runs with: the output, the gateway connection, signals and time (injectable). */
import type { Connection, HttpClient } from './http.ts';
import type { Output } from './output.ts';

export interface Signals {
  on(signal: 'SIGINT', listener: () => void): unknown;
  off(signal: 'SIGINT', listener: () => void): unknown;
}

export interface Context {
  out: Output;
  connection: Connection;
  http: HttpClient;
  signals: Signals;
  /** Ends the process at once (the second Ctrl-C). */
  exitNow(code: number): never;
  now(): number;
  /** How long a dropped subscription keeps trying to reconnect before exit 4. */
  reconnectTimeoutMs: number;
}

/** Ctrl-C handling while following: the first calls `first`, the second ends the process at once. */
export function onInterrupt(ctx: Context, first: () => void): () => void {
  let count = 0;
  const listener = () => {
    count += 1;
    if (count === 1) first();
    else ctx.exitNow(130);
  };
  ctx.signals.on('SIGINT', listener);
  return () => ctx.signals.off('SIGINT', listener);
}

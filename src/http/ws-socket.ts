/**
 * What one graphql-ws socket holds beside the protocol (graphql-ws.ts): the sink its cohort members'
 * frames go to, and the close at its token's expiry. Both read the socket through ws's public API
 * only (`send` and its callback, `bufferedAmount`, `close`).
 */
import type { WebSocket } from 'ws';
import { encodeNext, type Frame, type FrameSink } from './cohorts.ts';

/** Past this much unsent data on a socket, a subscriber is congested: it gets the latest state later. */
const CONGESTED_BYTES = 1024 * 1024;

/** Close code when the socket's token expires (graphql-ws's Forbidden): the client reconnects with a fresh one. */
export const CLOSE_TOKEN_EXPIRED = 4403;
/** setTimeout's longest delay; a later expiry re-arms the timer. */
const MAX_TIMER_MS = 2 ** 31 - 1;

/** Closes the socket with 4403 when its token expires (one timer per socket, cleared when it closes). */
export function closeAtExpiry(socket: WebSocket, expiresAt: number): void {
  let timer: NodeJS.Timeout;
  const arm = () => {
    const left = expiresAt - Date.now();
    if (left <= 0) {
      socket.close(CLOSE_TOKEN_EXPIRED, 'Forbidden: the token expired');
      return;
    }
    timer = setTimeout(arm, Math.min(left, MAX_TIMER_MS));
  };
  arm();
  socket.on('close', () => clearTimeout(timer));
}

/**
 * Where a cohort member's frames go: its socket, as shared bytes (one class, so that a subscriber
 * holds one object and one callback rather than three closures). Drained: every frame of this
 * member has been handed to the OS (ws's send callback).
 */
export class SocketSink implements FrameSink {
  private unsent = 0;
  private waiters: Array<() => void> | null = null;
  private readonly socket: WebSocket;
  private readonly operationId: string;
  private readonly onDelivered: (() => void) | undefined;
  private readonly sent = () => {
    this.unsent -= 1;
    if (this.unsent > 0 || !this.waiters) return;
    const ready = this.waiters;
    this.waiters = null;
    for (const callback of ready) callback();
  };

  constructor(socket: WebSocket, operationId: string, onDelivered: (() => void) | undefined) {
    this.socket = socket;
    this.operationId = operationId;
    this.onDelivered = onDelivered;
  }

  write(frame: Frame): boolean {
    this.unsent += 1;
    this.socket.send(encodeNext(frame, this.operationId), { binary: false }, this.sent);
    this.onDelivered?.();
    return this.socket.bufferedAmount < CONGESTED_BYTES;
  }
  onDrain(callback: () => void): void {
    if (this.unsent === 0) setImmediate(callback);
    else (this.waiters ??= []).push(callback);
  }
}

/**
 * The bench's SSE subscriber, as lean as a load generator should be: a raw TCP socket that writes one
 * fixed request (built once per fleet: a graphql-sse distinct connections POST) and reads the response
 * head and the chunked event stream by hand. node:http's client (an Agent, a ClientRequest, header
 * objects, an IncomingMessage stream per subscriber) cost more CPU per open than the server it was
 * measuring; this keeps what the bench checks: status 200, then the `event: next` / `event: complete`
 * blocks of the stream, each `next` handed over as its raw bytes (latin1) when it arrives.
 *
 * One object per connection and one set of listener functions for all of them (no closures per socket).
 */
import { connect, type Socket } from 'node:net';

export interface SseHandlers {
  /** Each complete `event: next` block (latin1 bytes, without the blank line), with the instant its bytes arrived. */
  next(block: string, t: number): void;
  /** An `event: complete` block: the server ended the subscription. */
  complete(): void;
  /** The connection failed or ended: 'connect: CODE', 'http STATUS', 'closed'. */
  fail(what: string): void;
}

/** The request every subscriber of a fleet writes: POST `url` with `body`, Accept: text/event-stream. */
export function sseRequest(url: string, body: string): { host: string; port: number; bytes: Buffer } {
  const u = new URL(url);
  const length = Buffer.byteLength(body);
  const head = `POST ${u.pathname}${u.search} HTTP/1.1\r\nHost: ${u.host}\r\nContent-Type: application/json\r\nAccept: text/event-stream\r\nContent-Length: ${length}\r\n\r\n`;
  return { host: u.hostname, port: Number(u.port || 80), bytes: Buffer.from(head + body, 'utf8') };
}

const HEAD_END = '\r\n\r\n';
const STATE = Symbol('sse connection');
type Parse = 'head' | 'size' | 'data' | 'crlf' | 'raw';

class SseConnection {
  readonly socket: Socket;
  private readonly handlers: SseHandlers;
  private readonly now: () => number;
  private parse: Parse = 'head';
  /** Bytes of the head, or of a chunk-size line, not yet complete. */
  private pending = '';
  /** Bytes left in the current chunk. */
  private left = 0;
  /** Event-stream text not yet ending in a blank line. */
  private text = '';
  private ended = false;

  constructor(socket: Socket, handlers: SseHandlers, now: () => number) {
    this.socket = socket;
    this.handlers = handlers;
    this.now = now;
  }

  data(chunk: Buffer): void {
    const t = this.now();
    let at = 0;
    if (this.parse === 'head') {
      this.pending += chunk.toString('latin1', 0, chunk.length);
      const end = this.pending.indexOf(HEAD_END);
      if (end < 0) return;
      const head = this.pending.slice(0, end);
      const status = Number(head.slice(9, 12));
      if (!head.startsWith('HTTP/1.') || status !== 200) return this.end(`http ${status || 'unparsable'}`);
      this.parse = /\r\ntransfer-encoding:[^\r]*chunked/i.test(head) ? 'size' : 'raw';
      at = chunk.length - (this.pending.length - end - HEAD_END.length);
      this.pending = '';
    }
    while (at < chunk.length && !this.ended) {
      switch (this.parse) {
        case 'raw':
          this.text += chunk.toString('latin1', at, chunk.length);
          at = chunk.length;
          break;
        case 'size': {
          const lf = chunk.indexOf(10, at);
          this.pending += chunk.toString('latin1', at, lf < 0 ? chunk.length : lf + 1);
          if (lf < 0) return;
          at = lf + 1;
          const size = parseInt(this.pending, 16);
          this.pending = '';
          if (!(size > 0)) return this.end('closed'); // the last chunk: the server ended the response
          this.left = size;
          this.parse = 'data';
          break;
        }
        case 'data': {
          const take = Math.min(this.left, chunk.length - at);
          this.text += chunk.toString('latin1', at, at + take);
          at += take;
          this.left -= take;
          if (this.left === 0) this.parse = 'crlf';
          break;
        }
        case 'crlf': {
          const lf = chunk.indexOf(10, at);
          if (lf < 0) return;
          at = lf + 1;
          this.parse = 'size';
          break;
        }
        default:
          return;
      }
      this.blocks(t);
    }
  }

  private blocks(t: number): void {
    let boundary: number;
    while (!this.ended && (boundary = this.text.indexOf('\n\n')) >= 0) {
      const block = this.text.slice(0, boundary);
      this.text = this.text.slice(boundary + 2);
      if (block.startsWith('event: next') || block.includes('\nevent: next')) this.handlers.next(block, t);
      else if (block.includes('event: complete')) this.handlers.complete();
    }
  }

  end(what: string): void {
    if (this.ended) return;
    this.ended = true;
    this.handlers.fail(what);
    this.socket.destroy();
  }
}

const of = (socket: Socket) => (socket as unknown as Record<symbol, SseConnection>)[STATE]!;
function onData(this: Socket, chunk: Buffer) {
  of(this).data(chunk);
}
function onError(this: Socket, error: NodeJS.ErrnoException) {
  of(this).end(`connect: ${error.code ?? error.message}`);
}
function onClose(this: Socket) {
  of(this).end('closed');
}

/** Opens one SSE subscriber; returns its socket (destroy it to close). */
export function openSse(request: { host: string; port: number; bytes: Buffer }, handlers: SseHandlers, now: () => number): Socket {
  const socket = connect({ host: request.host, port: request.port, noDelay: true });
  (socket as unknown as Record<symbol, SseConnection>)[STATE] = new SseConnection(socket, handlers, now);
  socket.on('data', onData);
  socket.on('error', onError);
  socket.on('close', onClose);
  socket.write(request.bytes);
  return socket;
}

/**
 * The load generator's clients: many subscribers, each on its own connection, as dashboards do.
 *
 * - graphql-ws: `ws` directly with the graphql-transport-ws subprotocol (connection_init ->
 *   connection_ack -> subscribe); lighter than graphql-ws's client and does the same on the wire.
 * - raw ws: plain WebSockets to the floor server.
 * - SSE: GraphQL over SSE (graphql-sse's "distinct connections" mode), one request per connection, on
 *   raw sockets (sse-client.ts: a fixed request, the response head and chunked stream read by hand).
 *
 * Every subscriber records each update it receives as (key, receive instant on the common clock);
 * the receive instant is taken first thing in the message handler. A KeyTracker follows how many
 * subscribers have reached each key (received it or a newer one), so the bench can wait until an
 * update has been fully delivered.
 */
import WebSocket from 'ws';
import { waitFor } from '../../test/helpers/wait-for.ts';
import { keyOf, nowUs } from './common.ts';
import { openSse, sseRequest } from './sse-client.ts';

export interface Subscriber {
  keys: string[];
  times: number[];
  lastKey: string;
  ready: boolean;
  closed: boolean;
  /** Local TCP port of its connection (the server sees it as the remote port); 0 until open. */
  port: number;
}

/** How many subscribers reached each key: received it, or a newer one (a slow client may skip). */
export class KeyTracker {
  /** Known keys, ascending (ISO timestamps sort in time order). */
  readonly known: string[] = [];
  private readonly reachedBy = new Map<string, number>();
  private readonly subscribers: Subscriber[];

  constructor(subscribers: Subscriber[]) {
    this.subscribers = subscribers;
  }

  /** Called for every update received, after it was appended to `s.keys`. */
  advance(s: Subscriber, key: string): void {
    if (key <= s.lastKey) return;
    if (!this.reachedBy.has(key)) this.insert(key, s);
    for (let i = this.known.length - 1; i >= 0; i--) {
      const k = this.known[i]!;
      if (k <= s.lastKey) break;
      if (k <= key) this.reachedBy.set(k, (this.reachedBy.get(k) ?? 0) + 1);
    }
    s.lastKey = key;
  }

  private insert(key: string, except: Subscriber): void {
    let at = this.known.length;
    while (at > 0 && this.known[at - 1]! > key) at--;
    this.known.splice(at, 0, key);
    let count = 0;
    for (const s of this.subscribers) if (s !== except && s.lastKey >= key) count++;
    this.reachedBy.set(key, count);
  }

  reached(key: string): number {
    return this.reachedBy.get(key) ?? 0;
  }

  /** The oldest key newer than `after` that at least `target()` subscribers reached, waiting up to `timeoutMs`. */
  nextDelivered(after: string, target: () => number, timeoutMs: number): Promise<string | null> {
    const probe = () => {
      const goal = target();
      return this.known.find((k) => k > after && this.reached(k) >= goal);
    };
    return waitFor(probe, { timeoutMs, intervalMs: 2, message: `an update after ${after} delivered to every subscriber` }).catch(() => null);
  }
}

export type FleetKind = 'graphql-ws' | 'raw-ws' | 'sse';

export interface Fleet {
  kind: FleetKind;
  subscribers: Subscriber[];
  tracker: KeyTracker;
  /** Error kind -> count (connect failures, close codes, GraphQL errors, unexpected completes). */
  errors: Map<string, number>;
  /** Subscribers subscribed (first event or open) and not closed. */
  live(): number;
  /** Subscriptions the server completed (the job finished). */
  completed(): number;
  errorCount(): number;
  /** Opens `count` more subscribers, at most `concurrency` handshakes at once; resolves when all settled or `deadlineMs` passed. */
  grow(count: number, options?: { concurrency?: number; deadlineMs?: number; stopOnErrors?: number; onProgress?: (live: number) => void }): Promise<void>;
  /** From now on, closed connections are not errors (the bench is tearing down). */
  quiesce(): void;
  /** Destroys every connection. */
  close(): void;
}

export interface FleetTarget {
  /** ws:// URL (graphql-ws, raw) or http:// URL of /graphql (SSE). */
  url: string;
  query?: string;
  variables?: Record<string, unknown>;
}

const HANDSHAKE_TIMEOUT_MS = 30_000;

function countError(errors: Map<string, number>, kind: string): void {
  errors.set(kind, (errors.get(kind) ?? 0) + 1);
}

export function createFleet(kind: FleetKind, target: FleetTarget): Fleet {
  const subscribers: Subscriber[] = [];
  const tracker = new KeyTracker(subscribers);
  const errors = new Map<string, number>();
  const closers: Array<() => void> = [];
  let live = 0;
  let completed = 0;
  let closing = false;

  let sseBytes: ReturnType<typeof sseRequest> | null = null;
  const sseRequestBytes = () => (sseBytes ??= sseRequest(target.url, JSON.stringify({ query: target.query, variables: target.variables ?? {} })));
  const subscribeMessage = JSON.stringify({ id: '1', type: 'subscribe', payload: { query: target.query ?? '', variables: target.variables ?? {} } });

  function received(s: Subscriber, key: string, t: number): void {
    s.keys.push(key);
    s.times.push(t);
    tracker.advance(s, key);
  }

  /** Opens one subscriber; resolves when it is subscribed or failed. */
  function openOne(): Promise<void> {
    const s: Subscriber = { keys: [], times: [], lastKey: '', ready: false, closed: false, port: 0 };
    subscribers.push(s);
    return new Promise<void>((resolve) => {
      let settled = false;
      const settle = () => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        resolve();
      };
      const becomeReady = () => {
        if (s.ready || s.closed) return;
        s.ready = true;
        live++;
        settle();
      };
      /** The subscription ended: an error unless it completed, or the bench is tearing down; only its first end counts. */
      const fail = (what: string) => {
        if (!s.closed) {
          s.closed = true;
          if (s.ready) live--;
          if (what === 'completed') completed++;
          else if (!closing) countError(errors, what);
        }
        settle();
      };
      const timer = setTimeout(() => {
        fail('handshake timeout');
        destroy();
      }, HANDSHAKE_TIMEOUT_MS);
      let destroy: () => void = () => undefined;

      if (kind === 'sse') {
        const socket = openSse(sseRequestBytes(), {
          next(block, t) {
            const key = keyOf(Buffer.from(block, 'latin1'));
            if (/"errors"/.test(block)) countError(errors, 'graphql error');
            if (key) received(s, key, t);
            becomeReady();
          },
          complete: () => fail('completed'),
          fail,
        }, nowUs);
        destroy = () => socket.destroy();
      } else {
        const socket = new WebSocket(target.url, kind === 'graphql-ws' ? 'graphql-transport-ws' : [], {
          perMessageDeflate: false,
          skipUTF8Validation: true,
          handshakeTimeout: HANDSHAKE_TIMEOUT_MS,
        });
        destroy = () => socket.terminate();
        let acked = false;
        socket.on('open', () => {
          s.port = (socket as unknown as { _socket?: { localPort?: number } })._socket?.localPort ?? 0;
          if (kind === 'raw-ws') return becomeReady();
          socket.send('{"type":"connection_init","payload":{}}');
        });
        socket.on('message', (data: Buffer) => {
          const t = nowUs();
          if (kind === 'raw-ws' || (acked && data.indexOf('"type":"next"') >= 0)) {
            const key = keyOf(data);
            if (key) received(s, key, t);
            if (kind === 'graphql-ws') {
              if (data.indexOf('"errors"') >= 0) countError(errors, 'graphql error');
              becomeReady();
            }
            return;
          }
          let message: { type?: string; payload?: unknown };
          try {
            message = JSON.parse(data.toString('utf8'));
          } catch {
            return countError(errors, 'unparsable message');
          }
          if (message.type === 'connection_ack') {
            acked = true;
            socket.send(subscribeMessage);
          } else if (message.type === 'error') {
            const first = Array.isArray(message.payload) ? (message.payload[0] as { message?: string; extensions?: { code?: string } }) : null;
            fail(`graphql error: ${first?.extensions?.code ?? first?.message ?? 'unknown'}`);
          } else if (message.type === 'complete') {
            fail('completed');
          }
        });
        socket.on('unexpected-response', (_req, res) => {
          fail(`http ${res.statusCode}`);
          socket.terminate();
        });
        socket.on('error', (error) => fail(`connect: ${(error as NodeJS.ErrnoException).code ?? error.message}`));
        socket.on('close', (code) => fail(`closed ${code}`));
      }
      closers.push(destroy);
    });
  }

  const errorCount = () => [...errors.values()].reduce((a, b) => a + b, 0);

  return {
    kind,
    subscribers,
    tracker,
    errors,
    live: () => live,
    completed: () => completed,
    errorCount,
    async grow(count, options = {}) {
      const concurrency = Math.max(1, options.concurrency ?? 200);
      const deadline = Date.now() + (options.deadlineMs ?? 120_000);
      let started = 0;
      let lastProgress = Date.now();
      const worker = async () => {
        while (started < count && Date.now() < deadline) {
          if (options.stopOnErrors !== undefined && errorCount() >= options.stopOnErrors) return;
          started++;
          await openOne();
          if (options.onProgress && Date.now() - lastProgress > 2_000) {
            lastProgress = Date.now();
            options.onProgress(live);
          }
        }
      };
      await Promise.all(Array.from({ length: Math.min(concurrency, count) }, worker));
    },
    quiesce() {
      closing = true;
    },
    close() {
      closing = true;
      for (const close of closers.splice(0)) close();
    },
  };
}

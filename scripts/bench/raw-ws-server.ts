/**
 * The floor: a bare `ws` server, as a child process of `npm run bench`. It holds plain WebSockets
 * (no subprotocol, no GraphQL) and, when told, broadcasts every `intervalMs` ONE pre-serialized
 * frame (the same JSON shape and size as the gateway's graphql-ws `next` message) to every socket,
 * recording when it decided to send (common clock) under the frame's key. It pings every socket
 * every 12 s, as the gateway's graphql-ws server does, so both hold the same keep-alive traffic
 * (the gateway spreads its pings over the interval; here the sweep is one loop, like the broadcast,
 * so it never lands inside one).
 *
 * A POST with `Accept: text/event-stream` gets an SSE stream with one frame that stays open: the SSE
 * floor of CPU per open (sse-open-cpu.ts --floor).
 *
 * Control routes (see control.ts for the built-in ones): POST /broadcast/start {intervalMs},
 * POST /broadcast/stop, GET /publishes?since=µs, GET /clients.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { WebSocketServer } from 'ws';
import { nowUs, READY_PREFIX } from './common.ts';
import { startControl } from './control.ts';

interface Broadcast {
  key: string;
  tUs: number;
  sockets: number;
  /** When the last frame of this broadcast was handed to its socket. */
  lastSendUs: number;
}

const KEEP_ALIVE_MS = 12_000;
const JOB_ID = '0199a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b'; // a uuidv7-shaped id, as the gateway's
const publishes: Broadcast[] = [];
let lastKeyMs = 0;
let timer: NodeJS.Timeout | null = null;

// The SSE floor: a POST asking for text/event-stream gets, once its body is in, the SSE head, a first
// comment and one `next` frame (the same shape as the gateway's), then stays open (sse-open-cpu.ts --floor).
const SSE_HEAD = { 'content-type': 'text/event-stream', connection: 'keep-alive', 'cache-control': 'no-cache', 'content-encoding': 'none' };
const SSE_FIRST = Buffer.from(
  `:\n\nevent: next\ndata: ${JSON.stringify({ data: { jobUpdates: { id: JOB_ID, status: 'IN_QUEUE', queuePosition: 500, updatedAt: new Date(0).toISOString() } } })}\n\n`,
);
const server = createServer((req, res) => {
  if (!req.headers.accept?.includes('text/event-stream')) return void res.writeHead(426).end();
  req.resume();
  req.once('end', () => {
    res.writeHead(200, SSE_HEAD);
    res.write(SSE_FIRST);
  });
});
const wss = new WebSocketServer({ server, perMessageDeflate: false, clientTracking: true });
wss.on('connection', (socket) => {
  socket.on('error', () => undefined);
});
const keepAlive = setInterval(() => {
  for (const socket of wss.clients) socket.ping();
}, KEEP_ALIVE_MS);
keepAlive.unref();

/** A unique ISO-8601 key, increasing, like the gateway's updatedAt. */
function nextKey(): string {
  lastKeyMs = Math.max(Date.now(), lastKeyMs + 1);
  return new Date(lastKeyMs).toISOString();
}

function broadcast(): void {
  const tUs = nowUs();
  const key = nextKey();
  const frame = Buffer.from(
    JSON.stringify({ id: '1', type: 'next', payload: { data: { jobUpdates: { id: JOB_ID, status: 'IN_PROGRESS', queuePosition: null, updatedAt: key } } } }),
  );
  let sockets = 0;
  for (const socket of wss.clients) {
    socket.send(frame);
    sockets++;
  }
  publishes.push({ key, tUs, sockets, lastSendUs: nowUs() });
}

await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
const port = (server.address() as AddressInfo).port;

const control = await startControl({
  'POST /broadcast/start': (body: { intervalMs?: number }) => {
    if (timer) clearInterval(timer);
    timer = setInterval(broadcast, Math.max(1, body.intervalMs ?? 1000));
  },
  'POST /broadcast/stop': () => {
    if (timer) clearInterval(timer);
    timer = null;
  },
  'GET /publishes': (_body, query) => {
    const since = Number(query.get('since') ?? 0);
    return publishes
      .filter((p) => p.tUs >= since)
      .map((p) => ({ topic: 'raw', key: p.key, tUs: p.tUs, status: 'IN_PROGRESS', queuePosition: null, changesUs: [], sends: p.sockets, lastSendUs: p.lastSendUs }));
  },
  'GET /clients': () => ({ clients: wss.clients.size }),
});

const stop = () => process.exit(0);
process.on('SIGTERM', stop);
process.on('SIGINT', stop);

process.stdout.write(`${READY_PREFIX}${JSON.stringify({ control, wsUrl: `ws://127.0.0.1:${port}/`, port, pid: process.pid })}\n`);

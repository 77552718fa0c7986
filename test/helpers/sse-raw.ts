/**
 * Raw SSE over node:http (no client library): the exact status, headers and bytes a subscriber gets,
 * events parsed as they arrive, and a reader that can stop reading (a slow client). Also a /metrics
 * reader, to count the gateway's cohorts and job feeds.
 */
import { request, type IncomingHttpHeaders, type IncomingMessage } from 'node:http';
import { waitForCount } from './clients.ts';

export interface RawSse {
  status: Promise<number>;
  headers: Promise<IncomingHttpHeaders>;
  /** Every byte received, as text. */
  text(): string;
  /** `next` payloads in order. */
  events: any[];
  /** Resolves when the server ended the response (or the socket closed). */
  ended: Promise<void>;
  waitForEvents(count: number, timeoutMs?: number): Promise<any[]>;
  /** Stops reading (the socket's buffers fill), and reads again. */
  pause(): void;
  resume(): void;
  close(): void;
}

export function rawSse(httpUrl: string, options: { method?: 'GET' | 'POST'; body?: unknown; query?: Record<string, string>; headers?: Record<string, string> } = {}): RawSse {
  const method = options.method ?? 'POST';
  const url = new URL(httpUrl);
  for (const [name, value] of Object.entries(options.query ?? {})) url.searchParams.set(name, value);
  const payload = options.body === undefined ? null : typeof options.body === 'string' ? options.body : JSON.stringify(options.body);
  let text = '';
  let buffer = '';
  const events: any[] = [];
  const watchers = new Set<() => void>();
  let response: IncomingMessage | null = null;
  let setStatus!: (s: number) => void;
  let setHeaders!: (h: IncomingHttpHeaders) => void;
  let setEnded!: () => void;
  const status = new Promise<number>((resolve) => (setStatus = resolve));
  const headers = new Promise<IncomingHttpHeaders>((resolve) => (setHeaders = resolve));
  const ended = new Promise<void>((resolve) => (setEnded = resolve));
  const req = request(url, {
    method,
    agent: false,
    headers: { accept: 'text/event-stream', ...(payload ? { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(payload)) } : {}), ...options.headers },
  }, (res) => {
    response = res;
    setStatus(res.statusCode ?? 0);
    setHeaders(res.headers);
    res.setEncoding('utf8');
    res.on('data', (chunk: string) => {
      text += chunk;
      buffer += chunk;
      let at: number;
      while ((at = buffer.indexOf('\n\n')) >= 0) {
        const block = buffer.slice(0, at);
        buffer = buffer.slice(at + 2);
        if (block.startsWith('event: next\n')) events.push(JSON.parse(block.slice('event: next\ndata: '.length)));
      }
      watchers.forEach((w) => w());
    });
    res.on('end', setEnded);
    res.on('close', setEnded);
  });
  req.on('error', () => setEnded());
  req.end(payload ?? undefined);
  void ended.then(() => watchers.forEach((w) => w()));
  return {
    status,
    headers,
    text: () => text,
    events,
    ended,
    waitForEvents: (count: number, timeoutMs = 15_000) => waitForCount(events, watchers, ended, count, timeoutMs, `${count} SSE events`),
    pause: () => response?.pause(),
    resume: () => response?.resume(),
    close: () => req.destroy(),
  };
}

/** One gauge or counter of the gateway's /metrics (without labels). */
export async function metric(baseUrl: string, name: string): Promise<number> {
  const text = await (await fetch(`${baseUrl}/metrics`)).text();
  const match = new RegExp(`^${name} (\\S+)$`, 'm').exec(text);
  if (!match) throw new Error(`no metric ${name}`);
  return Number(match[1]);
}

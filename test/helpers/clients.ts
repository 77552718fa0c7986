/**
 * Real clients, as a front end would use them: plain HTTP POST, graphql-ws's own client, and an SSE
 * reader over fetch. Each subscription client queues everything it receives so no message is missed.
 */
import { createClient, type Client } from 'graphql-ws';
import WebSocket from 'ws';
import { within } from './wait-for.ts';

/** Every raw response text and WebSocket message the suite's clients received (leak checks read it). */
export const transcript: string[] = [];

export interface GraphQLResponse<T = Record<string, any>> {
  data?: T | null;
  errors?: Array<{ message: string; extensions?: Record<string, any>; path?: readonly (string | number)[] }>;
}

export async function post<T = Record<string, any>>(
  httpUrl: string,
  query: string,
  variables: Record<string, unknown> = {},
  headers: Record<string, string> = {},
): Promise<GraphQLResponse<T> & { status: number; raw: string }> {
  const response = await fetch(httpUrl, {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'application/graphql-response+json, application/json', ...headers },
    body: JSON.stringify({ query, variables }),
  });
  const raw = await response.text();
  transcript.push(raw);
  return { ...(JSON.parse(raw) as GraphQLResponse<T>), status: response.status, raw };
}

/** What a subscription received, in order, and how it ended. */
export interface Recording<T = any> {
  events: Array<GraphQLResponse<T>>;
  done: Promise<'complete' | { error: unknown }>;
  /** Resolves when at least `count` events arrived. */
  waitForEvents(count: number, timeoutMs?: number, what?: string): Promise<Array<GraphQLResponse<T>>>;
  stop(): void;
}

/**
 * Resolves with `events` once it holds `count` (each push calls every watcher); rejects when the
 * stream ends first, and after `timeoutMs` saying what it waited for. Every recorder here uses it.
 */
export function waitForCount<E>(events: E[], watchers: Set<() => void>, ended: Promise<unknown>, count: number, timeoutMs: number, what: string): Promise<E[]> {
  return within(
    new Promise<E[]>((resolve, reject) => {
      const check = () => {
        if (events.length >= count) {
          watchers.delete(check);
          resolve(events);
        }
      };
      watchers.add(check);
      check();
      void ended.then(() => {
        if (events.length < count) reject(new Error(`the stream ended after ${events.length} events, wanted ${count}`));
      });
    }),
    timeoutMs,
    what,
  );
}

function recorder<T>(): { recording: Omit<Recording<T>, 'stop'>; push: (e: GraphQLResponse<T>) => void; end: (r: 'complete' | { error: unknown }) => void } {
  const events: Array<GraphQLResponse<T>> = [];
  const watchers = new Set<() => void>();
  let end!: (r: 'complete' | { error: unknown }) => void;
  const done = new Promise<'complete' | { error: unknown }>((resolve) => (end = resolve));
  done.then(() => watchers.forEach((w) => w()));
  return {
    push: (event) => {
      events.push(event);
      watchers.forEach((w) => w());
    },
    end: (r) => end(r),
    recording: {
      events,
      done,
      waitForEvents: (count, timeoutMs = 15_000, what) => waitForCount(events, watchers, done, count, timeoutMs, what ?? `${count} subscription events`),
    },
  };
}

export function wsClient(wsUrl: string, connectionParams: Record<string, unknown> = {}): Client & { closed: Promise<{ code: number; reason: string }> } {
  let closed!: (value: { code: number; reason: string }) => void;
  const closedPromise = new Promise<{ code: number; reason: string }>((resolve) => (closed = resolve));
  const client = createClient({
    url: wsUrl,
    webSocketImpl: WebSocket,
    retryAttempts: 0,
    lazy: true,
    connectionParams,
    on: {
      message: (message) => void transcript.push(JSON.stringify(message)),
      closed: (event) => closed({ code: (event as { code: number }).code, reason: String((event as { reason?: unknown }).reason ?? '') }),
    },
  });
  return Object.assign(client, { closed: closedPromise });
}

export function subscribeWs<T = any>(client: Client, query: string, variables: Record<string, unknown> = {}): Recording<T> {
  const { recording, push, end } = recorder<T>();
  const unsubscribe = client.subscribe<T>(
    { query, variables },
    {
      next: (value) => push(value as GraphQLResponse<T>),
      error: (error) => end({ error }),
      complete: () => end('complete'),
    },
  );
  return { ...recording, stop: unsubscribe };
}

/** GraphQL over SSE, distinct connections mode, as Yoga serves it. */
export function subscribeSse<T = any>(httpUrl: string, query: string, variables: Record<string, unknown> = {}, headers: Record<string, string> = {}): Recording<T> & { status: Promise<number> } {
  const { recording, push, end } = recorder<T>();
  const abort = new AbortController();
  let setStatus!: (status: number) => void;
  const status = new Promise<number>((resolve) => (setStatus = resolve));
  void (async () => {
    try {
      const response = await fetch(httpUrl, {
        method: 'POST',
        headers: { 'content-type': 'application/json', accept: 'text/event-stream', ...headers },
        body: JSON.stringify({ query, variables }),
        signal: abort.signal,
      });
      setStatus(response.status);
      if (!response.body) throw new Error('no body');
      const decoder = new TextDecoder();
      let buffer = '';
      const reader = response.body.getReader();
      for (;;) {
        const { done: ended, value: chunk } = await reader.read();
        if (ended) break;
        const text = decoder.decode(chunk, { stream: true });
        transcript.push(text);
        buffer += text;
        let boundary: number;
        while ((boundary = buffer.indexOf('\n\n')) >= 0) {
          const block = buffer.slice(0, boundary);
          buffer = buffer.slice(boundary + 2);
          const eventName = /^event: (.*)$/m.exec(block)?.[1];
          const data = block.split('\n').filter((l) => l.startsWith('data:')).map((l) => l.slice(5).trimStart()).join('\n');
          if (eventName === 'next') push(JSON.parse(data) as GraphQLResponse<T>);
          if (eventName === 'complete') {
            end('complete');
            abort.abort();
            return;
          }
        }
      }
      end('complete');
    } catch (error) {
      if (abort.signal.aborted) end('complete');
      else end({ error });
    }
  })();
  return { ...recording, status, stop: () => abort.abort() };
}

/**
 * Shared set-up of the simulator's own tests: simulators disposed after each test, a submit, a raw
 * status-stream reader, and a webhook receiver on a loopback port.
 */
import { createServer, get, type IncomingHttpHeaders, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createParser } from 'eventsource-parser';
import { atTestEnd } from '../helpers/file-end.ts';
import { startFalSimulator, type FalSimulator, type FalSimulatorOptions, type SimulatorTiming } from '../../src/fal-simulator/index.ts';

export const MODEL = 'fal-ai/kling-video/v2.5-turbo/pro/image-to-video';
export const APP = 'fal-ai/kling-video';
export const INPUT = { prompt: 'a cat surfing', image_url: 'https://example.com/cat.png' };
export const FAST: SimulatorTiming = { initialQueuePosition: 2, queueStepMs: 40, runMs: 200, logEveryMs: 30, logWindowMs: 60 };

const disposers: Array<() => Promise<void>> = [];
atTestEnd(async () => {
  await Promise.allSettled(disposers.splice(0).map((dispose) => dispose()));
});

export function onCleanup(dispose: () => Promise<void>): void {
  disposers.push(dispose);
}

export async function start(options: FalSimulatorOptions = {}): Promise<FalSimulator> {
  const sim = await startFalSimulator({ timing: FAST, ...options });
  onCleanup(() => sim.close());
  return sim;
}

/** Submits INPUT (or `prompt`), optionally with `?fal_webhook=`, and returns the request id. */
export async function submit(sim: FalSimulator, options: { webhook?: string; prompt?: string } = {}): Promise<string> {
  const query = options.webhook ? `?fal_webhook=${encodeURIComponent(options.webhook)}` : '';
  const response = await fetch(`${sim.url}/${MODEL}${query}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ ...INPUT, ...(options.prompt ? { prompt: options.prompt } : {}) }) });
  if (response.status !== 200) throw new Error(`submit answered ${response.status}: ${await response.text()}`);
  return ((await response.json()) as { request_id: string }).request_id;
}

export interface StreamRecording {
  status: number;
  headers: IncomingHttpHeaders;
  /** Parsed `data:` objects, in order. */
  events: Array<Record<string, any>>;
  /** Raw text received so far (comments included). */
  raw: () => string;
  /** 'end' (clean end of the response) or 'error' (socket destroyed). */
  done: Promise<'end' | 'error'>;
  response: IncomingMessage;
}

/** Opens `.../status/stream?logs=1` and records everything it sends. */
export function openStream(sim: FalSimulator, id: string): Promise<StreamRecording> {
  return new Promise((resolve, reject) => {
    const request = get(`${sim.url}/${APP}/requests/${id}/status/stream?logs=1`, (response) => {
      const events: Array<Record<string, any>> = [];
      let raw = '';
      const parser = createParser({ onEvent: (event) => events.push(JSON.parse(event.data)) });
      response.setEncoding('utf8');
      response.on('data', (chunk: string) => {
        raw += chunk;
        parser.feed(chunk);
      });
      const done = new Promise<'end' | 'error'>((settle) => {
        response.once('end', () => settle('end'));
        response.once('error', () => settle('error'));
        response.once('aborted', () => settle('error'));
      });
      resolve({ status: response.statusCode ?? 0, headers: response.headers, events, raw: () => raw, done, response });
    });
    request.on('error', reject);
  });
}

export interface Received {
  headers: IncomingHttpHeaders;
  body: string;
}

/** A webhook receiver: answers each POST with the next of `statuses` (then 200) and keeps what came. */
export async function startReceiver(statuses: number[] = []): Promise<{ url: string; received: Received[]; close(): Promise<void> }> {
  const received: Received[] = [];
  const answers = [...statuses];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      received.push({ headers: req.headers, body: Buffer.concat(chunks).toString('utf8') });
      res.writeHead(answers.shift() ?? 200).end('ok');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const close = () => new Promise<void>((resolve) => server.close(() => resolve()));
  onCleanup(close);
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/fal/webhook`, received, close };
}

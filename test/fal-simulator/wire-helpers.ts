/**
 * Helpers of the simulator's raw-wire tests: simulators closed after each test, calls over undici,
 * the queue operations, and fal's official client pointed at a simulator.
 */
import { expect } from 'vitest';
import { atTestEnd } from '../helpers/file-end.ts';
import { request } from 'undici';
import { createFalClient } from '@fal-ai/client';
import { startFalSimulator } from '../../src/fal-simulator/index.ts';
import type { FalSimulator, FalSimulatorOptions, SimulatorTiming } from '../../src/fal-simulator/index.ts';

export const MODEL = 'fal-ai/kling-video/v2.5-turbo/pro/image-to-video';
export const APP = 'fal-ai/kling-video';
export const INPUT = { prompt: 'a cat surfing', image_url: 'https://example.com/cat.png' };
export const FAST: SimulatorTiming = { initialQueuePosition: 3, queueStepMs: 30, runMs: 150, logEveryMs: 20, logWindowMs: 60 };
/** Slower queue steps for tests that expect to see every single state as an event. */
export const STEPPED: SimulatorTiming = { ...FAST, queueStepMs: 200 };

const running: FalSimulator[] = [];
atTestEnd(async () => {
  await Promise.all(running.splice(0).map((sim) => sim.close()));
});

export async function start(options: FalSimulatorOptions = {}): Promise<FalSimulator> {
  const sim = await startFalSimulator({ timing: FAST, recordRequests: true, ...options });
  running.push(sim);
  return sim;
}

/** Polls `probe` until it returns something other than undefined/false, or fails after `timeoutMs`. */
export async function waitFor<T>(probe: () => Promise<T | undefined | false> | T | undefined | false, timeoutMs = 3000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

export interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
  json: any; // parsed JSON body (undefined when not JSON); loose on purpose for terse assertions
}

export async function call(sim: FalSimulator, method: 'GET' | 'POST' | 'PUT', path: string, options: { body?: unknown; auth?: string } = {}): Promise<Answer> {
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  if (options.auth) headers.authorization = options.auth;
  const res = await request(`${sim.url}${path}`, {
    method,
    headers,
    body: options.body === undefined ? undefined : JSON.stringify(options.body),
  });
  const text = await res.body.text();
  let json: unknown = undefined;
  try {
    json = JSON.parse(text);
  } catch {
    // not JSON (malformed fault, files)
  }
  return { status: res.statusCode, headers: res.headers, text, json };
}

export const submit = (sim: FalSimulator, input: unknown = INPUT, auth?: string) => call(sim, 'POST', `/${MODEL}`, { body: input, auth });
export const status = (sim: FalSimulator, id: string, query = '') => call(sim, 'GET', `/${APP}/requests/${id}/status${query}`);
export const result = (sim: FalSimulator, id: string) => call(sim, 'GET', `/${APP}/requests/${id}`);
export const cancel = (sim: FalSimulator, id: string) => call(sim, 'PUT', `/${APP}/requests/${id}/cancel`);

export async function submitId(sim: FalSimulator, input: unknown = INPUT): Promise<string> {
  const answer = await submit(sim, input);
  expect(answer.status).toBe(200);
  return answer.json.request_id as string;
}

export const untilCompleted = (sim: FalSimulator, id: string) =>
  waitFor(async () => {
    const answer = await status(sim, id);
    return answer.json.status === 'COMPLETED' && answer;
  });

export function officialClient(sim: FalSimulator) {
  return createFalClient({
    credentials: 'test-id:test-secret',
    requestMiddleware: async (req) => ({ ...req, url: req.url.replace(/^https:\/\/queue\.fal\.run/, sim.url) }),
  });
}

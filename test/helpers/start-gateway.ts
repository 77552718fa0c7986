/**
 * A real gateway on a loopback port, talking over real HTTP to a real fal simulator, with a
 * capturing logger. Whatever a test forgets to dispose is disposed after its file (file-end.ts).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { Writable } from 'node:stream';
import { expect } from 'vitest';
import { createApp, type App, type AppOptions } from '../../src/app.ts';
import { loadConfig } from '../../src/config.ts';
import { startFalSimulator, type FalSimulator, type FalSimulatorOptions } from '../../src/fal-simulator/index.ts';
import { post, transcript } from './clients.ts';
import { issuedTokens } from './tokens.ts';
import { atFileEnd } from './file-end.ts';

/** The upstream credential every test gateway uses; a test asserts it never leaks. */
export const TEST_FAL_KEY = 'fal-test-key-id:fal-test-secret-9f8e7d6c5b4a';

export const FAST_TIMING = { initialQueuePosition: 3, queueStepMs: 40, runMs: 200, logEveryMs: 30, logWindowMs: 60 };

export interface TestGateway {
  app: App;
  httpUrl: string;
  wsUrl: string;
  baseUrl: string;
  simulator: FalSimulator;
  sqlitePath: string;
  /** Every log line the gateway wrote, as text. */
  logs: string[];
  gql<T = Record<string, any>>(query: string, variables?: Record<string, unknown>, headers?: Record<string, string>): ReturnType<typeof post<T>>;
  dispose(): Promise<void>;
}

export interface TestGatewayOptions {
  env?: Record<string, string>;
  simulator?: FalSimulatorOptions;
  /** Reuse a running simulator (its owner disposes it). */
  sharedSimulator?: FalSimulator;
  /** Reuse a database file (restart tests). */
  sqlitePath?: string;
  /** Extra app options (e.g. a fake billing port). */
  app?: Partial<AppOptions>;
}

const leftovers = new Set<() => Promise<void>>();
const tempDirs: string[] = [];
/** Every log line of every gateway this file started. */
const allLogs: string[][] = [];
atFileEnd(async () => {
  await Promise.allSettled([...leftovers].map((dispose) => dispose()));
  leftovers.clear();
  for (const dir of tempDirs.splice(0)) rmSync(dir, { recursive: true, force: true });
  // The upstream key appears in no response and no log line, in any test file that starts a gateway.
  const seen = [...transcript.splice(0), ...allLogs.splice(0).flat()];
  assertNoCredential(seen);
  assertNoToken(seen);
});

/** No token minted by test/helpers/tokens.ts (nor its signature) appears in `texts`. */
export function assertNoToken(texts: string[]) {
  const needles = [...issuedTokens].flatMap((token) => [token, token.split('.')[2] ?? '']).filter((n) => n.length >= 16);
  const leaks = texts.filter((t) => needles.some((needle) => t.includes(needle)));
  expect(leaks, 'a token leaked into a response, a log line or a metric').toEqual([]);
}

export function assertNoCredential(texts: string[]) {
  const [keyId, keySecret] = TEST_FAL_KEY.split(':') as [string, string];
  const leaks = texts.filter((t) => t.includes(keySecret) || t.includes(keyId));
  expect(leaks, 'the upstream key leaked into a response or a log line').toEqual([]);
}

export function tempSqlitePath(): string {
  const dir = mkdtempSync(join(tmpdir(), 'gateway-test-'));
  tempDirs.push(dir);
  return join(dir, 'gateway.sqlite');
}

export async function startSimulator(options: FalSimulatorOptions = {}): Promise<FalSimulator> {
  const simulator = await startFalSimulator({ apiKey: TEST_FAL_KEY, recordRequests: true, ...options, timing: { ...FAST_TIMING, ...options.timing } });
  const dispose = () => simulator.close();
  leftovers.add(dispose);
  return simulator;
}

export async function startTestGateway(options: TestGatewayOptions = {}): Promise<TestGateway> {
  const simulator = options.sharedSimulator ?? (await startSimulator(options.simulator));
  const sqlitePath = options.sqlitePath ?? tempSqlitePath();
  const logs: string[] = [];
  allLogs.push(logs);
  const destination = new Writable({
    write(chunk, _encoding, callback) {
      logs.push(String(chunk));
      callback();
    },
  });
  const config = loadConfig({
    PORT: '0',
    HOST: '127.0.0.1',
    FAL_KEY: TEST_FAL_KEY,
    FAL_QUEUE_URL: simulator.url,
    FAL_API_URL: simulator.url,
    POLL_INTERVAL_MS: '25',
    SQLITE_PATH: sqlitePath,
    LOG_LEVEL: 'debug',
    SHUTDOWN_TIMEOUT_MS: '1000',
    // Uploads go to the simulator's storage; durable copies are off unless a test turns them on
    // (test/media/*), and then land in a temporary folder and come from the simulator's host only.
    FAL_STORAGE_URL: simulator.url,
    MEDIA_STORE: 'off',
    MEDIA_DIR: join(dirname(sqlitePath), 'media'),
    MEDIA_SOURCE_HOSTS: new URL(simulator.url).host,
    // The first release's tests measure polling; stream and webhook tests opt in (FAL_UPDATES: 'stream').
    FAL_UPDATES: 'poll',
    ...options.env,
  });
  const app = await createApp(config, { logDestination: destination, upstreamRetry: { maxRetries: 2, baseDelayMs: 20, maxDelayMs: 200 }, ...options.app });
  const { httpUrl, wsUrl } = await app.start();
  let disposed = false;
  const dispose = async () => {
    if (disposed) return;
    disposed = true;
    leftovers.delete(dispose);
    await app.stop();
    if (!options.sharedSimulator) {
      await simulator.close();
    }
  };
  leftovers.add(dispose);
  return {
    app,
    httpUrl,
    wsUrl,
    baseUrl: httpUrl.replace(/\/graphql$/, ''),
    simulator,
    sqlitePath,
    logs,
    gql: (query, variables, headers) => post(httpUrl, query, variables, headers),
    dispose,
  };
}

export const JOB_FIELDS = `id requestId model status queuePosition logs { message level timestamp } video { url contentType fileName fileSize } error { message code } input { prompt imageUrl duration negativePrompt cfgScale } createdAt updatedAt completedAt`;

export const SUBMIT = `mutation Submit($input: GenerateVideoInput!) { generateVideo(input: $input) { ${JOB_FIELDS} } }`;
export const FOLLOW = `subscription Follow($id: ID!) { jobUpdates(id: $id) { ${JOB_FIELDS} } }`;
export const GET_JOB = `query Job($id: ID!) { job(id: $id) { ${JOB_FIELDS} } }`;
export const CANCEL = `mutation Cancel($id: ID!) { cancelJob(id: $id) { ${JOB_FIELDS} } }`;

export const validInput = (overrides: Record<string, unknown> = {}) => ({
  prompt: 'A cat surfing a wave at sunset',
  imageUrl: 'https://images.example.com/cat.png',
  ...overrides,
});

/** Submits a job and returns it (fails the test on errors). */
export async function submitJob(gateway: TestGateway, overrides: Record<string, unknown> = {}, headers: Record<string, string> = {}) {
  const response = await gateway.gql<{ generateVideo: any }>(SUBMIT, { input: validInput(overrides) }, headers);
  if (response.errors || !response.data) throw new Error(`submit failed: ${response.raw}`);
  return response.data.generateVideo;
}

/** Parent side: starting the gateway child (server.ts) and the floor child (raw-ws-server.ts), submitting jobs. */
import { fileURLToPath } from 'node:url';
import type { SimulatorTiming } from '../../src/fal-simulator/index.ts';
import { post } from '../../test/helpers/clients.ts';
import { within } from '../../test/helpers/wait-for.ts';
import { startNodeFlags } from '../start-flags.ts';
import { spawnChild, STRIP_TYPES_FLAGS, type Child, type Machine } from './proc.ts';

export const SERVER_SCRIPT = fileURLToPath(new URL('./server.ts', import.meta.url));
export const RAW_SCRIPT = fileURLToPath(new URL('./raw-ws-server.ts', import.meta.url));

/** The production gateway's node flags (package.json's start script) that spawnChild does not add itself. */
export const GATEWAY_NODE_FLAGS = startNodeFlags().filter((flag) => !STRIP_TYPES_FLAGS.includes(flag));

/** Core of the servers under test; the load generator runs on LOAD_CORE. */
export const SERVER_CORE = 0;
export const LOAD_CORE = 1;

/** Descriptors asked for in every child (the box allows about 20,000 per process). */
export const CHILD_NOFILE = 20_000;

export interface GatewayInfo {
  httpUrl: string;
  wsUrl: string;
  port: number;
  simulatorUrl: string;
  falKey: string;
  model: string;
  pollIntervalMs: number;
}

export interface RawInfo {
  wsUrl: string;
  port: number;
}

/** The gateway environment of every bench: open tenant, generous quotas, quiet logs, in-memory store. */
export function gatewayEnv(pollMs: number, extra: Record<string, string> = {}): Record<string, string> {
  return {
    PORT: '0',
    HOST: '127.0.0.1',
    FAL_KEY: '',
    BENCH_FAL_KEY: 'bench-fal-key',
    SQLITE_PATH: ':memory:',
    LOG_LEVEL: 'warn',
    GATEWAY_API_KEYS: '',
    POLL_INTERVAL_MS: String(pollMs),
    TENANT_MAX_SUBSCRIPTIONS: '100000',
    TENANT_MAX_WS_CONNECTIONS: '100000',
    TENANT_MAX_ACTIVE_JOBS: '0', // 0 = no limit: the quota is not counted at all
    TENANT_SUBMITS_PER_MINUTE: '0',
    MAX_ACTIVE_JOBS: '0',
    // The first release's scenarios measure polling (change->delivery against I, status calls per
    // job); the push scenario sets FAL_UPDATES=stream itself.
    FAL_UPDATES: 'poll',
    ...extra,
  };
}

export function startGateway(machine: Machine, options: { pollMs: number; timing: Partial<SimulatorTiming>; env?: Record<string, string>; exposeGc?: boolean; nodeFlags?: string[] }): Promise<Child<GatewayInfo>> {
  const env = gatewayEnv(options.pollMs, { BENCH_SIM_TIMING: JSON.stringify(options.timing), ...options.env });
  // GATEWAY_API_KEYS must be unset (not empty) for the open tenant; the child drops empty values (loadConfig does).
  return spawnChild<GatewayInfo>({
    script: SERVER_SCRIPT,
    env,
    machine,
    core: SERVER_CORE,
    nofile: CHILD_NOFILE,
    // Production's flags first: a flag given again later (options.nodeFlags) overrides it.
    nodeFlags: [...GATEWAY_NODE_FLAGS, ...(options.exposeGc ? ['--expose-gc'] : []), ...(options.nodeFlags ?? [])],
  });
}

export function startRaw(machine: Machine, options: { exposeGc?: boolean } = {}): Promise<Child<RawInfo>> {
  return spawnChild<RawInfo>({ script: RAW_SCRIPT, env: {}, machine, core: SERVER_CORE, nofile: CHILD_NOFILE, nodeFlags: options.exposeGc ? ['--expose-gc'] : [] });
}

export const IMAGE_URL = 'https://images.example.com/bench/cat.png';

export const SUBMIT_MUTATION = 'mutation Submit($input: GenerateVideoInput!) { generateVideo(input: $input) { id requestId status queuePosition } }';

export interface SubmittedJob {
  id: string;
  requestId: string;
  status: string;
}

export async function submitJob(httpUrl: string, prompt: string): Promise<SubmittedJob> {
  const input = { prompt, imageUrl: IMAGE_URL, duration: 'SECONDS_5' };
  const body = await within(post<{ generateVideo?: SubmittedJob }>(httpUrl, SUBMIT_MUTATION, { input }), 30_000, 'a generateVideo submit');
  if (!body.data?.generateVideo) throw new Error(`submit failed (${body.status}): ${JSON.stringify(body.errors ?? body.raw)}`);
  return body.data.generateVideo;
}

/**
 * The environment, parsed and checked once at start-up into a frozen Config. Every mistake is
 * reported (all of them, one line each) before anything starts. The fal key is kept behind a
 * function so that printing the config can never print it.
 */
import { z } from 'zod';

export const DEFAULT_MODEL = 'fal-ai/kling-video/v2.5-turbo/pro/image-to-video';

export interface Secret {
  /** The value; call only where it is sent. */
  reveal(): string;
  toString(): string;
  toJSON(): string;
}

export function secret(value: string): Secret {
  const redacted = '[redacted]';
  return { reveal: () => value, toString: () => redacted, toJSON: () => redacted };
}

export interface Config {
  port: number;
  host: string;
  /** null: use the built-in simulator. */
  falKey: Secret | null;
  falAuthScheme: 'Key' | 'Bearer';
  falQueueUrl: string;
  falModel: string;
  pollIntervalMs: number;
  pollConcurrency: number;
  sqlitePath: string;
  redisUrl: string | null;
  /** key -> tenant; null = one open tenant. */
  apiKeys: ReadonlyMap<string, string> | null;
  logLevel: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';
  upstreamTimeoutMs: number;
  shutdownTimeoutMs: number;
}

const integer = (name: string, min: number, max: number) =>
  z.coerce
    .number({ error: `${name} must be a number` })
    .int(`${name} must be a whole number`)
    .min(min, `${name} must be at least ${min}`)
    .max(max, `${name} must be at most ${max}`);

const httpUrl = (name: string) =>
  z.string().refine((v) => {
    try {
      const u = new URL(v);
      return u.protocol === 'http:' || u.protocol === 'https:';
    } catch {
      return false;
    }
  }, `${name} must be an http(s) URL`);

const envSchema = z.object({
  PORT: integer('PORT', 0, 65535).default(4000),
  HOST: z.string().min(1).default('0.0.0.0'),
  FAL_KEY: z.string().optional(),
  FAL_AUTH_SCHEME: z.enum(['Key', 'Bearer'], { error: 'FAL_AUTH_SCHEME must be Key or Bearer' }).default('Key'),
  FAL_QUEUE_URL: httpUrl('FAL_QUEUE_URL').default('https://queue.fal.run'),
  FAL_MODEL: z
    .string()
    .regex(/^[\w.-]+\/[\w.-]+(\/[\w.-]+)*$/, 'FAL_MODEL must be an endpoint id like owner/app[/path]')
    .default(DEFAULT_MODEL),
  POLL_INTERVAL_MS: integer('POLL_INTERVAL_MS', 10, 3_600_000).default(1000),
  POLL_CONCURRENCY: integer('POLL_CONCURRENCY', 1, 10_000).default(64),
  SQLITE_PATH: z.string().min(1).default('./data/gateway.sqlite'),
  REDIS_URL: z
    .string()
    .regex(/^rediss?:\/\//, 'REDIS_URL must start with redis:// or rediss://')
    .optional(),
  GATEWAY_API_KEYS: z.string().optional(),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'], { error: 'LOG_LEVEL must be one of fatal, error, warn, info, debug, trace, silent' }).default('info'),
  UPSTREAM_TIMEOUT_MS: integer('UPSTREAM_TIMEOUT_MS', 100, 600_000).default(30_000),
  SHUTDOWN_TIMEOUT_MS: integer('SHUTDOWN_TIMEOUT_MS', 0, 600_000).default(10_000),
});

export class ConfigError extends Error {
  override name = 'ConfigError';
  readonly problems: string[];
  constructor(problems: string[]) {
    super(`Invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.problems = problems;
  }
}

/** Parses `env` (pass process.env); throws ConfigError listing every problem. */
export function loadConfig(env: Record<string, string | undefined>): Config {
  const present = Object.fromEntries(Object.entries(env).filter(([, v]) => v !== undefined && v !== ''));
  const parsed = envSchema.safeParse(present);
  if (!parsed.success) throw new ConfigError(parsed.error.issues.map((i) => i.message));
  const e = parsed.data;
  const problems: string[] = [];
  const apiKeys = e.GATEWAY_API_KEYS === undefined ? null : parseApiKeys(e.GATEWAY_API_KEYS, problems);
  if (problems.length > 0) throw new ConfigError(problems);
  return Object.freeze({
    port: e.PORT,
    host: e.HOST,
    falKey: e.FAL_KEY ? secret(e.FAL_KEY) : null,
    falAuthScheme: e.FAL_AUTH_SCHEME,
    falQueueUrl: e.FAL_QUEUE_URL,
    falModel: e.FAL_MODEL,
    pollIntervalMs: e.POLL_INTERVAL_MS,
    pollConcurrency: e.POLL_CONCURRENCY,
    sqlitePath: e.SQLITE_PATH,
    redisUrl: e.REDIS_URL ?? null,
    apiKeys,
    logLevel: e.LOG_LEVEL,
    upstreamTimeoutMs: e.UPSTREAM_TIMEOUT_MS,
    shutdownTimeoutMs: e.SHUTDOWN_TIMEOUT_MS,
  });
}

/** `tenant:key,tenant:key`. Problems are described without the key values. */
export function parseApiKeys(value: string, problems: string[]): Map<string, string> {
  const keys = new Map<string, string>();
  value.split(',').map((s) => s.trim()).filter(Boolean).forEach((pair, index) => {
    const at = pair.indexOf(':');
    const tenant = at > 0 ? pair.slice(0, at).trim() : '';
    const key = at > 0 ? pair.slice(at + 1).trim() : '';
    if (!tenant || !key) problems.push(`GATEWAY_API_KEYS entry ${index + 1} must look like tenant:key`);
    else if (keys.has(key)) problems.push(`GATEWAY_API_KEYS entry ${index + 1} reuses another tenant's key`);
    else keys.set(key, tenant);
  });
  if (keys.size === 0 && problems.length === 0) problems.push('GATEWAY_API_KEYS is set but holds no tenant:key pair');
  return keys;
}

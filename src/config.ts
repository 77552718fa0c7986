/**
 * The environment, parsed and checked once at start-up into a frozen Config. Every mistake is
 * reported (all of them, one line each) before anything starts. The fal key is kept behind a
 * function so that printing the config can never print it.
 */
import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { parseUsd } from './domain/money.ts';

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
  /** fal's platform API (requests, billing), and its credential: FAL_ADMIN_KEY, else the fal key. */
  falApiUrl: string;
  falAdminKey: Secret | null;
  /** How long a job whose submit outcome is unknown is looked for upstream before it is taken as never started. */
  orphanSearchMs: number;
  falModel: string;
  pollIntervalMs: number;
  pollConcurrency: number;
  sqlitePath: string;
  redisUrl: string | null;
  /** Prefix of every Redis key and channel (several gateways can share one Redis). */
  redisKeyPrefix: string;
  /** How long a replica's claim on polling a job lasts without renewal. */
  pollLeaseMs: number;
  /** key -> tenant; null = one open tenant. */
  apiKeys: ReadonlyMap<string, string> | null;
  logLevel: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';
  upstreamTimeoutMs: number;
  /** Consecutive failed upstream calls that open the circuit, and how long it stays open. */
  circuitFailures: number;
  circuitHalfOpenMs: number;
  /** Deadlines (0 = none): queue wait, and total life of a job. */
  jobMaxQueueMs: number;
  jobMaxTotalMs: number;
  /** How long finished jobs are kept (0 = forever). */
  jobRetentionMs: number;
  /** How far back `jobEvents(after:)` can replay; the event log is trimmed past it. */
  jobEventsRetentionMs: number;
  shutdownTimeoutMs: number;
  quotas: Quotas;
  limits: OperationLimits;
  auth: AuthConfig;
  money: MoneyConfig;
  media: MediaConfig;
  /** The gateway's public base URL (webhook URL given to fal). */
  publicUrl: string;
  updates: UpstreamUpdates;
}

/** JWT sign-in (beside GATEWAY_API_KEYS): HS256 with a secret, or keys from a JWKS URL; both null = no JWTs. */
export interface AuthConfig {
  jwtSecret: Secret | null;
  jwksUrl: string | null;
  issuer: string | null;
  audience: string | null;
  tenantClaim: string;
  userClaim: string;
  rolesClaim: string;
  /** Leeway for exp/nbf, in seconds. */
  clockToleranceSeconds: number;
  /** After a JWKS fetch, how long an unknown kid waits before the next fetch. */
  jwksCooldownMs: number;
}

/** Prices and budgets, in nano-dollars (domain/money.ts); a budget of 0 is no limit. */
export interface MoneyConfig {
  pricePerSecondNanos: number;
  tenantDailyBudgetNanos: number;
  userDailyBudgetNanos: number;
}

/** Uploads and durable copies of generated videos (README "Media"). */
export interface MediaConfig {
  /** fal's storage API base (image uploads). */
  falStorageUrl: string;
  /** Where durable copies live; 'off' keeps fal's URL only. */
  store: 'local' | 's3' | 'off';
  dir: string;
  /** Declares MEDIA_DIR shared by every replica (needed for `local` with REDIS_URL). */
  dirShared: boolean;
  s3: { bucket: string | null; endpoint: string | null; region: string; prefix: string; forcePathStyle: boolean; checksums: 'when_required' | 'when_supported' };
  /** Largest uploaded image, in bytes. */
  maxUploadBytes: number;
  /** Largest video copied from fal, in bytes. */
  maxVideoBytes: number;
  /** How long a COMPLETED job waits for its copy before completing with fal's URL. */
  copyWaitMs: number;
  /** Deadline of one copy attempt. */
  copyTimeoutMs: number;
  copyRetries: number;
  /** Hosts the gateway downloads media from, besides `*.fal.media` (`host`, `host:port`, `*.domain`). */
  sourceHosts: string[];
  /** Sent to fal on submits as X-Fal-Object-Lifecycle-Preference (0 = not sent). */
  falExpirationSeconds: number;
  /** Base of the URLs in Video.url; null = the listening address. */
  publicUrl: string | null;
}

/** How job changes reach the gateway from fal (FAL_UPDATES, FAL_WEBHOOK and their tuning). */
export interface UpstreamUpdates {
  mode: 'stream' | 'poll';
  maxStreams: number;
  streamStallMs: number;
  safetyNetPollMs: number;
  streamReconnectMs: number;
  webhook: boolean;
  /** null: fal's (FAL_WEBHOOK_JWKS_DEFAULT), or the built-in simulator's when no FAL_KEY is set. */
  webhookJwksUrl: string | null;
}

export const FAL_WEBHOOK_JWKS_DEFAULT = 'https://rest.alpha.fal.ai/.well-known/jwks.json';

/** Per-tenant quotas (0 = no limit) and the global cap on unfinished upstream jobs. */
export interface Quotas {
  activeJobsPerTenant: number;
  submitsPerMinutePerTenant: number;
  subscriptionsPerTenant: number;
  wsConnectionsPerTenant: number;
  activeJobsTotal: number;
  activeJobsPerUser: number;
  submitsPerMinutePerUser: number;
}

/** Limits on what one request may ask, on every transport. */
export interface OperationLimits {
  maxDepth: number;
  maxAliases: number;
  maxTokens: number;
  maxCost: number;
  maxBodyBytes: number;
  /** Largest uploaded image (multipart bodies may be this much larger than maxBodyBytes). */
  maxUploadBytes: number;
  maxWsMessageBytes: number;
  wsInitTimeoutMs: number;
  /** Depth of an introspection query, counted from `__schema` / `__type` (GRAPHQL_MAX_DEPTH skips `__schema`). */
  maxIntrospectionDepth: number;
  /** Queries and mutations one WebSocket may have running at once; past it, the socket is not read. */
  wsMaxOperationsInFlight: number;
  /** Unread bytes queued for one WebSocket; past it, the socket is closed (1008). */
  wsMaxBufferedBytes: number;
  /** How long a client may take to send a whole HTTP request (headers and body); then 408. */
  requestTimeoutMs: number;
  /** KEEPALIVE_MS: WebSocket ping and SSE comment interval on open subscriptions. */
  keepAliveMs: number;
  introspection: boolean;
  fieldSuggestions: boolean;
  csrfPrevention: boolean;
  /** Allowed browser origins; ['*'] = any; [] = no CORS headers. */
  corsOrigins: string[];
}

const integer = (name: string, min: number, max: number) =>
  z.coerce
    .number({ error: `${name} must be a number` })
    .int(`${name} must be a whole number`)
    .min(min, `${name} must be at least ${min}`)
    .max(max, `${name} must be at most ${max}`);

const boolean = (name: string) =>
  z
    .enum(['true', 'false', '1', '0', 'yes', 'no'], { error: `${name} must be true or false` })
    .transform((v) => v === 'true' || v === '1' || v === 'yes');

const httpUrl = (name: string) =>
  z.string().refine((v) => {
    try {
      const u = new URL(v);
      return u.protocol === 'http:' || u.protocol === 'https:';
    } catch {
      return false;
    }
  }, `${name} must be an http(s) URL`);

const usd = (name: string) =>
  z.string().transform((v, ctx) => {
    const nanos = parseUsd(v);
    if (nanos === null) ctx.addIssue({ code: 'custom', message: `${name} must be a decimal amount of dollars like 0.07 (at most 9 decimals)` });
    return nanos ?? 0;
  });

const envSchema = z.object({
  PORT: integer('PORT', 0, 65535).default(4000),
  HOST: z.string().min(1).default('0.0.0.0'),
  FAL_KEY: z.string().optional(),
  FAL_AUTH_SCHEME: z.enum(['Key', 'Bearer'], { error: 'FAL_AUTH_SCHEME must be Key or Bearer' }).default('Key'),
  FAL_QUEUE_URL: httpUrl('FAL_QUEUE_URL').default('https://queue.fal.run'),
  FAL_API_URL: httpUrl('FAL_API_URL').default('https://api.fal.ai'),
  FAL_ADMIN_KEY: z.string().optional(),
  ORPHAN_SEARCH_MS: integer('ORPHAN_SEARCH_MS', 100, 86_400_000).default(600_000),
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
  REDIS_KEY_PREFIX: z.string().regex(/^[\w:.-]*$/, 'REDIS_KEY_PREFIX may hold letters, digits and _ : . - only').default('fal-gateway:'),
  POLL_LEASE_MS: integer('POLL_LEASE_MS', 100, 3_600_000).optional(),
  GATEWAY_API_KEYS: z.string().optional(),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'], { error: 'LOG_LEVEL must be one of fatal, error, warn, info, debug, trace, silent' }).default('info'),
  UPSTREAM_TIMEOUT_MS: integer('UPSTREAM_TIMEOUT_MS', 100, 600_000).default(30_000),
  SHUTDOWN_TIMEOUT_MS: integer('SHUTDOWN_TIMEOUT_MS', 0, 600_000).default(10_000),
  JOB_MAX_QUEUE_MS: integer('JOB_MAX_QUEUE_MS', 0, 30 * 86_400_000).default(3_600_000),
  JOB_MAX_TOTAL_MS: integer('JOB_MAX_TOTAL_MS', 0, 30 * 86_400_000).default(7_200_000),
  JOB_RETENTION_MS: integer('JOB_RETENTION_MS', 0, 3650 * 86_400_000).default(7 * 86_400_000),
  JOB_EVENTS_RETENTION_MS: integer('JOB_EVENTS_RETENTION_MS', 1000, 3650 * 86_400_000).default(86_400_000),
  UPSTREAM_CIRCUIT_FAILURES: integer('UPSTREAM_CIRCUIT_FAILURES', 1, 10_000).default(5),
  UPSTREAM_CIRCUIT_OPEN_MS: integer('UPSTREAM_CIRCUIT_OPEN_MS', 100, 3_600_000).default(10_000),
  TENANT_MAX_ACTIVE_JOBS: integer('TENANT_MAX_ACTIVE_JOBS', 0, 1_000_000).default(50),
  TENANT_SUBMITS_PER_MINUTE: integer('TENANT_SUBMITS_PER_MINUTE', 0, 1_000_000).default(60),
  TENANT_MAX_SUBSCRIPTIONS: integer('TENANT_MAX_SUBSCRIPTIONS', 0, 10_000_000).default(1000),
  TENANT_MAX_WS_CONNECTIONS: integer('TENANT_MAX_WS_CONNECTIONS', 0, 10_000_000).default(500),
  MAX_ACTIVE_JOBS: integer('MAX_ACTIVE_JOBS', 0, 10_000_000).default(500),
  GRAPHQL_MAX_DEPTH: integer('GRAPHQL_MAX_DEPTH', 1, 100).default(8),
  GRAPHQL_MAX_ALIASES: integer('GRAPHQL_MAX_ALIASES', 0, 1000).default(15),
  GRAPHQL_MAX_TOKENS: integer('GRAPHQL_MAX_TOKENS', 10, 1_000_000).default(1000),
  GRAPHQL_MAX_COST: integer('GRAPHQL_MAX_COST', 1, 10_000_000).default(5000),
  MAX_BODY_BYTES: integer('MAX_BODY_BYTES', 1024, 100 * 1024 * 1024).default(64 * 1024),
  WS_MAX_MESSAGE_BYTES: integer('WS_MAX_MESSAGE_BYTES', 1024, 100 * 1024 * 1024).default(64 * 1024),
  WS_INIT_TIMEOUT_MS: integer('WS_INIT_TIMEOUT_MS', 100, 600_000).default(3000),
  GRAPHQL_MAX_INTROSPECTION_DEPTH: integer('GRAPHQL_MAX_INTROSPECTION_DEPTH', 1, 100).default(20),
  WS_MAX_OPERATIONS_IN_FLIGHT: integer('WS_MAX_OPERATIONS_IN_FLIGHT', 1, 100_000).default(8),
  WS_MAX_BUFFERED_BYTES: integer('WS_MAX_BUFFERED_BYTES', 64 * 1024, 1024 * 1024 * 1024).default(4 * 1024 * 1024),
  REQUEST_TIMEOUT_MS: integer('REQUEST_TIMEOUT_MS', 100, 3_600_000).default(60_000),
  KEEPALIVE_MS: integer('KEEPALIVE_MS', 100, 600_000).default(12_000),
  GRAPHQL_INTROSPECTION: boolean('GRAPHQL_INTROSPECTION').default(true),
  GRAPHQL_FIELD_SUGGESTIONS: boolean('GRAPHQL_FIELD_SUGGESTIONS').default(true),
  CSRF_PREVENTION: boolean('CSRF_PREVENTION').default(true),
  CORS_ORIGINS: z.string().default('*'),
  USER_MAX_ACTIVE_JOBS: integer('USER_MAX_ACTIVE_JOBS', 0, 1_000_000).default(0),
  USER_SUBMITS_PER_MINUTE: integer('USER_SUBMITS_PER_MINUTE', 0, 1_000_000).default(0),
  AUTH_JWT_SECRET: z.string().min(32, 'AUTH_JWT_SECRET must be at least 32 characters').optional(),
  AUTH_JWKS_URL: httpUrl('AUTH_JWKS_URL').optional(),
  AUTH_JWT_ISSUER: z.string().optional(),
  AUTH_JWT_AUDIENCE: z.string().optional(),
  AUTH_TENANT_CLAIM: z.string().min(1).default('tenant'),
  AUTH_USER_CLAIM: z.string().min(1).default('sub'),
  AUTH_ROLES_CLAIM: z.string().min(1).default('roles'),
  AUTH_CLOCK_TOLERANCE_SECONDS: integer('AUTH_CLOCK_TOLERANCE_SECONDS', 0, 300).default(5),
  AUTH_JWKS_COOLDOWN_MS: integer('AUTH_JWKS_COOLDOWN_MS', 0, 3_600_000).default(30_000),
  PRICE_PER_SECOND_USD: usd('PRICE_PER_SECOND_USD').default(70_000_000),
  TENANT_DAILY_BUDGET_USD: usd('TENANT_DAILY_BUDGET_USD').default(0),
  USER_DAILY_BUDGET_USD: usd('USER_DAILY_BUDGET_USD').default(0),
  PUBLIC_URL: httpUrl('PUBLIC_URL').optional(),
  FAL_STORAGE_URL: httpUrl('FAL_STORAGE_URL').default('https://rest.fal.ai'),
  MEDIA_STORE: z.enum(['local', 's3', 'off'], { error: 'MEDIA_STORE must be local, s3 or off' }).default('local'),
  MEDIA_DIR: z.string().min(1).default('./data/media'),
  MEDIA_DIR_SHARED: boolean('MEDIA_DIR_SHARED').default(false),
  S3_BUCKET: z.string().min(1).optional(),
  S3_ENDPOINT: httpUrl('S3_ENDPOINT').optional(),
  S3_REGION: z.string().min(1).default('us-east-1'),
  S3_PREFIX: z.string().regex(/^[\w!.*'()/-]*$/, 'S3_PREFIX may hold letters, digits and _ ! . * \' ( ) / - only').default(''),
  S3_FORCE_PATH_STYLE: boolean('S3_FORCE_PATH_STYLE').default(false),
  S3_CHECKSUMS: z.enum(['when_required', 'when_supported'], { error: 'S3_CHECKSUMS must be when_required or when_supported' }).optional(),
  MAX_UPLOAD_BYTES: integer('MAX_UPLOAD_BYTES', 1024, 100 * 1024 * 1024).default(10 * 1024 * 1024),
  MEDIA_MAX_VIDEO_BYTES: integer('MEDIA_MAX_VIDEO_BYTES', 1024, 10 * 1024 * 1024 * 1024).default(1024 * 1024 * 1024),
  MEDIA_COPY_WAIT_MS: integer('MEDIA_COPY_WAIT_MS', 0, 600_000).default(10_000),
  MEDIA_COPY_TIMEOUT_MS: integer('MEDIA_COPY_TIMEOUT_MS', 100, 3_600_000).default(120_000),
  MEDIA_COPY_RETRIES: integer('MEDIA_COPY_RETRIES', 0, 100).default(3),
  MEDIA_SOURCE_HOSTS: z.string().default(''),
  FAL_MEDIA_EXPIRATION_SECONDS: integer('FAL_MEDIA_EXPIRATION_SECONDS', 0, 10 * 365 * 86_400).default(86_400),
  FAL_UPDATES: z.enum(['stream', 'poll'], { error: 'FAL_UPDATES must be stream or poll' }).default('stream'),
  FAL_WEBHOOK: z.enum(['on', 'off'], { error: 'FAL_WEBHOOK must be on or off' }).default('off'),
  FAL_WEBHOOK_JWKS_URL: httpUrl('FAL_WEBHOOK_JWKS_URL').optional(),
  UPSTREAM_MAX_STREAMS: integer('UPSTREAM_MAX_STREAMS', 0, 100_000).default(256),
  STREAM_STALL_MS: integer('STREAM_STALL_MS', 50, 600_000).default(20_000),
  STREAM_SAFETY_POLL_MS: integer('STREAM_SAFETY_POLL_MS', 10, 3_600_000).default(30_000),
  STREAM_RECONNECT_MS: integer('STREAM_RECONNECT_MS', 1, 600_000).default(500),
});

export class ConfigError extends Error {
  override name = 'ConfigError';
  readonly problems: string[];
  constructor(problems: string[]) {
    super(`Invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.problems = problems;
  }
}

/** Start-up cannot go on for a reason the operator can fix (a port in use, ...): its message is one line saying how. */
export class StartupError extends Error {
  override name = 'StartupError';
}

/** Parses `env` (the process environment, from main.ts); throws ConfigError listing every problem. */
export function loadConfig(env: Record<string, string | undefined>): Config {
  const present = Object.fromEntries(Object.entries(env).filter(([, v]) => v !== undefined && v !== ''));
  const parsed = envSchema.safeParse(present);
  const problems = parsed.success ? [] : parsed.error.issues.map((i) => i.message);
  if (present.AUTH_JWT_SECRET && present.AUTH_JWKS_URL) problems.push('set one of AUTH_JWT_SECRET and AUTH_JWKS_URL, not both');
  // Checked even when other variables are wrong, so that every mistake is reported at once.
  const rawKeys = typeof present.GATEWAY_API_KEYS === 'string' ? present.GATEWAY_API_KEYS : undefined;
  const apiKeys = rawKeys === undefined ? null : parseApiKeys(readKeysValue(rawKeys, problems), problems);
  if (present.FAL_QUEUE_URL !== undefined && present.FAL_KEY === undefined) {
    problems.push('FAL_KEY is required when FAL_QUEUE_URL is set (for `npm run simulator`: FAL_KEY=simulator-key)');
  }
  if (parsed.success) problems.push(...mediaProblems(parsed.data));
  if (!parsed.success || problems.length > 0) throw new ConfigError(problems);
  const e = parsed.data;
  return Object.freeze({
    port: e.PORT,
    host: e.HOST,
    falKey: e.FAL_KEY ? secret(e.FAL_KEY) : null,
    falAuthScheme: e.FAL_AUTH_SCHEME,
    falQueueUrl: e.FAL_QUEUE_URL,
    falApiUrl: e.FAL_API_URL,
    falAdminKey: e.FAL_ADMIN_KEY ? secret(e.FAL_ADMIN_KEY) : null,
    orphanSearchMs: e.ORPHAN_SEARCH_MS,
    falModel: e.FAL_MODEL,
    pollIntervalMs: e.POLL_INTERVAL_MS,
    pollConcurrency: e.POLL_CONCURRENCY,
    sqlitePath: e.SQLITE_PATH,
    redisUrl: e.REDIS_URL ?? null,
    redisKeyPrefix: e.REDIS_KEY_PREFIX,
    pollLeaseMs: e.POLL_LEASE_MS ?? Math.max(3 * e.POLL_INTERVAL_MS, 3000),
    apiKeys,
    logLevel: e.LOG_LEVEL,
    upstreamTimeoutMs: e.UPSTREAM_TIMEOUT_MS,
    shutdownTimeoutMs: e.SHUTDOWN_TIMEOUT_MS,
    circuitFailures: e.UPSTREAM_CIRCUIT_FAILURES,
    circuitHalfOpenMs: e.UPSTREAM_CIRCUIT_OPEN_MS,
    jobMaxQueueMs: e.JOB_MAX_QUEUE_MS,
    jobMaxTotalMs: e.JOB_MAX_TOTAL_MS,
    jobRetentionMs: e.JOB_RETENTION_MS,
    jobEventsRetentionMs: e.JOB_EVENTS_RETENTION_MS,
    quotas: Object.freeze({
      activeJobsPerTenant: e.TENANT_MAX_ACTIVE_JOBS,
      submitsPerMinutePerTenant: e.TENANT_SUBMITS_PER_MINUTE,
      subscriptionsPerTenant: e.TENANT_MAX_SUBSCRIPTIONS,
      wsConnectionsPerTenant: e.TENANT_MAX_WS_CONNECTIONS,
      activeJobsTotal: e.MAX_ACTIVE_JOBS,
      activeJobsPerUser: e.USER_MAX_ACTIVE_JOBS,
      submitsPerMinutePerUser: e.USER_SUBMITS_PER_MINUTE,
    }),
    auth: Object.freeze({
      jwtSecret: e.AUTH_JWT_SECRET ? secret(e.AUTH_JWT_SECRET) : null,
      jwksUrl: e.AUTH_JWKS_URL ?? null,
      issuer: e.AUTH_JWT_ISSUER ?? null,
      audience: e.AUTH_JWT_AUDIENCE ?? null,
      tenantClaim: e.AUTH_TENANT_CLAIM,
      userClaim: e.AUTH_USER_CLAIM,
      rolesClaim: e.AUTH_ROLES_CLAIM,
      clockToleranceSeconds: e.AUTH_CLOCK_TOLERANCE_SECONDS,
      jwksCooldownMs: e.AUTH_JWKS_COOLDOWN_MS,
    }),
    money: Object.freeze({
      pricePerSecondNanos: e.PRICE_PER_SECOND_USD,
      tenantDailyBudgetNanos: e.TENANT_DAILY_BUDGET_USD,
      userDailyBudgetNanos: e.USER_DAILY_BUDGET_USD,
    }),
    limits: Object.freeze({
      maxDepth: e.GRAPHQL_MAX_DEPTH,
      maxAliases: e.GRAPHQL_MAX_ALIASES,
      maxTokens: e.GRAPHQL_MAX_TOKENS,
      maxCost: e.GRAPHQL_MAX_COST,
      maxBodyBytes: e.MAX_BODY_BYTES,
      maxUploadBytes: e.MAX_UPLOAD_BYTES,
      maxWsMessageBytes: e.WS_MAX_MESSAGE_BYTES,
      wsInitTimeoutMs: e.WS_INIT_TIMEOUT_MS,
      maxIntrospectionDepth: e.GRAPHQL_MAX_INTROSPECTION_DEPTH,
      wsMaxOperationsInFlight: e.WS_MAX_OPERATIONS_IN_FLIGHT,
      wsMaxBufferedBytes: e.WS_MAX_BUFFERED_BYTES,
      requestTimeoutMs: e.REQUEST_TIMEOUT_MS,
      keepAliveMs: e.KEEPALIVE_MS,
      introspection: e.GRAPHQL_INTROSPECTION,
      fieldSuggestions: e.GRAPHQL_FIELD_SUGGESTIONS,
      csrfPrevention: e.CSRF_PREVENTION,
      corsOrigins: e.CORS_ORIGINS.split(',').map((o) => o.trim()).filter(Boolean),
    }),
    media: Object.freeze({
      falStorageUrl: e.FAL_STORAGE_URL,
      store: e.MEDIA_STORE,
      dir: e.MEDIA_DIR,
      dirShared: e.MEDIA_DIR_SHARED,
      s3: Object.freeze({
        bucket: e.S3_BUCKET ?? null,
        endpoint: e.S3_ENDPOINT ?? null,
        region: e.S3_REGION,
        prefix: e.S3_PREFIX,
        forcePathStyle: e.S3_FORCE_PATH_STYLE,
        // AWS itself handles the SDK's default checksums; many S3-compatible servers do not.
        checksums: e.S3_CHECKSUMS ?? (e.S3_ENDPOINT ? 'when_required' : 'when_supported'),
      }),
      maxUploadBytes: e.MAX_UPLOAD_BYTES,
      maxVideoBytes: e.MEDIA_MAX_VIDEO_BYTES,
      copyWaitMs: e.MEDIA_COPY_WAIT_MS,
      copyTimeoutMs: e.MEDIA_COPY_TIMEOUT_MS,
      copyRetries: e.MEDIA_COPY_RETRIES,
      sourceHosts: e.MEDIA_SOURCE_HOSTS.split(',').map((h) => h.trim().toLowerCase()).filter(Boolean),
      falExpirationSeconds: e.MEDIA_STORE === 'off' ? 0 : e.FAL_MEDIA_EXPIRATION_SECONDS,
      publicUrl: e.PUBLIC_URL?.replace(/\/+$/, '') ?? null,
    }),
    publicUrl: (e.PUBLIC_URL ?? `http://localhost:${e.PORT}`).replace(/\/+$/, ''),
    updates: Object.freeze({
      mode: e.FAL_UPDATES,
      maxStreams: e.UPSTREAM_MAX_STREAMS,
      streamStallMs: e.STREAM_STALL_MS,
      safetyNetPollMs: e.STREAM_SAFETY_POLL_MS,
      streamReconnectMs: e.STREAM_RECONNECT_MS,
      webhook: e.FAL_WEBHOOK === 'on',
      webhookJwksUrl: e.FAL_WEBHOOK_JWKS_URL ?? null,
    }),
  });
}

/** Media settings that only make sense together. */
function mediaProblems(e: z.infer<typeof envSchema>): string[] {
  const problems: string[] = [];
  if (e.MEDIA_STORE === 's3' && !e.S3_BUCKET) problems.push('MEDIA_STORE=s3 needs S3_BUCKET');
  if (e.MEDIA_STORE === 'local' && e.REDIS_URL && !e.MEDIA_DIR_SHARED) {
    problems.push('MEDIA_STORE=local with REDIS_URL: replicas would each keep their own copies; use MEDIA_STORE=s3, or set MEDIA_DIR_SHARED=true if MEDIA_DIR is one folder shared by every replica');
  }
  return problems;
}

/**
 * GATEWAY_API_KEYS holds the pairs, or names a file that does (`file:/path`, `/path` or `./path`):
 * pairs separated by commas or new lines, `#` starts a comment line.
 */
function readKeysValue(value: string, problems: string[]): string {
  const path = value.startsWith('file:') ? value.slice(5) : /^\.{0,2}\//.test(value) ? value : null;
  if (path === null) return value;
  try {
    return readFileSync(path, 'utf8')
      .split(/\r?\n/)
      .filter((line) => !line.trim().startsWith('#'))
      .join(',');
  } catch {
    problems.push(`GATEWAY_API_KEYS names the file ${path}, which cannot be read`);
    return '';
  }
}

/** `tenant:key,tenant:key`. Problems are described without the key values. */
export function parseApiKeys(value: string, problems: string[]): Map<string, string> {
  const keys = new Map<string, string>();
  value.split(',').map((s) => s.trim()).filter(Boolean).forEach((pair, index) => {
    const at = pair.indexOf(':');
    const tenant = at > 0 ? pair.slice(0, at).trim() : '';
    const key = at > 0 ? pair.slice(at + 1).trim() : '';
    if (!tenant || !key) problems.push(`GATEWAY_API_KEYS entry ${index + 1} must look like tenant:key`);
    else if (/\s/.test(key)) problems.push(`GATEWAY_API_KEYS entry ${index + 1} has whitespace inside its key, which no Authorization header can match`);
    else if (keys.has(key)) problems.push(`GATEWAY_API_KEYS entry ${index + 1} reuses another tenant's key`);
    else keys.set(key, tenant);
  });
  if (keys.size === 0 && problems.length === 0 && value !== '') problems.push('GATEWAY_API_KEYS is set but holds no tenant:key pair');
  return keys;
}

/**
 * The composition root: the only module that knows the concrete adapters. It builds them from the
 * Config, wires them, and returns { start, stop }; stop unwinds in reverse order.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { DestinationStream, Logger } from 'pino';
import { FAL_WEBHOOK_JWKS_DEFAULT, secret, type Config } from './config.ts';
import { createLogger } from './logger.ts';
import { createMetrics } from './metrics.ts';
import { createJobEvents, topicOf } from './jobs/events.ts';
import { isTerminal, type Job } from './domain/job.ts';
import { createPoller } from './jobs/poller.ts';
import { createOrphanAdopter } from './jobs/adopt-orphans.ts';
import { createFalPlatformClient } from './upstream/fal-platform-client.ts';
import { createJobsService } from './jobs/service.ts';
import { createQuotas } from './jobs/quotas.ts';
import { createRetention } from './jobs/retention.ts';
import { createBackends } from './backends.ts';
import { createFalQueueClient } from './upstream/fal-queue-client.ts';
import { createFalStatusStreams } from './upstream/fal-status-stream.ts';
import { createFalWebhookVerifier } from './upstream/fal-webhook-verifier.ts';
import { createWebhookIntake, webhookUrlFor } from './jobs/webhook-intake.ts';
import { falWebhookPlugin, WEBHOOK_PATH } from './http/fal-webhook.ts';
import { randomBytes } from 'node:crypto';
import { dirname, join } from 'node:path';
import type { FalSimulator, MountedFalSimulator } from './fal-simulator/index.ts';
import { instrumentUpstream } from './upstream/instrumented.ts';
import { withCircuitBreaker } from './upstream/circuit-breaker.ts';
import { createUpstreamPool } from './upstream/pool.ts';
import { schema } from './schema/index.ts';
import { createAuthenticator } from './http/auth.ts';
import { NANOS_PER_USD } from './domain/money.ts';
import { createCostReconciler, type BillingEventsPort, type CostReconciler } from './jobs/reconcile-costs.ts';
import { attachGraphQLWs } from './http/graphql-ws.ts';
import { createHttpServer } from './http/server.ts';
import { createYogaHandler } from './http/yoga.ts';
import { useHttpSubscriptionSlots } from './http/subscription-slots.ts';
import { CSRF_HEADERS, limitPlugins } from './http/limits.ts';
import { createSseSubscriptions } from './http/sse-subscriptions.ts';
import { createJsonLane } from './http/json-lane.ts';
import { createShutdownDeadline } from './shutdown.ts';
import type { RetryPolicy } from './upstream/retry.ts';
import { createFalStorageClient } from './upstream/fal-storage-client.ts';
import { uploadFetchApi } from './http/uploads.ts';
import { createMediaRoute } from './http/media-route.ts';
import { createMediaBackend } from './media-backend.ts';
import { withDurableMedia } from './jobs/durable-store.ts';
import { createJobWriter, type JobWriter } from './jobs/job-writer.ts';

/** How often, with replicas, followed jobs are re-read from the store (see the resync note below). */
const RESYNC_INTERVAL_MS = 15_000;

export interface AppOptions {
  /** Where log lines go (default stdout); tests pass a capturing stream. */
  logDestination?: DestinationStream;
  /** Retry policy of idempotent upstream calls (tests shorten it). */
  upstreamRetry?: RetryPolicy;
  /**
   * fal's billing events (the platform API with FAL_ADMIN_KEY: src/upstream/fal-platform-client.ts):
   * set, finished jobs' costs are reconciled with what fal billed, in the background.
   */
  billing?: BillingEventsPort;
  /** Between two billing calls (default 30 s). */
  reconcileIntervalMs?: number;
  /** Measurement hooks (the bench: scripts/bench/server.ts); absent, nothing is called. */
  observe?: AppObserver;
  /**
   * false: Yoga answers every JSON POST itself, without the lean lane (http/json-lane.ts). Tests use it
   * to check the lane answers exactly as Yoga does; default true.
   */
  jsonLane?: boolean;
}

/**
 * Measurement hooks, for benchmarks: they see instants, they change nothing. Both are called
 * synchronously on the hot path, so they must be tiny (record a timestamp, bump a counter).
 */
export interface AppObserver {
  /** A job's new state is about to be published to its followers on `topic` (`job:<id>`). */
  onPublish?(topic: string, job: Job): void;
  /**
   * A frame was handed to a WebSocket: each cohort member's `next`, and each message graphql-ws
   * sends itself (a private subscription's `next`, acks, completes, errors).
   */
  onDelivered?(): void;
}

export interface App {
  logger: Logger;
  /** Set when no FAL_KEY was given: the built-in simulator the gateway talks to. */
  simulator: FalSimulator | null;
  start(): Promise<{ httpUrl: string; wsUrl: string; port: number }>;
  stop(): Promise<void>;
}

/**
 * The built-in fal simulator (no FAL_KEY), loaded with import() so that a gateway with a real key
 * never loads it. On a fixed PORT it is served by the gateway's own server under /fal-simulator, so
 * its address (and every video URL) stays the same across restarts, and its jobs are kept in
 * fal-simulator.jsonl beside the SQLite file (not with SQLITE_PATH=:memory:). On PORT=0 it takes a
 * port of its own, in memory. Its key is random per start: only this gateway can submit to it (its
 * videos and JWKS are public, like fal's CDN).
 */
async function startBuiltInSimulator(config: Config, apiKey: string): Promise<{ simulator: FalSimulator; mounted: MountedFalSimulator | null }> {
  const { DEFAULT_SIMULATOR_TIMING, createMountedFalSimulator, startFalSimulator } = await import('./fal-simulator/index.ts');
  const options = { modelId: config.falModel, timing: DEFAULT_SIMULATOR_TIMING, apiKey };
  if (config.port === 0) return { simulator: await startFalSimulator(options), mounted: null };
  const host = config.host === '0.0.0.0' ? '127.0.0.1' : config.host === '::' ? '::1' : config.host;
  const url = `http://${host.includes(':') ? `[${host}]` : host}:${config.port}/fal-simulator`;
  const persistPath = config.sqlitePath === ':memory:' ? null : join(dirname(config.sqlitePath), 'fal-simulator.jsonl');
  const mounted = createMountedFalSimulator({ ...options, url, pathPrefix: '/fal-simulator', persistPath });
  return { simulator: mounted, mounted };
}

export async function createApp(config: Config, options: AppOptions = {}): Promise<App> {
  const logger = createLogger({ level: config.logLevel, ...(options.logDestination ? { destination: options.logDestination } : {}) });
  const metrics = createMetrics();

  // The store first: whether it was expected to exist is judged before anything else (the built-in
  // simulator's journal, the media folder) writes beside it.
  const backends = createBackends(config, logger);
  if (backends.unexpectedEmptyStore) metrics.storeCreatedEmpty.inc();
  let simulator: FalSimulator | null = null;
  let mounted: MountedFalSimulator | null = null;
  let queueUrl = config.falQueueUrl;
  let storageUrl = config.media.falStorageUrl;
  let credential = config.falKey;
  if (!credential) {
    const simulatorKey = randomBytes(24).toString('base64url');
    ({ simulator, mounted } = await startBuiltInSimulator(config, simulatorKey));
    queueUrl = simulator.url;
    storageUrl = simulator.url;
    credential = secret(simulatorKey);
    logger.warn({ simulatorUrl: simulator.url }, 'FAL_KEY is not set: using the built-in fal simulator (fake videos, no cost). Set FAL_KEY to call fal.ai.');
  }
  const key = credential;
  // fal's platform API (orphan adoption, billing): the simulator serves it too.
  const apiUrl = simulator ? simulator.url : config.falApiUrl;
  const platformKey = simulator ? key : (config.falAdminKey ?? key);
  const platformPool = createUpstreamPool({ baseUrl: apiUrl, connections: 4 });
  const platform = createFalPlatformClient({
    dispatcher: platformPool,
    baseUrl: apiUrl,
    credential: () => platformKey.reveal(),
    authScheme: config.falAuthScheme,
    timeoutMs: config.upstreamTimeoutMs,
    retry: options.upstreamRetry ?? { maxRetries: 2, baseDelayMs: 200, maxDelayMs: 5_000 },
  });

  const { updates } = config;
  const maxStreams = updates.mode === 'stream' ? updates.maxStreams : 0;
  // Streams hold their connection for a job's life: the pool gets room for them on top of the calls.
  const pool = createUpstreamPool({ baseUrl: queueUrl, connections: 64 + maxStreams });
  const upstream = withCircuitBreaker(instrumentUpstream(
    createFalQueueClient({
      dispatcher: pool,
      baseUrl: queueUrl,
      credential: () => key.reveal(),
      authScheme: config.falAuthScheme,
      modelId: config.falModel,
      timeoutMs: config.upstreamTimeoutMs,
      mediaExpirationSeconds: config.media.falExpirationSeconds,
      retry: options.upstreamRetry ?? { maxRetries: 2, baseDelayMs: 200, maxDelayMs: 5_000 },
      onRetry: (operation, error, delayMs) => logger.debug({ operation, kind: error.kind, delayMs }, 'retrying upstream call'),
    }),
    (operation, outcome, seconds) => {
      metrics.upstreamCalls.inc({ operation, outcome });
      metrics.upstreamLatency.observe({ operation }, seconds);
    },
  ), {
    failures: config.circuitFailures,
    halfOpenAfterMs: config.circuitHalfOpenMs,
    onStateChange: (state) => {
      metrics.circuitOpen.set(state === 'closed' ? 0 : 1);
      if (state === 'open') logger.error({ halfOpenAfterMs: config.circuitHalfOpenMs }, 'upstream keeps failing: circuit open, calls fail fast');
      else logger.info({ state }, 'upstream circuit state');
    },
  });

  // Durable videos (MEDIA_STORE): the store decorator copies each completed video before it is stored.
  let mediaWriter: JobWriter | null = null;
  const media = await createMediaBackend(config, {
    logger: logger.child({ component: 'media' }),
    simulatorUrl: simulator?.url ?? null,
    save: (id, change, known) => (mediaWriter as JobWriter).save(id, change, known),
    get: (id) => backends.store.get(id),
  });
  const store = media ? withDurableMedia(backends.store, media.copier) : backends.store;
  const observe = options.observe;
  const events = createJobEvents(backends.eventTarget, {
    onDeliver: () => metrics.eventsDelivered.inc(),
    onPublish: (job) => {
      observe?.onPublish?.(topicOf(job.id), job);
      if (isTerminal(job.status)) metrics.jobsFinished.inc({ status: job.status });
      if (job.status === 'COMPLETED' && job.costNanoUsd && !job.costBilled) metrics.spend.inc({ tenant: job.tenant }, job.costNanoUsd / NANOS_PER_USD);
      if (job.status === 'COMPLETED') reconciler?.enqueue(job);
    },
  });
  mediaWriter = createJobWriter({ store, events, now: () => new Date() });
  // Real costs from fal's billing events: with FAL_ADMIN_KEY (or the built-in simulator, which serves
  // them too); otherwise the estimate stands.
  const billing: BillingEventsPort | null =
    options.billing ??
    (config.falAdminKey || simulator
      ? { billingEvents: (query) => platform.billingEvents({ ...query, start: new Date(query.start), end: new Date(query.end) }) }
      : null);
  const reconciler: CostReconciler | null = billing
    ? createCostReconciler({
        billing,
        writer: createJobWriter({ store, events, now: () => new Date() }),
        endpointId: config.falModel,
        logger: logger.child({ component: 'reconcile-costs' }),
        ...(options.reconcileIntervalMs ? { intervalMs: options.reconcileIntervalMs } : {}),
      })
    : null;
  const resync = () => {
    events.resync((id) => store.get(id)).catch((error: unknown) => logger.warn({ err: error }, 'resync of followed jobs failed'));
  };
  backends.onResubscribed(resync);
  // Redis pub/sub is at-most-once: a slow safety net re-reads followed jobs, so a lost message
  // (even a terminal one) is healed within this interval.
  const resyncTimer = backends.kind === 'redis' ? setInterval(resync, RESYNC_INTERVAL_MS).unref() : null;
  const poller = createPoller({
    leases: backends.leases,
    submitGraceMs: config.upstreamTimeoutMs * 2 + 5_000,
    maxQueueMs: config.jobMaxQueueMs,
    maxTotalMs: config.jobMaxTotalMs,
    store,
    upstream,
    events,
    logger: logger.child({ component: 'poller' }),
    intervalMs: config.pollIntervalMs,
    concurrency: config.pollConcurrency,
    onPoll: (outcome) => metrics.polls.inc({ outcome }),
    onPollLag: (seconds) => metrics.pollLag.observe(seconds),
    streams: maxStreams > 0 ? createFalStatusStreams({ dispatcher: pool, baseUrl: queueUrl, credential: () => key.reveal(), authScheme: config.falAuthScheme, modelId: config.falModel, timeoutMs: config.upstreamTimeoutMs }) : null,
    stream: { maxStreams, stallMs: updates.streamStallMs, safetyNetMs: updates.safetyNetPollMs, reconnectBaseMs: updates.streamReconnectMs, reconnectMaxMs: Math.max(updates.streamReconnectMs, 30_000) },
    onStream: (event) => metrics.streamEvents.inc({ event }),
    adoptOrphan: createOrphanAdopter({
      platform,
      endpointId: config.falModel,
      save: createJobWriter({ store, events, now: () => new Date() }).save,
      store,
      logger: logger.child({ component: 'orphans' }),
      now: () => new Date(),
      searchWindowMs: config.orphanSearchMs,
      maxTotalMs: config.jobMaxTotalMs,
      retryMs: Math.min(10_000, Math.max(config.pollIntervalMs, config.orphanSearchMs / 10)),
      onOutcome: (outcome) => metrics.orphans.inc({ outcome }),
    }),
  });
  metrics.sources.openStreams = () => poller.openStreams();
  const webhooks = updates.webhook
    ? falWebhookPlugin({
        verify: createFalWebhookVerifier({ jwksUrl: updates.webhookJwksUrl ?? simulator?.jwksUrl ?? FAL_WEBHOOK_JWKS_DEFAULT }).verify,
        accept: createWebhookIntake({ poller, logger: logger.child({ component: 'webhook' }), onOutcome: (outcome) => metrics.webhooks.inc({ outcome }) }).accept,
        onRejected: (reason) => metrics.webhooksRejected.inc({ reason }),
        logger: logger.child({ component: 'webhook' }),
      })
    : null;
  const quotas = createQuotas({
    limits: config.quotas,
    store,
    submitLimiter: backends.submitLimiter,
    userSubmitLimiter: backends.userSubmitLimiter,
    onLimited: (quota) => metrics.rateLimited.inc({ quota }),
  });
  const retention = createRetention({
    store,
    logger: logger.child({ component: 'retention' }),
    retentionMs: config.jobRetentionMs,
    eventsRetentionMs: config.jobEventsRetentionMs,
    onPurged: (count) => metrics.jobsPurged.inc(count),
  });
  const files = createFalStorageClient({
    baseUrl: storageUrl,
    credential: () => key.reveal(),
    authScheme: config.falAuthScheme,
    timeoutMs: config.upstreamTimeoutMs,
    ...(config.media.falExpirationSeconds > 0 ? { expirationSeconds: config.media.falExpirationSeconds } : {}),
  });
  const jobs = createJobsService({
    store,
    upstream,
    events,
    scheduler: poller,
    quotas,
    model: config.falModel,
    logger: logger.child({ component: 'jobs' }),
    eventsRetentionMs: config.jobEventsRetentionMs,
    money: config.money,
    files,
    maxUploadBytes: config.media.maxUploadBytes,
    ...(updates.webhook ? { webhookUrl: (jobId: string) => webhookUrlFor(config.publicUrl, WEBHOOK_PATH, jobId) } : {}),
  });
  metrics.sources.polledJobs = () => poller.trackedCount();
  metrics.sources.subscriptions = () => {
    // One feed per cohort (WebSocket or SSE) and per private subscription; a cohort stands for its members.
    const { cohorts, members } = ws.cohortStats();
    const over = sse.cohortStats();
    return events.listenerCount() - cohorts + members - over.cohorts + over.members;
  };

  const auth = createAuthenticator(config.apiKeys, config.auth.jwtSecret || config.auth.jwksUrl ? config.auth : null);
  if (config.auth.jwtSecret || config.auth.jwksUrl) {
    const { jwksUrl, issuer, audience, tenantClaim, userClaim, rolesClaim } = config.auth;
    logger.info({ verify: jwksUrl ? 'jwks' : 'hs256', jwksUrl, issuer, audience, tenantClaim, userClaim, rolesClaim }, 'JWT sign-in enabled');
  }
  if (auth.open) logger.warn('Neither GATEWAY_API_KEYS nor AUTH_JWT_SECRET / AUTH_JWKS_URL is set: the gateway is open to anyone who can reach it (one shared tenant).');
  /** One slot per subscriber, taken by the transport that serves it (http/subscription-slots.ts). */
  const admitSubscription = (tenant: string) => quotas.openSubscription(tenant);
  const yoga = createYogaHandler({
    schema,
    jobs,
    logger,
    auth,
    readiness: async () => {
      await backends.ready();
      return { upstream: upstream.circuit(), backend: backends.kind };
    },
    metrics: { contentType: metrics.registry.contentType, render: () => metrics.registry.metrics() },
    plugins: [...(webhooks ? [webhooks] : []), ...limitPlugins(config.limits), useHttpSubscriptionSlots(admitSubscription)],
    fetchAPI: uploadFetchApi(config.media.maxUploadBytes),
    routes: media ? [createMediaRoute(media.store)] : [],
    cors: config.limits.corsOrigins,
  });
  const delivered = observe?.onDelivered;
  // SSE subscriptions in cohorts, beside Yoga (which answers every other request, and SSE errors).
  const sse = createSseSubscriptions({
    yoga,
    auth,
    logger,
    maxBodyBytes: config.limits.maxBodyBytes,
    csrfHeaders: config.limits.csrfPrevention ? CSRF_HEADERS : null,
    corsOrigins: config.limits.corsOrigins,
    keepAliveMs: config.limits.keepAliveMs,
    admitSubscription,
    onDelivered: delivered ? () => { metrics.eventsDelivered.inc(); delivered(); } : () => metrics.eventsDelivered.inc(),
  });
  // Queries and mutations POSTed as JSON: the lean lane, through Yoga's pipeline (Yoga answers the rest).
  const lane = options.jsonLane === false ? null : createJsonLane({ yoga, jobs, auth, logger, maxBodyBytes: config.limits.maxBodyBytes, corsOrigins: config.limits.corsOrigins });
  const first = lane ? (req: IncomingMessage, res: ServerResponse) => sse.handle(req, res) || lane.handle(req, res) : sse.handle;
  const http = createHttpServer(yoga, { requestTimeoutMs: config.limits.requestTimeoutMs, mounted, first });
  const ws = attachGraphQLWs({
    server: http.server,
    yoga,
    auth,
    logger,
    maxMessageBytes: config.limits.maxWsMessageBytes,
    initTimeoutMs: config.limits.wsInitTimeoutMs,
    keepAliveMs: config.limits.keepAliveMs,
    connectionsPerTenant: config.quotas.wsConnectionsPerTenant,
    onLimited: () => metrics.rateLimited.inc({ quota: 'ws_connections' }),
    admitSubscription,
    onDelivered: delivered ? () => { metrics.eventsDelivered.inc(); delivered(); } : () => metrics.eventsDelivered.inc(),
    ...(delivered ? { onSent: delivered } : {}),
    bounds: { maxOperationsInFlight: config.limits.wsMaxOperationsInFlight, maxBufferedBytes: config.limits.wsMaxBufferedBytes },
  });
  metrics.sources.wsClients = () => ws.clientCount();
  metrics.sources.sseStreams = () => http.streamCount();
  metrics.sources.jobFeeds = () => events.listenerCount();
  metrics.sources.wsCohorts = () => ws.cohortStats().cohorts;
  metrics.sources.sseCohorts = () => sse.cohortStats().cohorts;
  metrics.sources.unfinishedJobs = () => store.countUnfinished(null);

  let started = false;
  return {
    logger,
    simulator,
    async start() {
      await poller.start();
      retention.start();
      reconciler?.start();
      const { port } = await http.listen(config.port, config.host);
      started = true;
      const host = config.host === '0.0.0.0' || config.host === '::' ? '127.0.0.1' : config.host;
      const httpUrl = `http://${host.includes(':') ? `[${host}]` : host}:${port}/graphql`;
      if (media) {
        const listening = config.host === '0.0.0.0' || config.host === '::' ? `http://localhost:${port}` : httpUrl.replace(/\/graphql$/, '');
        media.setPublicUrl(config.media.publicUrl ?? listening);
        media.copier.resume().catch((error: unknown) => logger.warn({ err: error }, 'could not resume pending video copies'));
      }
      logger.info({ url: httpUrl, upstream: simulator ? 'simulator' : new URL(queueUrl).origin, model: config.falModel }, 'gateway listening');
      return { httpUrl, wsUrl: httpUrl.replace(/^http/, 'ws'), port };
    },
    async stop() {
      // Every step under the one SHUTDOWN_TIMEOUT_MS deadline (a step still running then is left behind).
      const { step, left } = createShutdownDeadline({ timeoutMs: config.shutdownTimeoutMs, logger });
      if (started) {
        http.stopAccepting();
        await Promise.all([
          // 1001 Going away: clients reconnect (elsewhere) and get the current state first; a socket
          // that has not finished its close handshake by the deadline is terminated.
          step('websockets', () => ws.dispose(left())),
          step('http', () => http.close(left())), // SSE streams end now; other requests may finish
        ]);
        sse.dispose();
      }
      await step('submissions', () => jobs.drain(left())); // submissions in flight get their request id stored
      await step('poller', () => poller.stop()); // leases handed back
      await step('media copies', async () => media?.copier.stop()); // copies in flight stay pending: the next start finishes them
      await step('retention', () => retention.stop());
      await step('reconciler', async () => reconciler?.stop());
      if (resyncTimer) clearInterval(resyncTimer);
      await step('yoga', () => yoga.dispose());
      await step('upstream', () => upstream.close());
      await step('upstream pool', () => pool.close());
      await step('platform pool', () => platformPool.close());
      await step('backends', () => backends.close());
      await step('media store', async () => media?.store.close());
      await step('simulator', () => simulator?.close());
      logger.info('gateway stopped');
      logger.flush?.();
    },
  };
}

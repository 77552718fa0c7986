/**
 * Prometheus metrics (prom-client) for /metrics. One registry per app, so tests can run several
 * gateways in one process. Labels never carry job ids, tenants' keys or the upstream credential.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

export type Metrics = ReturnType<typeof createMetrics>;

/** Live values the gauges read when scraped; the composition root points them at their sources. */
export interface GaugeSources {
  polledJobs: () => number;
  wsClients: () => number;
  subscriptions: () => number;
  sseStreams: () => number;
  jobFeeds: () => number;
  wsCohorts: () => number;
  sseCohorts: () => number;
  unfinishedJobs: () => Promise<number>;
  openStreams?: () => number;
}

export function createMetrics() {
  const registry = new Registry();
  const sources: GaugeSources = { polledJobs: () => 0, wsClients: () => 0, subscriptions: () => 0, sseStreams: () => 0, jobFeeds: () => 0, wsCohorts: () => 0, sseCohorts: () => 0, unfinishedJobs: async () => 0 };
  const gauge = (name: string, help: string, read: () => number | Promise<number>) =>
    new Gauge({
      name,
      help,
      registers: [registry],
      async collect() {
        this.set(await read());
      },
    });
  collectDefaultMetrics({ register: registry, prefix: 'gateway_' });
  return {
    registry,
    sources,
    upstreamCalls: new Counter({
      name: 'gateway_upstream_calls_total',
      help: 'Upstream calls by operation and outcome (ok, or the failure kind).',
      labelNames: ['operation', 'outcome'] as const,
      registers: [registry],
    }),
    upstreamLatency: new Histogram({
      name: 'gateway_upstream_call_duration_seconds',
      help: 'Upstream call latency, retries included.',
      labelNames: ['operation'] as const,
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers: [registry],
    }),
    polls: new Counter({
      name: 'gateway_polls_total',
      help: 'Status polls by outcome (changed, unchanged, error).',
      labelNames: ['outcome'] as const,
      registers: [registry],
    }),
    polledJobs: gauge('gateway_polled_jobs', 'Unfinished jobs this process polls.', () => sources.polledJobs()),
    wsClients: gauge('gateway_websocket_connections', 'Open graphql-ws connections.', () => sources.wsClients()),
    sseStreams: gauge('gateway_sse_streams', 'Open SSE subscription streams.', () => sources.sseStreams()),
    unfinishedJobs: gauge('gateway_unfinished_jobs', 'Jobs not yet COMPLETED, FAILED or CANCELLED (all replicas).', () => sources.unfinishedJobs()),
    jobsFinished: new Counter({
      name: 'gateway_jobs_finished_total',
      help: 'Jobs that reached a terminal state, by status.',
      labelNames: ['status'] as const,
      registers: [registry],
    }),
    jobsPurged: new Counter({ name: 'gateway_jobs_purged_total', help: 'Finished jobs purged past retention.', registers: [registry] }),
    eventsDelivered: new Counter({ name: 'gateway_events_delivered_total', help: 'Job states delivered to subscribers.', registers: [registry] }),
    pollLag: new Histogram({
      name: 'gateway_poll_lag_seconds',
      help: 'How late status polls start against their schedule.',
      buckets: [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5],
      registers: [registry],
    }),
    subscriptions: gauge('gateway_job_subscriptions', 'Open jobUpdates and jobEvents subscriptions (all transports).', () => sources.subscriptions()),
    jobFeeds: gauge('gateway_job_feeds', 'Job event listeners (one per WebSocket or SSE cohort, one per private subscription).', () => sources.jobFeeds()),
    wsCohorts: gauge('gateway_websocket_cohorts', 'WebSocket subscription cohorts (subscribers sharing one execution).', () => sources.wsCohorts()),
    sseCohorts: gauge('gateway_sse_cohorts', 'SSE subscription cohorts (subscribers sharing one execution).', () => sources.sseCohorts()),
    rateLimited: new Counter({
      name: 'gateway_rate_limited_total',
      help: 'Requests refused by a quota, by quota.',
      labelNames: ['quota'] as const,
      registers: [registry],
    }),
    orphans: new Counter({
      name: 'gateway_orphan_jobs_total',
      help: 'Jobs whose submit outcome was unknown, by how it ended: adopted (found upstream), not_found, unknown (fal could not be asked).',
      labelNames: ['outcome'] as const,
      registers: [registry],
    }),
    storeCreatedEmpty: new Counter({
      name: 'gateway_store_created_empty_total',
      help: 'Start-ups that created a new, empty store where one was expected (jobs and idempotency keys lost).',
      registers: [registry],
    }),
    spend: new Counter({
      name: 'gateway_spend_usd_total',
      help: 'Estimated (or billed) cost of COMPLETED jobs in USD, by tenant (FAILED and CANCELLED jobs cost nothing).',
      labelNames: ['tenant'] as const,
      registers: [registry],
    }),
    streamEvents: new Counter({
      name: 'gateway_upstream_stream_events_total',
      help: 'fal status streams: opened, events received, and how they ended (completed, ended, stalled, dropped, refused).',
      labelNames: ['event'] as const,
      registers: [registry],
    }),
    openStreams: gauge('gateway_upstream_streams_open', 'fal status streams this process holds open.', () => sources.openStreams?.() ?? 0),
    webhooks: new Counter({
      name: 'gateway_fal_webhooks_total',
      help: 'Verified fal webhooks by outcome (updated, finished, duplicate, unknown, error).',
      labelNames: ['outcome'] as const,
      registers: [registry],
    }),
    webhooksRejected: new Counter({
      name: 'gateway_fal_webhooks_rejected_total',
      help: 'fal webhooks refused with 401, by reason (missing, stale, bad_signature, replayed, no_keys).',
      labelNames: ['reason'] as const,
      registers: [registry],
    }),
    circuitOpen: new Gauge({ name: 'gateway_upstream_circuit_open', help: '1 while the upstream circuit is open or half-open.', registers: [registry] }),
  };
}

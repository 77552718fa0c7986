/**
 * Operators' view of real money: with an admin key, fal's platform API reports what each request
 * actually cost (`/v1/models/billing-events`). This reconciler replaces finished jobs' estimated
 * `cost` with that figure, in the background: jobs are queued as they complete (`enqueue`, from the
 * event feed, never on a request's path), and each tick sends one batched call for up to `batchSize`
 * request ids (one call per `intervalMs` at most: rate-limited). A request fal has not billed yet is
 * asked about again later, up to `maxAttempts` times; then the estimate stands. The store moves the
 * day's spend counters by the difference, so budgets follow real money too.
 */
import type { Logger } from 'pino';
import type { Job } from '../domain/job.ts';
import type { JobWriter } from './job-writer.ts';

/** What the reconciler needs from fal's platform API (src/upstream/fal-platform-client.ts implements it). */
export interface BillingEventsPort {
  billingEvents(query: { endpointId: string; requestIds: string[]; start: string; end: string }): Promise<Array<{ requestId: string; costNanoUsd: number; timestamp: string }>>;
}

export interface CostReconcilerDeps {
  billing: BillingEventsPort;
  writer: JobWriter;
  endpointId: string;
  logger: Logger;
  /** Between two billing calls (the rate limit). */
  intervalMs?: number;
  /** Request ids per call. */
  batchSize?: number;
  /** Calls that may find no billing event for a request before its estimate is left standing. */
  maxAttempts?: number;
  /** Most jobs waiting; beyond it the oldest are dropped (their estimate stands). */
  maxPending?: number;
  now?: () => Date;
  onReconciled?: (count: number) => void;
}

interface Pending {
  jobId: string;
  requestId: string;
  createdAt: string;
  attempts: number;
}

export interface CostReconciler {
  /** Queues a finished job (COMPLETED, with a request id and not yet billed); anything else is ignored. */
  enqueue(job: Job): void;
  /** One batch now; resolves with the number of jobs whose cost was replaced. */
  tick(): Promise<number>;
  start(): void;
  stop(): Promise<void>;
  pendingCount(): number;
}

const SLACK_MS = 60_000;

export function createCostReconciler(deps: CostReconcilerDeps): CostReconciler {
  const { billing, writer, endpointId, logger, intervalMs = 30_000, batchSize = 50, maxAttempts = 10, maxPending = 10_000, now = () => new Date() } = deps;
  const pending = new Map<string, Pending>(); // by request id, in insertion order
  let timer: NodeJS.Timeout | null = null;
  let running: Promise<number> | null = null;

  async function apply(item: Pending, costNanoUsd: number): Promise<boolean> {
    const saved = await writer.save(item.jobId, (job) =>
      job.costBilled && job.costNanoUsd === costNanoUsd ? null : { ...job, costNanoUsd, costBilled: true },
    );
    return saved !== null;
  }

  async function tick(): Promise<number> {
    const batch = [...pending.values()].slice(0, batchSize);
    if (batch.length === 0) return 0;
    const start = new Date(Math.min(...batch.map((item) => Date.parse(item.createdAt))) - SLACK_MS).toISOString();
    let events;
    try {
      events = await billing.billingEvents({ endpointId, requestIds: batch.map((item) => item.requestId), start, end: now().toISOString() });
    } catch (error) {
      logger.warn({ err: error instanceof Error ? error.message : String(error), batch: batch.length }, 'billing events unavailable; will retry');
      return 0;
    }
    const billed = new Map<string, number>();
    for (const event of events) billed.set(event.requestId, (billed.get(event.requestId) ?? 0) + event.costNanoUsd);
    let reconciled = 0;
    for (const item of batch) {
      pending.delete(item.requestId);
      const cost = billed.get(item.requestId);
      if (cost !== undefined) {
        if (await apply(item, cost)) reconciled++;
      } else if (item.attempts + 1 < maxAttempts) {
        pending.set(item.requestId, { ...item, attempts: item.attempts + 1 }); // to the back of the line
      }
    }
    if (reconciled > 0) {
      logger.info({ reconciled }, 'job costs reconciled with fal billing');
      deps.onReconciled?.(reconciled);
    }
    return reconciled;
  }

  function loop() {
    timer = setTimeout(() => {
      running = tick().catch((error: unknown) => {
        logger.warn({ err: error }, 'cost reconciliation failed');
        return 0;
      });
      void running.finally(() => {
        running = null;
        if (timer) loop();
      });
    }, intervalMs);
    timer.unref();
  }

  return {
    enqueue(job) {
      if (job.status !== 'COMPLETED' || job.requestId === null || job.costBilled) return;
      if (pending.has(job.requestId)) return;
      if (pending.size >= maxPending) pending.delete(pending.keys().next().value as string);
      pending.set(job.requestId, { jobId: job.id, requestId: job.requestId, createdAt: job.createdAt, attempts: 0 });
    },
    tick,
    start() {
      if (!timer) loop();
    },
    async stop() {
      if (timer) clearTimeout(timer);
      timer = null;
      await running;
    },
    pendingCount: () => pending.size,
  };
}

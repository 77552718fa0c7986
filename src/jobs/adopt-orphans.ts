/**
 * Orphans: jobs whose submit may have reached fal without an answer (a timeout, a dropped
 * connection, a process that died mid-submit). fal may run and bill them, so they stay unfinished
 * (counted against TENANT_MAX_ACTIVE_JOBS and MAX_ACTIVE_JOBS) while the gateway looks for them in
 * fal's platform API (`listRequests` with payloads), matching the input and the time of submission:
 * - found: the job takes that request id and is polled, followed and billed like any other;
 * - fal answers but never lists it within `searchWindowMs`: it never started; FAILED, nothing billed;
 * - fal cannot be asked (no admin scope, unreachable): it may run until `maxTotalMs`, so it stays
 *   counted until then, and ends FAILED saying it may have run and been billed.
 * The decisions (`matchOrphan`, `orphanVerdict`) are pure; `createOrphanAdopter` carries them out.
 */
import { JobFailureCode } from '../domain/job-failures.ts';
import type { Logger } from 'pino';
import { isTerminal, type Job, type JobLog, type VideoInput } from '../domain/job.ts';
import type { JobStore } from '../store/job-store.ts';
import type { PlatformApi, PlatformRequest } from '../upstream/platform-api.ts';
import { UpstreamError } from '../upstream/upstream-queue.ts';
import type { JobWriter } from './job-writer.ts';

export interface OrphanAdopterDeps {
  /** null: fal's platform API is not available; orphans are only counted until they could have ended. */
  platform: PlatformApi | null;
  endpointId: string;
  save: JobWriter['save'];
  /** The tenant's recent jobs: their request ids are someone else's, never adopted (the same input may be submitted twice). */
  store: Pick<JobStore, 'list'>;
  logger: Logger;
  now: () => Date;
  /** How long after its creation an orphan is searched for before it is taken as never started. */
  searchWindowMs: number;
  /** Longest life of a job upstream (JOB_MAX_TOTAL_MS; 0 = use searchWindowMs). */
  maxTotalMs: number;
  /** Pause between two searches. */
  retryMs: number;
  /** Allowed difference between our clock and fal's. */
  skewMs?: number;
  onOutcome?: (outcome: 'adopted' | 'not_found' | 'unknown') => void;
}

export type OrphanAdopter = (job: Job) => Promise<number | null>;

const sameInput = (a: VideoInput, b: VideoInput) =>
  a.prompt === b.prompt && a.imageUrl === b.imageUrl && a.duration === b.duration && a.negativePrompt === b.negativePrompt && a.cfgScale === b.cfgScale;

/**
 * The listed request that is this job: the same input, not another job's request, started no earlier
 * than the job (less the clock skew), the closest in time.
 */
export function matchOrphan(job: Job, requests: PlatformRequest[], skewMs: number, taken: ReadonlySet<string> = new Set()): PlatformRequest | null {
  const created = Date.parse(job.createdAt);
  const candidates = requests
    .filter((r) => !taken.has(r.requestId) && r.videoInput !== null && sameInput(r.videoInput, job.input))
    .map((r) => ({ r, at: r.startedAt ? Date.parse(r.startedAt) : Number.NaN }))
    .filter(({ at }) => !Number.isNaN(at) && at >= created - skewMs)
    .sort((a, b) => a.at - b.at);
  return candidates[0]?.r ?? null;
}

export type OrphanVerdict = { kind: 'retry'; delayMs: number } | { kind: 'fail'; error: { code: string; message: string } };

/** What to do with an orphan fal did not list (searched: fal answered; otherwise it could not be asked). */
export function orphanVerdict(ageMs: number, searched: boolean, limits: { searchWindowMs: number; maxTotalMs: number; retryMs: number }): OrphanVerdict {
  const horizon = searched ? limits.searchWindowMs : limits.maxTotalMs || limits.searchWindowMs;
  if (ageMs < horizon) return { kind: 'retry', delayMs: Math.max(1, Math.min(limits.retryMs, horizon - ageMs)) };
  const seconds = Math.round(horizon / 1000);
  return {
    kind: 'fail',
    error: searched
      ? { code: JobFailureCode.SUBMIT_NOT_RECEIVED, message: `The upstream never confirmed the submission, and it was not among the upstream's requests for ${seconds} s: it did not run and is not billed. Submit again.` }
      : { code: JobFailureCode.SUBMIT_OUTCOME_UNKNOWN, message: `The upstream never confirmed the submission and could not be asked about it: it may have run upstream and been billed (it was counted against your limits for ${seconds} s). It was not repeated.` },
  };
}

export function createOrphanAdopter(deps: OrphanAdopterDeps): OrphanAdopter {
  const { platform, endpointId, save, store, logger, now, skewMs = 2_000 } = deps;
  const log = (message: string): JobLog => ({ message, level: 'INFO', timestamp: now().toISOString() });

  async function search(job: Job): Promise<PlatformRequest | null | 'unavailable'> {
    if (!platform) return 'unavailable';
    const created = Date.parse(job.createdAt);
    const end = Math.min(now().getTime(), created + deps.searchWindowMs) + skewMs;
    try {
      const requests = await platform.listRequests({ endpointId, start: new Date(created - skewMs), end: new Date(end) });
      const recent = await store.list({ tenant: job.tenant, limit: 200, after: null, status: null });
      const taken = new Set(recent.flatMap((other) => (other.requestId === null ? [] : [other.requestId])));
      return matchOrphan(job, requests, skewMs, taken);
    } catch (error) {
      if (!(error instanceof UpstreamError)) throw error;
      logger.warn({ jobId: job.id, kind: error.kind, err: error.message }, 'could not ask fal about an unconfirmed submission');
      return 'unavailable';
    }
  }

  return async (job) => {
    const found = await search(job);
    if (found && found !== 'unavailable') {
      logger.warn({ jobId: job.id, upstreamRequestId: found.requestId }, 'found an unconfirmed submission upstream; adopting it');
      deps.onOutcome?.('adopted');
      const saved = await save(job.id, (current) =>
        current.requestId !== null || isTerminal(current.status)
          ? null
          : { ...current, requestId: found.requestId, logs: [...current.logs, log(`Found upstream as request ${found.requestId}; following it.`)] },
      );
      return saved && !isTerminal(saved.status) ? 1 : null;
    }
    const verdict = orphanVerdict(now().getTime() - Date.parse(job.createdAt), found === null, deps);
    if (verdict.kind === 'retry') return verdict.delayMs;
    deps.onOutcome?.(found === null ? 'not_found' : 'unknown');
    logger.warn({ jobId: job.id, code: verdict.error.code, searched: found === null }, 'unconfirmed submission given up');
    await save(job.id, (current) =>
      current.requestId !== null || isTerminal(current.status)
        ? null
        : { ...current, status: 'FAILED', queuePosition: null, completedAt: now().toISOString(), error: verdict.error },
    );
    return null;
  };
}

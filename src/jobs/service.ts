/**
 * The jobs service: what the schema calls. It knows no transport; it talks to the store, the
 * upstream queue and the event feed through their ports.
 *
 * Submission order (crash-safe): the job is stored before the upstream call and its request id right
 * after; the upstream is called at most once per job. A submit that may have reached fal but gave no
 * answer is never repeated: the job ends FAILED with code SUBMIT_OUTCOME_UNKNOWN and the client is told.
 */
import type { Logger } from 'pino';
import { randomFillSync } from 'node:crypto';
import { canSee, type Caller } from '../domain/caller.ts';
import { isTerminal, type Job, type JobStatus } from '../domain/job.ts';
import { estimateCost, secondsUntilNextUtcDay } from '../domain/money.ts';
import {
  BudgetExceededError,
  ConflictError,
  GatewayError,
  InvalidInputError,
  JobNotFoundError,
  RateLimitedError,
  UpstreamRefusedError,
  UpstreamUnavailableError,
} from '../domain/errors.ts';
import type { JobCursor, JobStore, UsageTotals } from '../store/job-store.ts';
import { UpstreamError, type UpstreamQueue } from '../upstream/upstream-queue.ts';
import type { JobEvents, JobFeed } from './events.ts';
import { createJobWriter } from './job-writer.ts';
import { createEventFeeds, type EventFeedOptions, type JobEventItem } from './event-feed.ts';
import type { Admission, Quotas } from './quotas.ts';
import { validateVideoInput, type RawVideoInput } from './validate-input.ts';
import type { FileStorage } from '../upstream/file-storage.ts';
import { checkUpload, inputIdentity, uploadImage, type CheckedImage } from './image-upload.ts';

/** What the service needs from the poller. */
export interface PollScheduler {
  /** Starts polling a job that was just submitted. */
  track(job: Job): void;
  /** Polls a job now (outside its schedule) and resolves once that poll is done. */
  pollNow(jobId: string): Promise<void>;
}

export interface JobsServiceDeps {
  store: JobStore;
  upstream: UpstreamQueue;
  events: JobEvents;
  scheduler: PollScheduler;
  quotas: Quotas;
  model: string;
  logger: Logger;
  now?: () => Date;
  newId?: () => string;
  /** How long a duplicate idempotent request waits for the first one's submission. */
  duplicateWaitMs?: number;
  /** Where uploaded images are stored upstream; without it, `image` is refused. */
  files?: FileStorage;
  maxUploadBytes?: number;
  /** FAL_WEBHOOK=on: the webhook URL fal is given for a job. */
  webhookUrl?: (jobId: string) => string;
  /** How far back `jobEvents(after:)` may replay (0 = as far as the event log goes). */
  eventsRetentionMs?: number;
  /** Price and daily budgets (nano-dollars; 0 = no budget). Unset: jobs cost nothing and nothing is limited. */
  money?: Money;
}

export interface Money {
  pricePerSecondNanos: number;
  tenantDailyBudgetNanos: number;
  userDailyBudgetNanos: number;
}

export interface JobPage {
  jobs: Job[];
  hasNextPage: boolean;
}

export type JobsService = ReturnType<typeof createJobsService>;

export function createJobsService(deps: JobsServiceDeps) {
  const { store, upstream, events, scheduler, quotas, model, logger, now = () => new Date(), newId = uuidv7, duplicateWaitMs = 30_000 } = deps;
  const money = deps.money ?? { pricePerSecondNanos: 0, tenantDailyBudgetNanos: 0, userDailyBudgetNanos: 0 };
  const budget = { tenantNanos: money.tenantDailyBudgetNanos, userNanos: money.userDailyBudgetNanos };
  const { files, maxUploadBytes = 10 * 1024 * 1024 } = deps;
  const { save } = createJobWriter({ store, events, now });
  const feeds = createEventFeeds({ store, events, retentionMs: deps.eventsRetentionMs ?? 0, now });
  /** Submissions in flight in this process, by job id: duplicates await these. */
  const submitting = new Map<string, Promise<Job>>();

  /** The job when the caller may see it; null when it does not exist or belongs to someone else. */
  async function findOwn(caller: Caller, id: string): Promise<Job | null> {
    const job = await store.get(id);
    return job && canSee(caller, job) ? job : null;
  }

  async function submitUpstream(job: Job, requestId: string | undefined, admission: Admission): Promise<Job> {
    try {
      const accepted = await upstream.submit(job.input, { ...(requestId ? { requestId } : {}), ...(deps.webhookUrl ? { webhookUrl: deps.webhookUrl(job.id) } : {}) });
      // `job` is the version this submission stored: no re-read (should it have changed since, the
      // compare-and-set fails and save reads the latest).
      const saved = await save(job.id, (current) => ({
        ...current,
        requestId: accepted.requestId,
        status: accepted.status,
        queuePosition: accepted.queuePosition,
      }), job);
      if (!saved) throw new Error(`job ${job.id} vanished during submission`);
      scheduler.track(saved);
      logger.info({ jobId: job.id, requestId, upstreamRequestId: accepted.requestId, tenant: job.tenant }, 'job submitted');
      return saved;
    } catch (error) {
      if (!(error instanceof UpstreamError)) throw error;
      logger.warn({ jobId: job.id, requestId, err: error.message, kind: error.kind, ambiguous: error.ambiguous }, 'upstream submit failed');
      if (error.ambiguous) {
        // It may run (and be billed) upstream: kept unfinished, so it counts against the limits, while the
        // poller looks for it upstream (adopt-orphans.ts) and either follows it or ends it.
        const at = now().toISOString();
        const marked = await save(job.id, (current) => ({
          ...current,
          submitOutcomeUnknownSince: at,
          logs: [...current.logs, { message: 'The upstream did not confirm the submission; looking for it upstream.', level: 'WARN', timestamp: at }],
        }));
        if (marked) scheduler.track(marked);
        throw new UpstreamUnavailableError(
          `The upstream did not confirm the submission. It may be running upstream, and billed; it was not repeated. The gateway is looking for it: follow job ${job.id} rather than submitting again.`,
          { jobId: job.id },
        );
      }
      await store.delete(job.id);
      events.announce(job.tenant); // the event log has the deletion (jobEvents)
      if (error.notSent) await admission.refund().catch((refundError: unknown) => logger.warn({ err: refundError }, 'could not refund a submission that was never sent'));
      throw toCallError(error);
    }
  }

  /** Quotas count the stored job; a refused job is removed again, so its key may be used later. */
  async function admitAndSubmit(job: Job, requestId?: string, upload?: CheckedImage): Promise<Job> {
    let admission: Admission | undefined;
    try {
      admission = await quotas.admitSubmission(job);
      if (upload) job = await storeUpload(job, upload, requestId);
    } catch (error) {
      await store.delete(job.id);
      events.announce(job.tenant); // the event log has the deletion (jobEvents)
      await admission?.refund().catch(() => undefined); // admitted, but nothing was submitted
      throw error instanceof UpstreamError ? toCallError(error) : error;
    }
    return submitUpstream(job, requestId, admission);
  }

  /** The uploaded image goes to fal storage first; the job then names fal's URL for it. */
  async function storeUpload(job: Job, upload: CheckedImage, requestId?: string): Promise<Job> {
    if (!files) throw new InvalidInputError('image', 'Uploads are not enabled on this gateway; give imageUrl.');
    const input = await uploadImage(files, job, upload, requestId);
    const saved = await save(job.id, (current) => ({ ...current, input }));
    if (!saved) throw new Error(`job ${job.id} vanished during upload`);
    logger.info({ jobId: job.id, requestId, bytes: upload.image.size, contentType: upload.image.contentType }, 'image uploaded');
    return saved;
  }

  async function awaitDuplicate(existing: Job): Promise<Job> {
    const local = submitting.get(existing.id);
    if (local) return local; // the same outcome as the first request, success or error
    const deadline = Date.now() + duplicateWaitMs;
    for (let job: Job | null = existing; ; job = await store.get(existing.id)) {
      if (!job) throw new UpstreamUnavailableError('The first request with this idempotency key was not submitted; submit again.');
      if (job.requestId !== null || isTerminal(job.status) || job.submitOutcomeUnknownSince) return job;
      if (Date.now() > deadline) break;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    throw new UpstreamUnavailableError('The first request with this idempotency key is still being submitted; try again shortly.', { retryAfterSeconds: 1 });
  }

  return {
    async submit(caller: Caller, raw: RawVideoInput, requestId?: string): Promise<Job> {
      const { input, idempotencyKey } = validateVideoInput(raw);
      const upload = raw.image ? await checkUpload(raw.image, maxUploadBytes) : undefined;
      if (upload) input.image = upload.image;
      const at = now().toISOString();
      const job: Job = {
        id: newId(),
        tenant: caller.tenant,
        userId: caller.userId,
        requestId: null,
        model,
        status: 'IN_QUEUE',
        queuePosition: null,
        logs: [],
        video: null,
        error: null,
        input,
        idempotencyKey,
        cancelRequested: false,
        createdAt: at,
        updatedAt: at,
        completedAt: null,
        version: 1,
        costNanoUsd: estimateCost(money.pricePerSecondNanos, input.duration),
      };
      const { job: stored, created, overBudget } = await store.create(job, budget);
      if (overBudget) throw budgetExceeded(overBudget, now());
      if (created) events.announce(stored.tenant); // the event log has it (jobEvents)
      if (!created) {
        if (inputIdentity(stored.input) !== inputIdentity(input)) {
          throw new ConflictError('This idempotencyKey was already used with different input.');
        }
        return awaitDuplicate(stored);
      }
      const pending = admitAndSubmit(stored, requestId, upload);
      submitting.set(stored.id, pending);
      try {
        return await pending;
      } finally {
        submitting.delete(stored.id);
      }
    },

    get: findOwn,

    /** Waits (at most `timeoutMs`) for the submissions in flight, so a shutdown never cuts one in half. */
    async drain(timeoutMs: number): Promise<void> {
      if (submitting.size === 0) return;
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([
        Promise.allSettled([...submitting.values()]),
        new Promise((resolve) => (timer = setTimeout(resolve, timeoutMs))),
      ]);
      clearTimeout(timer);
    },

    async list(caller: Caller, options: { first: number; after: JobCursor | null; status: JobStatus | null }): Promise<JobPage> {
      if (seesNothing(caller)) return { jobs: [], hasNextPage: false };
      const rows = await store.list({ tenant: caller.tenant, userId: ownerFilter(caller), limit: options.first + 1, after: options.after, status: options.status });
      return { jobs: rows.slice(0, options.first), hasNextPage: rows.length > options.first };
    },

    /**
     * Follows a job: its current state first, then each change, ending after the terminal one. (The
     * subscription quota is the transport's: http/subscription-slots.ts.)
     */
    async watch(caller: Caller, id: string): Promise<JobFeed> {
      const feed = events.follow(id, () => findOwn(caller, id));
      if (!(await feed.ready)) throw new JobNotFoundError(id);
      return feed;
    },

    /** The caller's spend and jobs by status over [from, to) (a whole tenant for admins and API keys). */
    async usage(caller: Caller, range: { from: Date; to: Date }): Promise<UsageTotals> {
      if (seesNothing(caller)) return { spentNanos: 0, jobs: 0, byStatus: {} };
      return store.usage({ tenant: caller.tenant, userId: ownerFilter(caller), from: range.from.toISOString(), to: range.to.toISOString() });
    },

    /** The daily budget that applies to the caller's usage, in nano-dollars; null for none. */
    dailyBudgetFor(caller: Caller): number | null {
      const limit = caller.seesTenant ? money.tenantDailyBudgetNanos : money.userDailyBudgetNanos;
      return limit > 0 ? limit : null;
    },

    /** Every change of every job the caller may see (jobEvents); CursorExpiredError for a cursor past retention. */
    async watchAll(caller: Caller, options: EventFeedOptions): Promise<AsyncIterableIterator<JobEventItem>> {
      return feeds.open(caller, options);
    },

    async cancel(caller: Caller, id: string, requestId?: string): Promise<Job> {
      const job = await findOwn(caller, id);
      if (!job) throw new JobNotFoundError(id);
      if (isTerminal(job.status)) throw new ConflictError(`The job is already ${job.status}.`);
      if (job.requestId === null) throw new ConflictError('The job is still being submitted; cancel it in a moment.');
      await save(id, (current) => (current.cancelRequested ? null : { ...current, cancelRequested: true }));
      let outcome;
      try {
        outcome = await upstream.cancel(job.requestId, requestId ? { requestId } : {});
      } catch (error) {
        if (error instanceof UpstreamError) throw toCallError(error);
        throw error;
      }
      if (outcome === 'CANCELLATION_REQUESTED') {
        const saved = await save(id, (current) =>
          isTerminal(current.status) ? null : { ...current, status: 'CANCELLED', queuePosition: null, completedAt: now().toISOString() },
        );
        if (!saved) throw new JobNotFoundError(id);
        if (saved.status !== 'CANCELLED') throw new ConflictError(`The job finished (${saved.status}) before it could be cancelled.`);
        return saved;
      }
      await scheduler.pollNow(id);
      const latest = await store.get(id);
      throw new ConflictError(
        outcome === 'ALREADY_COMPLETED'
          ? `The job already finished upstream${latest && isTerminal(latest.status) ? ` (${latest.status})` : ''}; it can no longer be cancelled.`
          : 'The upstream no longer knows this job; it cannot be cancelled.',
      );
    },
  };
}

/** A plain user reads only its own jobs; admins and API keys read the tenant's. */
function ownerFilter(caller: Caller): string | null {
  return caller.seesTenant ? null : caller.userId;
}

/** A caller that sees neither a tenant nor a user of its own (never built today): it must read nothing, never the tenant. */
function seesNothing(caller: Caller): boolean {
  return !caller.seesTenant && !caller.userId;
}

function budgetExceeded(which: 'tenant' | 'user', at: Date): BudgetExceededError {
  const whose = which === 'tenant' ? "The tenant's" : 'Your';
  return new BudgetExceededError(`${whose} daily budget would be exceeded by this job; it resets at 00:00 UTC.`, secondsUntilNextUtcDay(at));
}

/** Maps an upstream failure to the contract's codes, in safe words (no upstream headers, no key). */
export function toCallError(error: UpstreamError): GatewayError {
  switch (error.kind) {
    case 'rate_limited':
      return new RateLimitedError('The upstream is rate limiting requests; try again later.', error.retryAfterSeconds ?? undefined);
    case 'unauthorized':
      return new UpstreamRefusedError('The upstream refused the gateway\'s credential. An operator must fix FAL_KEY.', { reason: 'UNAUTHORIZED' });
    case 'forbidden':
      return new UpstreamRefusedError('The upstream account refused the request (for example a locked account or exhausted balance).', { reason: 'FORBIDDEN' });
    case 'rejected':
    case 'not_found':
      return new UpstreamRefusedError('The upstream refused the request.', { reason: error.kind.toUpperCase(), httpStatus: error.httpStatus });
    default:
      return new UpstreamUnavailableError('The upstream could not be reached; try again.', error.retryAfterSeconds === null ? {} : { retryAfterSeconds: error.retryAfterSeconds });
  }
}

/** Time-ordered ids (UUID v7 layout), so ids created in the same millisecond still sort by creation. */
let lastMs = 0;
let sequence = 0;
/** Random bytes drawn 4 KiB at a time (like crypto.randomUUID's cache): one randomFillSync per 256 ids, not one per id. */
const entropy = Buffer.allocUnsafe(4096);
let entropyOffset = entropy.length;
const idBytes = Buffer.allocUnsafe(16);
export function uuidv7(): string {
  const ms = Date.now();
  sequence = ms === lastMs ? sequence + 1 : 0;
  lastMs = ms;
  if (entropyOffset + 16 > entropy.length) {
    randomFillSync(entropy);
    entropyOffset = 0;
  }
  const bytes = idBytes;
  entropy.copy(bytes, 0, entropyOffset, entropyOffset + 16);
  entropyOffset += 16;
  bytes.writeUIntBE(ms, 0, 6);
  bytes[6] = 0x70 | ((sequence >> 8) & 0x0f);
  bytes[7] = sequence & 0xff;
  bytes[8] = 0x80 | ((bytes[8] ?? 0) & 0x3f);
  const hex = bytes.toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

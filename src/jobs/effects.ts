/**
 * Carries out what the decisions (decisions.ts) ask for, in order: fetch the result and decide again,
 * write and publish (the job writer's `save`), cancel upstream, log, schedule the next poll, stop.
 * It also turns upstream calls into answers the decisions read. No policy lives here.
 */
import type { Logger } from 'pino';
import { isTerminal, type Job } from '../domain/job.ts';
import { UpstreamError, type UpstreamQueue } from '../upstream/upstream-queue.ts';
import type { Decision, UpstreamAnswer } from './decisions.ts';
import type { JobWriter } from './job-writer.ts';

export interface EffectsDeps {
  upstream: UpstreamQueue;
  save: JobWriter['save'];
  logger: Logger;
  /** The decision for a further answer about the same job (with its current tracking). */
  decideAgain(job: Job, answer: UpstreamAnswer): Decision;
  /** Stores the decision's tracking (when the job is tracked here). */
  remember(jobId: string, decision: Decision): void;
  /** Polls again in `delayMs` (when the job is tracked here). */
  schedule(jobId: string, delayMs: number): void;
  /** Stops following the job here (terminal, gone). */
  stop(jobId: string): void;
}

export function createEffects(deps: EffectsDeps) {
  const { upstream, save, logger } = deps;

  /** Carries out a decision; true when it stored a visible change. */
  async function execute(job: Job, decision: Decision, answer: UpstreamAnswer | null): Promise<boolean> {
    deps.remember(job.id, decision);
    let changed = false;
    for (const effect of decision.effects) {
      switch (effect.type) {
        case 'fetch-result':
          if (answer?.kind !== 'status' || job.requestId === null) break;
          return execute(job, deps.decideAgain(job, await fetchResult(job.requestId, answer)), null);
        case 'write': {
          const saved = await save(job.id, effect.change, job);
          changed = saved !== null && saved.version !== job.version;
          if (!saved || isTerminal(saved.status)) {
            deps.stop(job.id);
            return changed;
          }
          break;
        }
        case 'cancel-upstream':
          await cancelQuietly(job);
          break;
        case 'warn':
          logger.warn({ jobId: job.id, ...effect.details }, effect.message);
          break;
        case 'poll-in':
          deps.schedule(job.id, effect.delayMs);
          break;
        case 'stop':
          deps.stop(job.id);
          break;
      }
    }
    return changed;
  }

  /** One status poll, as an answer (an upstream failure is an answer too). */
  async function pollStatus(requestId: string): Promise<UpstreamAnswer> {
    try {
      return { kind: 'status', status: await upstream.status(requestId), result: null };
    } catch (error) {
      return failureAnswer(error);
    }
  }

  async function fetchResult(requestId: string, answer: Extract<UpstreamAnswer, { kind: 'status' }>): Promise<UpstreamAnswer> {
    try {
      return { ...answer, result: await upstream.result(requestId) };
    } catch (error) {
      return failureAnswer(error);
    }
  }

  async function cancelQuietly(job: Job) {
    try {
      if (job.requestId) await upstream.cancel(job.requestId);
    } catch (error) {
      logger.warn({ jobId: job.id, err: (error as Error).message }, 'could not cancel an overdue job upstream');
    }
  }

  return { execute, pollStatus };
}

function failureAnswer(error: unknown): UpstreamAnswer {
  if (!(error instanceof UpstreamError)) throw error;
  return { kind: 'failure', failure: { kind: error.kind, retryAfterSeconds: error.retryAfterSeconds } };
}

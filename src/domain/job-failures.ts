/**
 * The gateway's own reasons for ending a job FAILED: one closed vocabulary, kept apart from fal's
 * error types (`runner_error`, `image_load_error`, ...), which pass through as fal gave them.
 * Clients read these in `Job.error.code`; match on the code, never on the message.
 */
import type { JobError } from './job.ts';

export const JobFailureCode = {
  /** The process stopped while submitting; fal may or may not have the job, so it was not repeated. */
  SUBMIT_OUTCOME_UNKNOWN: 'SUBMIT_OUTCOME_UNKNOWN',
  /** A submit whose outcome was unknown, which fal's list of requests showed never arrived: not run, not billed. */
  SUBMIT_NOT_RECEIVED: 'SUBMIT_NOT_RECEIVED',
  /** fal kept answering that it does not know the request. */
  UPSTREAM_LOST: 'UPSTREAM_LOST',
  /** The job did not finish within JOB_MAX_TOTAL_MS. */
  DEADLINE_EXCEEDED: 'DEADLINE_EXCEEDED',
  /** The job waited IN_QUEUE longer than JOB_MAX_QUEUE_MS. */
  QUEUE_DEADLINE_EXCEEDED: 'QUEUE_DEADLINE_EXCEEDED',
} as const;
export type JobFailureCode = (typeof JobFailureCode)[keyof typeof JobFailureCode];

/** True when `code` is one of ours (not fal's). */
export function isGatewayFailure(code: string | null): code is JobFailureCode {
  return code !== null && Object.hasOwn(JobFailureCode, code);
}

const seconds = (ms: number) => Math.round(ms / 1000);

/** The JobError a client sees for each of our failure codes. */
export const jobFailure = {
  submitOutcomeUnknown: (): JobError => ({
    code: JobFailureCode.SUBMIT_OUTCOME_UNKNOWN,
    message: 'The gateway stopped while submitting this job; the upstream may or may not have accepted it, so it was not repeated.',
  }),
  upstreamLost: (): JobError => ({ code: JobFailureCode.UPSTREAM_LOST, message: 'The upstream no longer knows this request.' }),
  deadlineExceeded: (maxTotalMs: number): JobError => ({
    code: JobFailureCode.DEADLINE_EXCEEDED,
    message: `The job did not finish within ${seconds(maxTotalMs)} s.`,
  }),
  queueDeadlineExceeded: (maxQueueMs: number): JobError => ({
    code: JobFailureCode.QUEUE_DEADLINE_EXCEEDED,
    message: `The job waited in the upstream queue for more than ${seconds(maxQueueMs)} s.`,
  }),
};

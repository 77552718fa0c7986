/**
 * The queue operations on one job: submit, status, result, cancel (FAL_QUEUE.md section 1).
 */
import type { ServerResponse } from 'node:http';
import { FAKE_VIDEO } from './files.ts';
import { createJob, lastLogIndex, logEntries, phaseAt, windowFirstIndex } from './jobs.ts';
import type { Job } from './jobs.ts';
import type { State } from './state.ts';
import { sendJson, statusBody, validationDetail } from './wire.ts';

type ValidationItem = { loc: string[]; msg: string; type: string };

/** Loose version of the model's input schema: `prompt` and `image_url` must be strings. No length check (quirk 2). */
function validateInput(rawBody: string): { prompt: string } | { errors: ValidationItem[] } {
  let input: unknown;
  try {
    input = JSON.parse(rawBody);
  } catch {
    return { errors: [{ loc: ['body'], msg: 'JSON decode error', type: 'json_invalid' }] };
  }
  const fields: Record<string, unknown> = typeof input === 'object' && input !== null && !Array.isArray(input) ? { ...input } : {};
  const errors = ['prompt', 'image_url'].flatMap((name): ValidationItem[] => {
    const value = fields[name];
    if (value === undefined) return [{ loc: ['body', name], msg: 'Field required', type: 'missing' }];
    if (typeof value !== 'string') return [{ loc: ['body', name], msg: 'Input should be a valid string', type: 'string_type' }];
    return [];
  });
  const prompt = fields.prompt;
  return errors.length === 0 && typeof prompt === 'string' ? { prompt } : { errors };
}

export function handleSubmit(state: State, res: ServerResponse, rawBody: string): void {
  const input = validateInput(rawBody);
  if ('errors' in input) return sendJson(res, 422, { detail: input.errors }, { 'x-fal-billable-units': '0' });
  const now = state.clock.now();
  const job = createJob(input.prompt, state.timing, now);
  state.jobs.set(job.id, job);
  sendJson(res, 200, statusBody(state, job, phaseAt(job, now), null), { 'x-fal-request-id': job.id });
}

export function handleStatus(state: State, res: ServerResponse, job: Job, withLogs: boolean): void {
  const now = state.clock.now();
  const phase = phaseAt(job, now);
  const logs = withLogs ? logEntries(job, state.clock, windowFirstIndex(job, now), lastLogIndex(job, now)) : null;
  sendJson(res, phase.status === 'COMPLETED' ? 200 : 202, statusBody(state, job, phase, logs), { 'x-fal-request-id': job.id });
}

export function handleResult(state: State, res: ServerResponse, job: Job): void {
  const phase = phaseAt(job, state.clock.now());
  const headers = { 'x-fal-request-id': job.id };
  if (phase.status !== 'COMPLETED') return sendJson(res, 400, { detail: 'Request is still in progress' }, headers);
  if (phase.cancelled) return sendJson(res, 400, { detail: 'Request was cancelled' }, headers);
  const billing = { ...headers, 'x-fal-billable-units': '0' };
  switch (job.outcome) {
    case 'runner_error':
      return sendJson(res, 500, { detail: 'Internal Server Error' }, billing);
    case 'image_error':
      return sendJson(res, 422, validationDetail('image_url', 'Image could not be downloaded', 'image_load_error'), billing);
    case 'prompt_too_long':
      return sendJson(res, 422, validationDetail('prompt', 'String should have at most 2500 characters', 'string_too_long'), billing);
    case 'success': {
      const video = { url: `${state.url}/files/${job.id}/output.mp4`, content_type: 'video/mp4', file_name: 'output.mp4', file_size: FAKE_VIDEO.length };
      return sendJson(res, 200, { video }, { ...headers, 'x-fal-billable-units': '1' });
    }
  }
}

export function handleCancel(state: State, res: ServerResponse, job: Job): void {
  const now = state.clock.now();
  const headers = { 'x-fal-request-id': job.id };
  if (phaseAt(job, now).status === 'COMPLETED') return sendJson(res, 400, { status: 'ALREADY_COMPLETED' }, headers);
  job.cancelledAt = now;
  sendJson(res, 202, { status: 'CANCELLATION_REQUESTED' }, headers);
}

/**
 * The queue operations on one job: submit, status, result, cancel (FAL_QUEUE.md section 1).
 */
import type { ServerResponse } from 'node:http';
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

/** `?fal_webhook=`: an http(s) URL, or null when absent. */
function webhookOf(raw: string | null): string | null | { errors: ValidationItem[] } {
  if (raw === null) return null;
  const url = URL.canParse(raw) ? new URL(raw) : null;
  if (url && (url.protocol === 'http:' || url.protocol === 'https:')) return url.href;
  return { errors: [{ loc: ['query', 'fal_webhook'], msg: 'Input should be a valid URL', type: 'url_parsing' }] };
}

export function handleSubmit(state: State, res: ServerResponse, rawBody: string, rawWebhook: string | null): void {
  const input = validateInput(rawBody);
  const webhook = webhookOf(rawWebhook);
  if ('errors' in input) return sendJson(res, 422, { detail: input.errors }, { 'x-fal-billable-units': '0' });
  if (webhook !== null && typeof webhook === 'object') return sendJson(res, 422, { detail: webhook.errors }, { 'x-fal-billable-units': '0' });
  const now = state.clock.now();
  const job = createJob(input.prompt, state.timing, now, webhook);
  state.jobs.set(job.id, job);
  state.onSubmitted(job);
  sendJson(res, 200, statusBody(state, job, phaseAt(job, now), null), { 'x-fal-request-id': job.id });
}

export function handleStatus(state: State, res: ServerResponse, job: Job, withLogs: boolean): void {
  const now = state.clock.now();
  const phase = phaseAt(job, now);
  const logs = withLogs ? logEntries(job, state.clock, windowFirstIndex(job, now), lastLogIndex(job, now)) : null;
  sendJson(res, phase.status === 'COMPLETED' ? 200 : 202, statusBody(state, job, phase, logs), { 'x-fal-request-id': job.id });
}

/** The answer of the result endpoint for a COMPLETED job (also the webhook's payload). */
export function resultOf(state: State, job: Job, cancelled: boolean): { status: number; body: unknown; billable: string } {
  if (cancelled) return { status: 400, body: { detail: 'Request was cancelled' }, billable: '0' };
  switch (job.outcome) {
    case 'runner_error':
      return { status: 500, body: { detail: 'Internal Server Error' }, billable: '0' };
    case 'image_error':
      return { status: 422, body: validationDetail('image_url', 'Image could not be downloaded', 'image_load_error'), billable: '0' };
    case 'prompt_too_long':
      return { status: 422, body: validationDetail('prompt', 'String should have at most 2500 characters', 'string_too_long'), billable: '0' };
    case 'success': {
      const video = { url: `${state.url}/files/${job.id}/output.mp4`, content_type: 'video/mp4', file_name: 'output.mp4', file_size: state.video.length };
      return { status: 200, body: { video }, billable: '1' };
    }
  }
}

export function handleResult(state: State, res: ServerResponse, job: Job): void {
  const phase = phaseAt(job, state.clock.now());
  const headers = { 'x-fal-request-id': job.id };
  if (phase.status !== 'COMPLETED') return sendJson(res, 400, { detail: 'Request is still in progress' }, headers);
  if (phase.cancelled) return sendJson(res, 400, { detail: 'Request was cancelled' }, headers);
  const result = resultOf(state, job, false);
  sendJson(res, result.status, result.body, { ...headers, 'x-fal-billable-units': result.billable });
}

export function handleCancel(state: State, res: ServerResponse, job: Job): void {
  const now = state.clock.now();
  const headers = { 'x-fal-request-id': job.id };
  if (phaseAt(job, now).status === 'COMPLETED') return sendJson(res, 400, { status: 'ALREADY_COMPLETED' }, headers);
  job.cancelledAt = now;
  state.onChanged(job);
  sendJson(res, 202, { status: 'CANCELLATION_REQUESTED' }, headers);
}

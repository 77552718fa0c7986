/**
 * Wire shapes of fal's queue answers (FAL_QUEUE.md section 1): status bodies, job URLs, JSON replies.
 */
import type { ServerResponse } from 'node:http';
import { FAILURES } from './jobs.ts';
import type { Job, LogEntry, Phase } from './jobs.ts';
import type { State } from './state.ts';

export function jobUrls(state: State, id: string) {
  const base = `${state.urlOrigin}/${state.appPrefix}/requests/${id}`;
  return { response_url: base, status_url: `${base}/status`, cancel_url: `${base}/cancel` };
}

export function statusBody(state: State, job: Job, phase: Phase, logs: LogEntry[] | null): Record<string, unknown> {
  const body: Record<string, unknown> = { status: phase.status, request_id: job.id, ...jobUrls(state, job.id), logs, metrics: {} };
  if (phase.status === 'IN_QUEUE') body.queue_position = phase.position;
  if (phase.status !== 'COMPLETED') return body;
  if (phase.cancelled) return { ...body, error: 'Request was cancelled', error_type: 'cancelled' };
  body.metrics = { inference_time: Math.round(job.timing.runMs) / 1000 };
  return job.outcome === 'success' ? body : { ...body, ...FAILURES[job.outcome] };
}

export function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  sendText(res, status, JSON.stringify(body), { 'content-type': 'application/json', ...headers });
}

export function sendText(res: ServerResponse, status: number, text: string, headers: Record<string, string>): void {
  if (res.headersSent || res.destroyed) return;
  res.writeHead(status, { ...headers, 'content-length': String(Buffer.byteLength(text)) });
  res.end(text);
}

export function validationDetail(loc: string, msg: string, type: string) {
  return { detail: [{ loc: ['body', loc], msg, type }] };
}

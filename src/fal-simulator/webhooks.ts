/**
 * Completion webhooks (FAL_QUEUE.md section 3): a job submitted with `?fal_webhook=<url>` is POSTed
 * to that URL when it completes, signed with the simulator's Ed25519 key; a non-2xx answer or a
 * connection error is retried every `webhookRetryMs`, up to 10 attempts (fal: 10 over 2 hours).
 * 'webhook' faults spoil one attempt each.
 */
import { phaseAt } from './jobs.ts';
import type { Job } from './jobs.ts';
import { resultOf } from './queue.ts';
import { sleep } from './state.ts';
import type { State } from './state.ts';
import type { WebhookFaultKind } from './faults.ts';

/** One delivery attempt: `status` is the receiver's HTTP status, null when nothing answered (or not sent). */
export interface WebhookDelivery {
  requestId: string;
  attempt: number;
  status: number | null;
  at: number;
}

export const WEBHOOK_MAX_ATTEMPTS = 10;
const LATE_BY_SECONDS = 600;
const DELIVERY_TIMEOUT_MS = 10_000;

/** fal's webhook body for a completed job. */
export function webhookPayload(state: State, job: Job, payloadError: boolean): Record<string, unknown> {
  const phase = phaseAt(job, state.clock.now());
  const cancelled = phase.status === 'COMPLETED' && phase.cancelled;
  const result = resultOf(state, job, cancelled);
  const base = { request_id: job.id, gateway_request_id: job.id };
  const ok = result.status >= 200 && result.status < 300;
  const outcome = ok ? { status: 'OK' } : { status: 'ERROR', error: cancelled ? 'Request was cancelled' : `Invalid status code: ${result.status}` };
  if (payloadError) {
    return { ...base, ...outcome, payload: null, payload_error: 'Response payload is not JSON serializable. Either return a JSON serializable object or use the queue endpoint to retrieve the response.' };
  }
  return { ...base, ...outcome, payload: result.body };
}

async function post(url: string, body: string, headers: Record<string, string>): Promise<number | null> {
  try {
    const response = await fetch(url, { method: 'POST', body, headers: { 'content-type': 'application/json', ...headers }, redirect: 'manual', signal: AbortSignal.timeout(DELIVERY_TIMEOUT_MS) });
    await response.arrayBuffer().catch(() => undefined);
    return response.status;
  } catch {
    return null;
  }
}

function signedHeaders(state: State, job: Job, body: string, fault: WebhookFaultKind | null): Record<string, string> {
  const userId = state.webhookUserId;
  const timestamp = String(Math.floor(Date.now() / 1000) - (fault === 'late-timestamp' ? LATE_BY_SECONDS : 0));
  // A bad signature: a valid signature of another message (right length, wrong bytes).
  const signature = state.signer.sign(job.id, userId, timestamp, fault === 'bad-signature' ? `${body} ` : body);
  const headers = { 'x-fal-webhook-request-id': job.id, 'x-fal-webhook-user-id': userId, 'x-fal-webhook-timestamp': timestamp };
  return fault === 'unsigned' ? headers : { ...headers, 'x-fal-webhook-signature': signature };
}

/** One attempt; true when the receiver answered 2xx. */
async function attemptDelivery(state: State, job: Job, url: string, attempt: number): Promise<boolean> {
  const action = state.faults.take({ operation: 'webhook', jobCompleted: true });
  const fault = action?.kind === 'webhook' ? action.fault : null;
  const record = (status: number | null) => state.webhookDeliveries.push({ requestId: job.id, attempt, status, at: Date.now() });
  if (fault === 'fail-delivery') {
    record(null);
    return false;
  }
  const body = JSON.stringify(webhookPayload(state, job, fault === 'payload-error'));
  const headers = signedHeaders(state, job, body, fault);
  const status = await post(url, body, headers);
  record(status);
  if (fault === 'replay' && !state.closed) record(await post(url, body, headers));
  return status !== null && status >= 200 && status < 300;
}

/** Delivers the webhook of a completed job, retrying; marks it done (delivered or given up). */
export async function deliverWebhook(state: State, job: Job): Promise<void> {
  const url = job.webhookUrl;
  if (url === null || job.webhookDone) return;
  for (let attempt = 1; attempt <= WEBHOOK_MAX_ATTEMPTS && !state.closed; attempt++) {
    if (attempt > 1) await sleep(state, state.webhookRetryMs);
    if (state.closed) return;
    if (await attemptDelivery(state, job, url, attempt)) break;
  }
  if (state.closed) return;
  job.webhookDone = true;
  state.onChanged(job);
}

/**
 * Watches jobs that await a webhook and starts each delivery once its job is COMPLETED (simulated
 * time, so pause() holds webhooks back too). The timer runs only while some job waits.
 */
export function createWebhookWatcher(state: State, checkMs = 20): { watch(job: Job): void; stop(): void } {
  const waiting = new Set<Job>();
  let timer: NodeJS.Timeout | null = null;
  const check = () => {
    const now = state.clock.now();
    for (const job of waiting) {
      if (phaseAt(job, now).status !== 'COMPLETED') continue;
      waiting.delete(job);
      void deliverWebhook(state, job);
    }
    if (waiting.size === 0 && timer) {
      clearInterval(timer);
      timer = null;
    }
  };
  return {
    watch(job) {
      if (job.webhookUrl === null || job.webhookDone) return;
      waiting.add(job);
      timer ??= setInterval(check, checkMs);
    },
    stop() {
      waiting.clear();
      if (timer) clearInterval(timer);
      timer = null;
    },
  };
}

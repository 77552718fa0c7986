/**
 * fal's platform API, as far as the gateway uses it (RESEARCH-2.md section 4), from the simulator's
 * own jobs: GET /v1/models/requests/by-endpoint (with `expand=payloads`, each job's input) and
 * GET /v1/models/billing-events (a successful run costs $0.07 per second of video: 5 s 350,000,000
 * nano-USD, 10 s 700,000,000; failed and cancelled runs cost nothing).
 */
import type { ServerResponse } from 'node:http';
import { endAt, phaseAt, type Job } from './jobs.ts';
import type { State } from './state.ts';
import { sendJson } from './wire.ts';

export const PLATFORM_PATHS = ['/v1/models/requests/by-endpoint', '/v1/models/billing-events'] as const;
const NANO_USD_PER_SECOND = 70_000_000;

function timeRange(params: URLSearchParams): { start: number; end: number } {
  const start = Date.parse(params.get('start') ?? '');
  const end = Date.parse(params.get('end') ?? '');
  return { start: Number.isNaN(start) ? Date.now() - 86_400_000 : start, end: Number.isNaN(end) ? Date.now() : end };
}

function statusCodeOf(state: State, job: Job): number | null {
  const phase = phaseAt(job, state.clock.now());
  if (phase.status !== 'COMPLETED') return null;
  if (phase.cancelled) return 499;
  return job.outcome === 'success' ? 200 : job.outcome === 'runner_error' ? 500 : 422;
}

const endpointOf = (state: State) => state.modelPath.slice(1);
const submittedMs = (state: State, job: Job) => Date.parse(state.clock.iso(job.submittedAt));

export function handlePlatform(state: State, res: ServerResponse, path: string, params: URLSearchParams): void {
  const endpoint = params.get('endpoint_id');
  if (!endpoint) return sendJson(res, 422, { detail: [{ loc: ['query', 'endpoint_id'], msg: 'Field required', type: 'missing' }] });
  const { start, end } = timeRange(params);
  const jobs = endpoint === endpointOf(state)
    ? [...state.jobs.values()].filter((job) => submittedMs(state, job) >= start && submittedMs(state, job) < end)
    : [];
  const limit = Math.max(1, Math.min(100, Number(params.get('limit') ?? 100) || 100));
  if (path === PLATFORM_PATHS[0]) return sendJson(res, 200, requestsBody(state, jobs, limit, params.get('expand') === 'payloads'));
  const wanted = new Set(params.getAll('request_id'));
  const billed = jobs.filter((job) => (wanted.size === 0 || wanted.has(job.id)) && statusCodeOf(state, job) === 200);
  const events = billed.slice(0, limit).map((job) => {
    const seconds = Number(job.input?.duration ?? 5) === 10 ? 10 : 5;
    return {
      request_id: job.id,
      endpoint_id: endpointOf(state),
      timestamp: state.clock.iso(endAt(job)),
      output_units: seconds / 5,
      unit_price: 0.35,
      percent_discount: 0,
      cost_estimate_nano_usd: seconds * NANO_USD_PER_SECOND,
    };
  });
  sendJson(res, 200, { billing_events: events, next_cursor: null, has_more: false });
}

function requestsBody(state: State, jobs: Job[], limit: number, payloads: boolean) {
  const items = jobs
    .sort((a, b) => b.submittedAt - a.submittedAt)
    .slice(0, limit)
    .map((job) => {
      const statusCode = statusCodeOf(state, job);
      const ended = statusCode === null ? null : state.clock.iso(endAt(job));
      return {
        request_id: job.id,
        endpoint_id: endpointOf(state),
        started_at: state.clock.iso(job.submittedAt),
        sent_at: state.clock.iso(job.submittedAt),
        ended_at: ended,
        status_code: statusCode,
        duration: ended === null ? null : (endAt(job) - job.submittedAt) / 1000,
        ...(payloads ? { json_input: job.input ?? null, json_output: null } : {}),
      };
    });
  return { items, next_cursor: null, has_more: false };
}

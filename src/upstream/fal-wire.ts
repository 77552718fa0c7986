/**
 * fal queue response shapes (FAL_QUEUE.md sections 1 and 5), parsed, never cast. Unknown fields
 * are ignored; missing optional ones become null.
 */
import { z } from 'zod';
import type { JobLog } from '../domain/job.ts';
import type { UpstreamStatus } from './upstream-queue.ts';

const nullish = <T extends z.ZodType>(schema: T) => schema.nullish().transform((v) => v ?? null);

export const falSubmitSchema = z.object({
  request_id: z.string().min(1),
  status: z.enum(['IN_QUEUE', 'IN_PROGRESS', 'COMPLETED']).optional(),
  queue_position: nullish(z.number()),
  status_url: nullish(z.string()),
  response_url: nullish(z.string()),
  cancel_url: nullish(z.string()),
});
export type FalSubmit = z.infer<typeof falSubmitSchema>;

const falLogSchema = z.object({
  message: z.string(),
  level: nullish(z.string()),
  timestamp: nullish(z.string()),
});

export const falStatusSchema = z.object({
  status: z.enum(['IN_QUEUE', 'IN_PROGRESS', 'COMPLETED']),
  queue_position: nullish(z.number()),
  logs: nullish(z.array(falLogSchema)),
  error: nullish(z.union([z.string(), z.record(z.string(), z.unknown())])),
  error_type: nullish(z.string()),
});
export type FalStatus = z.infer<typeof falStatusSchema>;

export const falVideoOutputSchema = z.object({
  video: z.object({
    url: z.string().min(1),
    content_type: nullish(z.string()),
    file_name: nullish(z.string()),
    file_size: nullish(z.number()),
  }),
});

export const falCancelSchema = z.object({ status: z.string().optional(), detail: z.unknown().optional() });

/** A 4xx/5xx body: `{detail: string}` or `{detail: [{loc, msg, type}]}` (422). */
export const falErrorBodySchema = z.object({
  detail: z
    .union([
      z.string(),
      z.array(z.object({ loc: z.array(z.union([z.string(), z.number()])).optional(), msg: z.string(), type: z.string().optional() })),
    ])
    .optional(),
  error_type: z.string().optional(),
  status: z.string().optional(),
});

/** A parsed status answer (a poll, or one stream event) in domain terms. */
export function toUpstreamStatus(s: FalStatus): UpstreamStatus {
  const failed = s.status === 'COMPLETED' && (s.error !== null || s.error_type !== null);
  return {
    status: s.status,
    queuePosition: s.status === 'IN_QUEUE' ? s.queue_position : null,
    logs: toJobLogs(s),
    error: failed ? { message: errorText(s.error) ?? 'The run failed upstream.', code: s.error_type } : null,
  };
}

function errorText(error: string | Record<string, unknown> | null): string | null {
  if (error === null) return null;
  if (typeof error === 'string') return error;
  const message = error.message ?? error.detail;
  return typeof message === 'string' ? message : JSON.stringify(error).slice(0, 500);
}

export function toJobLogs(status: FalStatus): JobLog[] {
  return (status.logs ?? []).map((l) => ({ message: l.message, level: l.level, timestamp: l.timestamp }));
}

/** A short, safe description of an error body (fal's own words, never our headers). */
export function describeErrorBody(body: unknown): { message: string; type: string | null } | null {
  const parsed = falErrorBodySchema.safeParse(body);
  if (!parsed.success || parsed.data.detail === undefined) return null;
  const { detail, error_type } = parsed.data;
  if (typeof detail === 'string') return { message: detail, type: error_type ?? null };
  const first = detail[0];
  if (!first) return null;
  const field = first.loc?.filter((p) => p !== 'body').join('.');
  return { message: field ? `${field}: ${first.msg}` : first.msg, type: first.type ?? error_type ?? null };
}

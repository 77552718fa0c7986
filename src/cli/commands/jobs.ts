/** `status`, `watch`, `cancel` and `list`: one query or mutation each (`watch` then follows). */
import type { Context } from '../context.ts';
import { CliError, EXIT, usage, type ExitCode } from '../errors.ts';
import { followJob } from '../follow.ts';
import { CANCEL, GET_JOB, LIST, STATUSES, type Job, type JobPage } from '../queries.ts';
import { details, table } from '../render.ts';

async function getJob(ctx: Context, id: string): Promise<Job> {
  const { job } = await ctx.http.request<{ job: Job | null }>(GET_JOB, { id });
  if (!job) throw new CliError(EXIT.usage, `job ${id} not found [NOT_FOUND]`, 'NOT_FOUND');
  return job;
}

function show(ctx: Context, job: Job): void {
  if (ctx.out.json) ctx.out.record(job);
  else for (const line of details(ctx.out, job, ctx.now())) ctx.out.say(line);
}

export async function status(ctx: Context, id: string): Promise<ExitCode> {
  show(ctx, await getJob(ctx, id));
  return EXIT.ok;
}

export async function watch(ctx: Context, id: string, flags: { cancelOnInterrupt?: boolean; download?: string }): Promise<ExitCode> {
  return followJob(ctx, await getJob(ctx, id), flags);
}

export async function cancel(ctx: Context, id: string): Promise<ExitCode> {
  const { cancelJob } = await ctx.http.request<{ cancelJob: Job }>(CANCEL, { id });
  show(ctx, cancelJob);
  return EXIT.ok;
}

/** A status flag, any case, as the enum value. Pure. */
export function statusOf(value: string): string {
  const upper = value.trim().toUpperCase().replace(/-/g, '_');
  if (!(STATUSES as readonly string[]).includes(upper)) throw usage(`--status must be one of ${STATUSES.join(', ')}, not "${value}" (field: status)`);
  return upper;
}

export function countOf(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw usage(`--first must be a whole number from 1, not "${value}" (field: first)`);
  return n;
}

export async function list(ctx: Context, flags: { status?: string; first?: string; after?: string }): Promise<ExitCode> {
  const variables = {
    first: flags.first === undefined ? undefined : countOf(flags.first),
    after: flags.after,
    status: flags.status === undefined ? undefined : statusOf(flags.status),
  };
  const { jobs } = await ctx.http.request<{ jobs: JobPage }>(LIST, variables);
  const nodes = jobs.edges.map((edge) => edge.node);
  if (ctx.out.json) nodes.forEach((job) => ctx.out.record(job));
  else {
    for (const line of table(ctx.out, nodes, ctx.out.stdout.columns)) ctx.out.say(line);
    if (jobs.pageInfo.hasNextPage && jobs.pageInfo.endCursor) ctx.out.say(`more: fal-video list --after ${jobs.pageInfo.endCursor}`);
  }
  return EXIT.ok;
}

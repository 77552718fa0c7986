/** `submit`: builds GenerateVideoInput from the flags, sends it (uploading --image), then optionally follows it. */
import type { Context } from '../context.ts';
import { EXIT, usage, type ExitCode } from '../errors.ts';
import { followJob } from '../follow.ts';
import { SUBMIT, type Job } from '../queries.ts';
import { details } from '../render.ts';

export interface SubmitFlags {
  prompt: string;
  imageUrl?: string;
  image?: string;
  duration?: string;
  negativePrompt?: string;
  cfgScale?: string;
  idempotencyKey?: string;
  wait?: boolean;
  download?: string;
  cancelOnInterrupt?: boolean;
}

/** The mutation's input, or a usage error naming the option at fault. Pure. */
export function inputOf(flags: SubmitFlags): Record<string, unknown> {
  if (Boolean(flags.imageUrl) === Boolean(flags.image)) throw usage('give exactly one of --image-url URL and --image FILE');
  const input: Record<string, unknown> = { prompt: flags.prompt };
  if (flags.imageUrl) input.imageUrl = flags.imageUrl;
  if (flags.duration !== undefined) {
    if (flags.duration !== '5' && flags.duration !== '10') throw usage(`--duration must be 5 or 10 (seconds), not "${flags.duration}" (field: duration)`);
    input.duration = flags.duration === '10' ? 'SECONDS_10' : 'SECONDS_5';
  }
  if (flags.negativePrompt !== undefined) input.negativePrompt = flags.negativePrompt;
  if (flags.cfgScale !== undefined) {
    const value = Number(flags.cfgScale);
    if (flags.cfgScale.trim() === '' || !Number.isFinite(value)) throw usage(`--cfg-scale must be a number from 0 to 1, not "${flags.cfgScale}" (field: cfgScale)`);
    input.cfgScale = value;
  }
  if (flags.idempotencyKey !== undefined) input.idempotencyKey = flags.idempotencyKey;
  return input;
}

export async function submit(ctx: Context, flags: SubmitFlags): Promise<ExitCode> {
  const input = inputOf(flags);
  const variables = { input };
  const { generateVideo: job } = flags.image
    ? await ctx.http.upload<{ generateVideo: Job }>(SUBMIT, variables, 'input.image', flags.image)
    : await ctx.http.request<{ generateVideo: Job }>(SUBMIT, variables);
  if (flags.wait || flags.download) {
    if (!ctx.out.json) ctx.out.say(`submitted job ${job.id}`);
    const again = flags.idempotencyKey ? `fal-video watch ${job.id} (or the same submit again: --idempotency-key finds the same job)` : `fal-video watch ${job.id}`;
    return followJob(ctx, job, { cancelOnInterrupt: flags.cancelOnInterrupt, download: flags.download, resumeHint: again });
  }
  if (ctx.out.json) ctx.out.record(job);
  else {
    for (const line of details(ctx.out, job, ctx.now())) ctx.out.say(line);
    ctx.out.say(`follow it with: fal-video watch ${job.id}`);
  }
  return EXIT.ok;
}

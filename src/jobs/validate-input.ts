/**
 * Everything `generateVideo` checks before any upstream call. Each failure names the input field
 * (`extensions.field`) and says what is wrong in words a user can act on.
 */
import { BlockList, isIP } from 'node:net';
import { z } from 'zod';
import type { VideoDuration, VideoInput } from '../domain/job.ts';
import { InvalidInputError } from '../domain/errors.ts';

/** An uploaded file as the multipart parser hands it over (a WHATWG File). */
export interface UploadBlob {
  size: number;
  arrayBuffer(): Promise<ArrayBuffer>;
}

export interface RawVideoInput {
  prompt: string;
  /** Exactly one of imageUrl and image. */
  imageUrl?: string | null;
  image?: UploadBlob | null;
  duration?: VideoDuration | null;
  negativePrompt?: string | null;
  cfgScale?: number | null;
  idempotencyKey?: string | null;
}

export const MAX_PROMPT_CHARS = 2500;
export const MAX_URL_CHARS = 2048;
export const MAX_IDEMPOTENCY_KEY_CHARS = 255;
const IMAGE_EXTENSIONS = ['jpg', 'jpeg', 'png', 'webp', 'gif', 'avif'];

/** Addresses an image URL may not name: the upstream would fetch them, and they are never a public image. */
const forbiddenNetworks = new BlockList();
for (const [network, prefix] of [
  ['0.0.0.0', 8], ['10.0.0.0', 8], ['100.64.0.0', 10], ['127.0.0.0', 8], ['169.254.0.0', 16], ['172.16.0.0', 12],
  ['192.0.0.0', 24], ['192.168.0.0', 16], ['198.18.0.0', 15], ['224.0.0.0', 4], ['240.0.0.0', 4],
] as const) forbiddenNetworks.addSubnet(network, prefix, 'ipv4');
for (const [network, prefix] of [['::', 128], ['::1', 128], ['fc00::', 7], ['fe80::', 10], ['ff00::', 8]] as const) {
  forbiddenNetworks.addSubnet(network, prefix, 'ipv6');
}

const characters = (value: string) => [...value].length;

const schema = z.object({
  prompt: z
    .string()
    .refine((v) => v.trim().length > 0, 'prompt must not be empty')
    .refine((v) => characters(v) <= MAX_PROMPT_CHARS, `prompt must be at most ${MAX_PROMPT_CHARS} characters`),
  imageUrl: z
    .string()
    .superRefine((value, ctx) => {
      const problem = imageUrlProblem(value);
      if (problem) ctx.addIssue({ code: 'custom', message: problem });
    })
    .nullish(),
  duration: z.enum(['5', '10']).nullish(),
  negativePrompt: z
    .string()
    .refine((v) => characters(v) <= MAX_PROMPT_CHARS, `negativePrompt must be at most ${MAX_PROMPT_CHARS} characters`)
    .nullish(),
  cfgScale: z.number().refine((v) => Number.isFinite(v) && v >= 0 && v <= 1, 'cfgScale must be between 0 and 1').nullish(),
  idempotencyKey: z
    .string()
    .min(1, 'idempotencyKey must not be empty')
    .max(MAX_IDEMPOTENCY_KEY_CHARS, `idempotencyKey must be at most ${MAX_IDEMPOTENCY_KEY_CHARS} characters`)
    .nullish(),
});

/** Returns the normalised input and key, or throws InvalidInputError naming the first bad field. */
export function validateVideoInput(raw: RawVideoInput): { input: VideoInput; idempotencyKey: string | null } {
  const hasImage = raw.image !== undefined && raw.image !== null;
  if (hasImage && raw.imageUrl != null) throw new InvalidInputError('image', 'Give either imageUrl or image, not both.');
  if (!hasImage && raw.imageUrl == null) throw new InvalidInputError('imageUrl', 'imageUrl (a public image URL) or image (an uploaded file) is required.');
  const parsed = schema.safeParse({ ...raw, image: undefined });
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const field = String(issue?.path[0] ?? 'input');
    throw new InvalidInputError(field, issue?.message ?? 'invalid input');
  }
  const v = parsed.data;
  return {
    input: {
      prompt: v.prompt,
      imageUrl: v.imageUrl ?? '',
      duration: v.duration ?? '5',
      negativePrompt: v.negativePrompt ?? null,
      cfgScale: v.cfgScale ?? null,
    },
    idempotencyKey: v.idempotencyKey ?? null,
  };
}

function imageUrlProblem(value: string): string | null {
  if (value.length > MAX_URL_CHARS) return `imageUrl must be at most ${MAX_URL_CHARS} characters`;
  if (/^data:/i.test(value.trim())) return 'imageUrl must be an http(s) URL; data URLs are not accepted upstream';
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return 'imageUrl must be an absolute http(s) URL';
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return 'imageUrl must use http or https';
  if (url.username || url.password) return 'imageUrl must not contain credentials';
  const host = url.hostname.replace(/^\[|\]$/g, '').toLowerCase();
  if (host === 'localhost' || host.endsWith('.localhost') || host.endsWith('.local') || host.endsWith('.internal')) {
    return 'imageUrl must point to a public host';
  }
  const family = isIP(host);
  if (family !== 0 && isForbiddenAddress(host, family)) return 'imageUrl must not name a loopback, private or link-local address';
  const extension = url.pathname.split('.').pop()?.toLowerCase() ?? '';
  if (!url.pathname.includes('.') || !IMAGE_EXTENSIONS.includes(extension)) {
    return `imageUrl must name a ${IMAGE_EXTENSIONS.join(', ')} image`;
  }
  return null;
}

/** BlockList checks IPv4-mapped IPv6 addresses (::ffff:127.0.0.1) against the IPv4 rules too. */
function isForbiddenAddress(host: string, family: number): boolean {
  return forbiddenNetworks.check(host, family === 6 ? 'ipv6' : 'ipv4');
}

/**
 * Everything `generateVideo` checks before any upstream call. Each failure names the input field
 * (`extensions.field`) and says what is wrong in words a user can act on; every bad field is
 * reported at once (one error per field), not only the first.
 */
import { z } from 'zod';
import type { VideoDuration, VideoInput } from '../domain/job.ts';
import { InvalidInputError, InvalidInputsError } from '../domain/errors.ts';
import { checkImageUrl } from './image-url.ts';
import { hasVisibleCharacter, textProblem } from './text-input.ts';

export { MAX_URL_CHARS } from './image-url.ts';

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
export const MAX_IDEMPOTENCY_KEY_CHARS = 255;

const characters = (value: string) => [...value].length;

/** A string field whose first problem (or none) comes from `check`. */
const checked = (check: (value: string) => string | null) =>
  z.string().superRefine((value, ctx) => {
    const problem = check(value);
    if (problem) ctx.addIssue({ code: 'custom', message: problem });
  });

const promptProblem = (field: string, requireVisible: boolean) => (value: string) => {
  if (requireVisible && !hasVisibleCharacter(value)) return `${field} must not be empty or blank`;
  if (characters(value) > MAX_PROMPT_CHARS) return `${field} must be at most ${MAX_PROMPT_CHARS} characters`;
  return textProblem(field, value, { multiline: true });
};

const schema = z.object({
  prompt: checked(promptProblem('prompt', true)),
  imageUrl: z.string().transform((value, ctx) => {
    const check = checkImageUrl(value);
    if (check.ok) return check.href;
    ctx.addIssue({ code: 'custom', message: check.problem });
    return z.NEVER;
  }).nullish(),
  duration: z.enum(['5', '10']).nullish(),
  negativePrompt: checked(promptProblem('negativePrompt', false)).nullish(),
  cfgScale: z.number().refine((v) => Number.isFinite(v) && v >= 0 && v <= 1, 'cfgScale must be between 0 and 1').nullish(),
  idempotencyKey: checked((value) => {
    if (value.length === 0) return 'idempotencyKey must not be empty';
    if (value.length > MAX_IDEMPOTENCY_KEY_CHARS) return `idempotencyKey must be at most ${MAX_IDEMPOTENCY_KEY_CHARS} characters`;
    return textProblem('idempotencyKey', value, { multiline: false });
  }).nullish(),
});

/**
 * Returns the normalised input (imageUrl as its normalised href) and key, or throws: an
 * InvalidInputError for one bad field, an InvalidInputsError holding one per bad field for several.
 */
export function validateVideoInput(raw: RawVideoInput): { input: VideoInput; idempotencyKey: string | null } {
  const hasImage = raw.image !== undefined && raw.image !== null;
  if (hasImage && raw.imageUrl != null) throw new InvalidInputError('image', 'Give either imageUrl or image, not both.');
  if (!hasImage && raw.imageUrl == null) throw new InvalidInputError('imageUrl', 'imageUrl (a public image URL) or image (an uploaded file) is required.');
  const parsed = schema.safeParse({ ...raw, image: undefined });
  if (!parsed.success) {
    const byField = new Map<string, string>();
    for (const issue of parsed.error.issues) {
      const field = String(issue.path[0] ?? 'input');
      if (!byField.has(field)) byField.set(field, issue.message);
    }
    const errors = [...byField].map(([field, message]) => new InvalidInputError(field, message));
    throw errors.length === 1 ? errors[0]! : new InvalidInputsError(errors);
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

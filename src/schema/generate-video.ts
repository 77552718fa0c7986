/** The GenerateVideoInput input and the `generateVideo` mutation. */
import { builder } from './builder.ts';
import { JobRef, VideoDurationEnum } from './job.ts';

const GenerateVideoInput = builder.inputType('GenerateVideoInput', {
  fields: (t) => ({
    prompt: t.string({ required: true, description: 'What should happen in the video: 1 to 2500 characters.' }),
    imageUrl: t.string({
      description: 'Public http(s) URL of the first frame: a jpg, jpeg, png, webp, gif or avif image. Exactly one of imageUrl and image.',
    }),
    image: t.field({
      type: 'File',
      description: 'The first frame as an uploaded file (multipart request): a jpg, png, webp, gif or avif image, judged by its bytes. Exactly one of imageUrl and image.',
    }),
    duration: t.field({ type: VideoDurationEnum, defaultValue: '5' }),
    negativePrompt: t.string({ description: 'What to avoid; upstream default "blur, distort, and low quality".' }),
    cfgScale: t.float({ description: 'How closely to follow the prompt, 0 to 1; upstream default 0.5.' }),
    idempotencyKey: t.string({
      description: 'Same tenant and same key: the same job and one upstream submission. Reused with other input: CONFLICT.',
    }),
  }),
});

builder.mutationType({});

builder.mutationField('generateVideo', (t) =>
  t.field({
    type: JobRef,
    description: 'Submits an image-to-video job to the upstream queue; follow it with jobUpdates.',
    args: { input: t.arg({ type: GenerateVideoInput, required: true }) },
    resolve: (_root, { input }, ctx) => ctx.jobs.submit(ctx.caller, input, ctx.requestId),
  }),
);

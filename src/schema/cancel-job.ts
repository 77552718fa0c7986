/** The `cancelJob` mutation. */
import { builder } from './builder.ts';
import { JobRef } from './job.ts';

builder.mutationField('cancelJob', (t) =>
  t.field({
    type: JobRef,
    description:
      'Cancels a job upstream. Returns it CANCELLED once the upstream accepted; CONFLICT if it already finished. A run already in progress may still be billed upstream.',
    args: { id: t.arg.id({ required: true }) },
    resolve: (_root, args, ctx) => ctx.jobs.cancel(ctx.caller, String(args.id), ctx.requestId),
  }),
);

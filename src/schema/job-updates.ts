/** The `jobUpdates` subscription: the job's current state first, then each change, then complete. */
import type { Job } from '../domain/job.ts';
import { builder } from './builder.ts';
import { JobRef } from './job.ts';

builder.subscriptionType({});

builder.subscriptionField('jobUpdates', (t) =>
  t.field({
    type: JobRef,
    description:
      "Follows one job: its current state at once, then one event per visible change, and the stream completes after COMPLETED, FAILED or CANCELLED. After a reconnect, subscribe again: the first event is the state you missed. NOT_FOUND for an unknown (or another tenant's) job.",
    args: { id: t.arg.id({ required: true }) },
    subscribe: (_root, args, ctx) => ctx.jobs.watch(ctx.caller, String(args.id)),
    resolve: (job: Job) => job,
  }),
);

/** The `jobEvents` subscription: every change of every job the caller may see, resumable by cursor. */
import { JOB_STATUSES, type JobStatus } from '../domain/job.ts';
import type { JobEventItem } from '../jobs/event-feed.ts';
import { builder } from './builder.ts';
import { JobRef, JobStatusEnum } from './job.ts';

const JobEventRef = builder.objectRef<JobEventItem>('JobEvent').implement({
  description: 'One stored change of a job: the job as it was stored, and the cursor to resume after it.',
  fields: (t) => ({
    cursor: t.exposeString('cursor', { description: 'Pass it as jobEvents(after:) to continue right after this event.' }),
    job: t.field({ type: JobRef, resolve: (event) => event.job }),
    deleted: t.exposeBoolean('deleted', {
      description: 'True when the job is gone: a submission refused at once (a quota, the upstream) or a finished job purged by retention. `job` is its last state.',
    }),
  }),
});

builder.subscriptionField('jobEvents', (t) =>
  t.field({
    type: JobEventRef,
    description:
      'Every change of every job you may see (a new job included), in the order they were stored; never completes on its own. ' +
      'With `after` (an earlier event\'s cursor): first every event after it, then live, with no gap and no duplicate (also across a reconnect, a restart and another replica). ' +
      'CURSOR_EXPIRED for a cursor older than JOB_EVENTS_RETENTION_MS or not a cursor: re-read jobs, then subscribe without after. `status`: only events whose job has one of these statuses.',
    args: {
      after: t.arg.string(),
      status: t.arg({ type: [JobStatusEnum] }),
    },
    subscribe: (_root, args, ctx) =>
      ctx.jobs.watchAll(
        ctx.caller,
        { after: args.after ?? null, statuses: args.status ? args.status.filter((s): s is JobStatus => JOB_STATUSES.includes(s)) : null },
      ),
    resolve: (event: JobEventItem) => event,
  }),
);

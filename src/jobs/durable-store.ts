/**
 * The one hook of durable videos: a decorator of the JobStore port. Every write that stores a job as
 * COMPLETED with fal's video (whoever makes it: the poller, the status stream, a webhook) first gets
 * the video copied (media-copier.ts, bounded wait), and purges and deletes take the job's media
 * along. It rewrites `job.video` of the job being written in place, so the writer publishes exactly
 * what was stored.
 */
import type { Job, Video } from '../domain/job.ts';
import type { JobStore } from '../store/job-store.ts';
import type { MediaCopier } from './media-copier.ts';

/** Fresh from fal: a completed job's video that no copy decision has touched yet. */
function needsCopy(job: Job): job is Job & { video: Video } {
  return job.status === 'COMPLETED' && job.video !== null && job.video.durable === undefined;
}

export function withDurableMedia(store: JobStore, copier: Pick<MediaCopier, 'complete' | 'purge'>): JobStore {
  return {
    ...store,
    create: (job, budget) => store.create(job, budget),
    get: (id) => store.get(id),
    list: (query) => store.list(query),
    listUnfinished: () => store.listUnfinished(),
    countUnfinished: (tenant, upTo, userId) => store.countUnfinished(tenant, upTo, userId),
    ping: () => store.ping(),
    close: () => store.close(),
    async update(job) {
      if (!needsCopy(job)) return store.update(job);
      const completed = await copier.complete(job);
      job.video = completed.video;
      const written = await store.update(job);
      if (written) completed.stored();
      return written;
    },
    async delete(id) {
      await store.delete(id);
      await copier.purge([id]);
    },
    async purgeFinished(completedBefore, limit) {
      const ids = await store.purgeFinished(completedBefore, limit);
      await copier.purge(ids);
      return ids;
    },
  };
}

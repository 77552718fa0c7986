/**
 * What a verified fal webhook does: idempotent on the request id (a repeat is a no-op, here and,
 * through the store, on every replica), then the poller's webhook source: the result is fetched and
 * stored through the same decisions as a poll.
 */
import type { Logger } from 'pino';
import type { Poller } from './poller.ts';

export interface WebhookNotice {
  jobId: string | null;
  requestId: string;
  ok: boolean;
}

export type WebhookOutcome = 'updated' | 'finished' | 'unknown' | 'duplicate' | 'error';

const REMEMBERED = 10_000;

export function createWebhookIntake(deps: { poller: Pick<Poller, 'webhookCompleted'>; logger: Logger; onOutcome?: (outcome: WebhookOutcome) => void }) {
  const { poller, logger } = deps;
  const handled = new Set<string>();
  const report = (outcome: WebhookOutcome) => deps.onOutcome?.(outcome);
  return {
    async accept({ jobId, requestId, ok }: WebhookNotice): Promise<void> {
      if (handled.has(requestId)) return report('duplicate');
      if (!jobId) {
        logger.warn({ requestId }, 'a fal webhook without a job id; ignored');
        return report('unknown');
      }
      handled.add(requestId);
      if (handled.size > REMEMBERED) handled.delete(handled.values().next().value as string);
      try {
        const outcome = await poller.webhookCompleted(jobId, requestId, ok);
        if (outcome === 'unknown') logger.warn({ jobId, requestId }, 'a fal webhook for a job we do not know; ignored');
        report(outcome);
      } catch (error) {
        handled.delete(requestId);
        logger.warn({ err: error, jobId, requestId }, 'could not apply a fal webhook; polling will catch up');
        report('error');
      }
    },
  };
}

/** The URL fal is given for one job's webhook. */
export function webhookUrlFor(publicUrl: string, path: string, jobId: string): string {
  return `${publicUrl}${path}?job=${encodeURIComponent(jobId)}`;
}

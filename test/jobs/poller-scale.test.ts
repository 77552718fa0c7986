/**
 * The poller at scale: 2,000 unfinished jobs are all polled, again and again, while no more than
 * POLL_CONCURRENCY status calls are ever in flight at once, and one poll loop serves each job.
 */
import { expect, it } from 'vitest';
import { startTestGateway, SUBMIT, validInput } from '../helpers/start-gateway.ts';
import { waitFor } from '../helpers/wait-for.ts';

it('2,000 unfinished jobs: every one polled repeatedly, never more than POLL_CONCURRENCY calls at once', { timeout: 90_000 }, async () => {
  const gateway = await startTestGateway({
    env: { POLL_INTERVAL_MS: '200', POLL_CONCURRENCY: '8', TENANT_MAX_ACTIVE_JOBS: '0', TENANT_SUBMITS_PER_MINUTE: '0', MAX_ACTIVE_JOBS: '0', LOG_LEVEL: 'warn' },
    simulator: { timing: { initialQueuePosition: 1, queueStepMs: 10_000_000 } }, // they stay queued
  });
  // Each status answer takes a few ms, so polls overlap and the cap matters.
  gateway.simulator.addFault({ operation: 'status', kind: 'delay', delayMs: 3, times: Infinity });
  const SUBMITTERS = 4;
  const requestIds: string[] = [];
  await Promise.all(
    Array.from({ length: SUBMITTERS }, async () => {
      while (requestIds.length < 2000) {
        const response = await gateway.gql<{ generateVideo: { requestId: string } }>(SUBMIT, { input: validInput() });
        requestIds.push(response.data!.generateVideo.requestId);
      }
    }),
  );
  await waitFor(() => requestIds.every((id) => gateway.simulator.statusCalls(id) >= 3), { timeoutMs: 60_000, intervalMs: 200, message: 'every job polled three times' });
  // Status calls (cap 8) plus the submitters' own calls are all that was ever in flight.
  expect(gateway.simulator.peakInFlight()).toBeLessThanOrEqual(8 + SUBMITTERS);
  const text = await (await fetch(`${gateway.baseUrl}/metrics`)).text();
  expect(Number(/^gateway_polled_jobs (\d+)/m.exec(text)?.[1])).toBe(requestIds.length);
  await gateway.dispose();
});

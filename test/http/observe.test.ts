/**
 * The measurement hooks (AppOptions.observe) the bench uses instead of patching prototypes: every
 * publish of a job's state, and every frame handed to a WebSocket (cohort frames and graphql-ws's own).
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { Job } from '../../src/domain/job.ts';
import { subscribeWs, wsClient } from '../helpers/clients.ts';
import { FOLLOW, startTestGateway, submitJob, type TestGateway } from '../helpers/start-gateway.ts';

let gateway: TestGateway;
const publishes: Array<{ topic: string; job: Job }> = [];
let delivered = 0;
beforeAll(async () => {
  gateway = await startTestGateway({
    app: { observe: { onPublish: (topic, job) => void publishes.push({ topic, job }), onDelivered: () => void delivered++ } },
  });
});
afterAll(() => gateway.dispose());

it('onPublish sees each state of a followed job on its topic; onDelivered counts the frames its subscribers got', async () => {
  const job = await submitJob(gateway);
  const client = wsClient(gateway.wsUrl);
  const followers = Array.from({ length: 3 }, () => subscribeWs(client, FOLLOW, { id: job.id }));
  expect(await Promise.all(followers.map((f) => f.done))).toEqual(['complete', 'complete', 'complete']);

  const mine = publishes.filter((p) => p.job.id === job.id);
  expect(mine.length).toBeGreaterThan(0);
  expect(new Set(mine.map((p) => p.topic))).toEqual(new Set([`job:${job.id}`]));
  expect(mine.at(-1)!.job.status).toBe('COMPLETED');
  const nexts = followers.reduce((n, f) => n + f.events.length, 0);
  expect(delivered).toBeGreaterThanOrEqual(nexts);

  // A query over the socket is answered by graphql-ws itself (next, complete): those frames count too.
  const before = delivered;
  const answer = subscribeWs(client, `query($id: ID!) { job(id: $id) { status } }`, { id: job.id });
  expect(await answer.done).toBe('complete');
  expect(delivered - before).toBeGreaterThanOrEqual(1);
  await client.dispose();
});

/**
 * The whole flow as a client sees it, on both subscription transports: submit, follow (current
 * state first, each visible change once, in order), terminal event, stream complete.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { subscribeSse, subscribeWs, wsClient, type Recording } from '../helpers/clients.ts';
import { FOLLOW, GET_JOB, startTestGateway, submitJob, type TestGateway } from '../helpers/start-gateway.ts';

let gateway: TestGateway;
beforeAll(async () => {
  gateway = await startTestGateway();
});
afterAll(() => gateway.dispose());

type Transport = 'ws' | 'sse';
function follow(transport: Transport, id: string): Recording {
  if (transport === 'sse') return subscribeSse(gateway.httpUrl, FOLLOW, { id });
  return subscribeWs(wsClient(gateway.wsUrl), FOLLOW, { id });
}

function assertOrderlyStream(events: Recording['events']) {
  const jobs = events.map((e) => {
    expect(e.errors).toBeUndefined();
    return e.data!.jobUpdates;
  });
  // No event repeats the previous one.
  for (let i = 1; i < jobs.length; i++) expect(JSON.stringify(jobs[i])).not.toBe(JSON.stringify(jobs[i - 1]));
  // Queue positions only fall; statuses only move forward; logs only grow, each line once.
  const order = ['IN_QUEUE', 'IN_PROGRESS', 'COMPLETED'];
  for (let i = 1; i < jobs.length; i++) {
    expect(order.indexOf(jobs[i].status)).toBeGreaterThanOrEqual(order.indexOf(jobs[i - 1].status));
    if (jobs[i].status === 'IN_QUEUE' && jobs[i - 1].status === 'IN_QUEUE') expect(jobs[i].queuePosition).toBeLessThan(jobs[i - 1].queuePosition);
    expect(jobs[i].logs.slice(0, jobs[i - 1].logs.length)).toEqual(jobs[i - 1].logs);
  }
  const last = jobs.at(-1);
  const keys = last.logs.map((l: { timestamp: string; message: string }) => `${l.timestamp} ${l.message}`);
  expect(new Set(keys).size).toBe(keys.length);
  return jobs;
}

describe.each<Transport>(['ws', 'sse'])('jobUpdates over %s', (transport) => {
  it('sends the current state first, every change in order, the video, then completes', async () => {
    // Held in the queue until the subscriber has its first event: on a loaded machine the fast
    // simulated queue (160 ms) could otherwise be over before the subscription starts.
    gateway.simulator.pause();
    const submitted = await submitJob(gateway);
    expect(submitted).toMatchObject({ status: 'IN_QUEUE', queuePosition: 3, model: 'fal-ai/kling-video/v2.5-turbo/pro/image-to-video' });
    expect(submitted.requestId).toMatch(/[0-9a-f-]{36}/);

    const recording = follow(transport, submitted.id);
    try {
      await recording.waitForEvents(1);
    } finally {
      gateway.simulator.resume();
    }
    await expect(recording.done).resolves.toBe('complete');
    const jobs = assertOrderlyStream(recording.events);
    expect(jobs[0].status).toBe('IN_QUEUE');
    expect(jobs.some((j) => j.status === 'IN_PROGRESS')).toBe(true);
    const last = jobs.at(-1);
    expect(last).toMatchObject({ status: 'COMPLETED', queuePosition: null, error: null });
    expect(last.video).toMatchObject({ contentType: 'video/mp4', fileName: 'output.mp4' });
    expect(last.video.url).toMatch(new RegExp(`^${gateway.simulator.url}/files/`));
    expect(last.logs.length).toBeGreaterThan(1);
    expect(last.completedAt).not.toBeNull();

    const read = await gateway.gql(GET_JOB, { id: submitted.id });
    expect(read.data!.job).toEqual(last);
  });

  it('late subscriber: one event with the final state, then complete', async () => {
    const submitted = await submitJob(gateway);
    await follow(transport, submitted.id).done;
    const late = follow(transport, submitted.id);
    await expect(late.done).resolves.toBe('complete');
    expect(late.events).toHaveLength(1);
    expect(late.events[0]!.data!.jobUpdates.status).toBe('COMPLETED');
  });

  it('unknown id: NOT_FOUND and no events', async () => {
    const recording = follow(transport, '00000000-0000-7000-8000-000000000000');
    const ended = await recording.done;
    const errors = ended === 'complete' ? recording.events.flatMap((e) => e.errors ?? []) : (ended.error as Array<{ extensions?: { code?: string } }>);
    expect(errors.map((e) => e.extensions?.code)).toEqual(['NOT_FOUND']);
    expect(recording.events.filter((e) => e.data)).toHaveLength(0);
  });

  it('a failed run ends FAILED with its error', async () => {
    const submitted = await submitJob(gateway, { prompt: 'please [sim:fail]' });
    const recording = follow(transport, submitted.id);
    await recording.done;
    const last = recording.events.at(-1)!.data!.jobUpdates;
    expect(last).toMatchObject({ status: 'FAILED', video: null });
    expect(last.error.message).toBeTruthy();
  });
});

it('a prompt the model refuses only at result time ends FAILED with the model message', async () => {
  const submitted = await submitJob(gateway, { prompt: 'odd image [sim:422]' });
  const recording = subscribeWs(wsClient(gateway.wsUrl), FOLLOW, { id: submitted.id });
  await recording.done;
  const last = recording.events.at(-1)!.data!.jobUpdates;
  expect(last.status).toBe('FAILED');
  expect(last.error.message.length).toBeGreaterThan(0);
});

it('a job already running at submit (no queue position) streams from IN_PROGRESS', async () => {
  const submitted = await submitJob(gateway, { prompt: 'quick one [sim:fast]' });
  expect(submitted).toMatchObject({ status: 'IN_PROGRESS', queuePosition: null });
  const recording = subscribeSse(gateway.httpUrl, FOLLOW, { id: submitted.id });
  await recording.done;
  expect(recording.events.at(-1)!.data!.jobUpdates.status).toBe('COMPLETED');
});

/**
 * Durable videos in a folder (MEDIA_STORE=local): copied before the terminal event, served by
 * capability URL with Range, kept after fal deletes its copy, finished in the background (and after
 * a restart) when fal's media host is slow, purged with the job, and never fetched off fal's hosts.
 */
import { existsSync, readdirSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { subscribeWs, wsClient } from '../helpers/clients.ts';
import { sha256, startRecordingServer } from '../helpers/media.ts';
import { FOLLOW, GET_JOB, startSimulator, startTestGateway, submitJob, type TestGateway } from '../helpers/start-gateway.ts';
import { waitFor, within } from '../helpers/wait-for.ts';

const VIDEO = 'video { url upstreamUrl durable contentType fileSize }';
const FOLLOW_VIDEO = `subscription Follow($id: ID!) { jobUpdates(id: $id) { id status ${VIDEO} } }`;
const JOB_VIDEO = `query Job($id: ID!) { job(id: $id) { id status ${VIDEO} } }`;

async function complete(gateway: TestGateway, overrides: Record<string, unknown> = {}) {
  const job = await submitJob(gateway, overrides);
  const recording = subscribeWs(wsClient(gateway.wsUrl), FOLLOW_VIDEO, { id: job.id });
  await expect(within(recording.done, 20_000, `job ${job.id} to complete`)).resolves.toBe('complete');
  const last = recording.events.at(-1)!.data!.jobUpdates;
  expect(last.status).toBe('COMPLETED');
  return { job, last };
}

const bytesOf = async (url: string, headers: Record<string, string> = {}) => {
  const response = await fetch(url, { headers });
  return { response, bytes: Buffer.from(await response.arrayBuffer()) };
};

describe('copied before the terminal event', () => {
  let gateway: TestGateway;
  beforeAll(async () => {
    gateway = await startTestGateway({ env: { MEDIA_STORE: 'local' } });
  });
  afterAll(() => gateway.dispose());

  it('serves the same bytes after fal deleted its copy, with Range, HEAD and caching headers', async () => {
    const { job, last } = await complete(gateway);
    expect(last.video).toMatchObject({ durable: true, contentType: 'video/mp4' });
    expect(last.video.url.startsWith(`${gateway.baseUrl}/media/videos/${job.id}/`)).toBe(true);
    expect(last.video.upstreamUrl).toMatch(new RegExp(`^${gateway.simulator.url}/files/`));
    const original = await bytesOf(last.video.upstreamUrl);
    expect(original.response.status).toBe(200);

    gateway.simulator.storage.deleteOutput(job.requestId);
    expect((await fetch(last.video.upstreamUrl)).status).toBe(404);
    const copy = await bytesOf(last.video.url);
    expect(copy.response.status).toBe(200);
    expect(sha256(copy.bytes)).toBe(sha256(original.bytes));
    expect(copy.response.headers.get('content-type')).toBe('video/mp4');
    expect(copy.response.headers.get('accept-ranges')).toBe('bytes');
    expect(copy.response.headers.get('cache-control')).toContain('immutable');

    const part = await bytesOf(last.video.url, { range: 'bytes=0-99' });
    expect(part.response.status).toBe(206);
    expect(part.bytes.length).toBe(100);
    expect(part.response.headers.get('content-range')).toBe(`bytes 0-99/${original.bytes.length}`);
    expect(part.bytes.equals(original.bytes.subarray(0, 100))).toBe(true);

    const head = await fetch(last.video.url, { method: 'HEAD' });
    expect(head.status).toBe(200);
    expect(head.headers.get('content-length')).toBe(String(original.bytes.length));
    expect((await fetch(last.video.url, { headers: { range: `bytes=${original.bytes.length}-` } })).status).toBe(416);
  });

  it("a media URL never opens another job's video", async () => {
    const a = (await complete(gateway)).last.video.url as string;
    const { job: jobB, last: lastB } = await complete(gateway);
    const [, , , jobA, tokenA, file] = new URL(a).pathname.split('/');
    const tokenB = new URL(lastB.video.url).pathname.split('/')[4];
    for (const path of [`/media/videos/${jobB.id}/${tokenA}/${file}`, `/media/videos/${jobA}/${tokenB}/${file}`, `/media/videos/${jobA}/${'0'.repeat(32)}/${file}`, `/media/pending/${jobA}.json`]) {
      expect((await fetch(`${gateway.baseUrl}${path}`)).status, path).toBe(404);
    }
    expect((await fetch(a)).status).toBe(200);
  });

  it('asks fal to expire the outputs (X-Fal-Object-Lifecycle-Preference on submits)', () => {
    expect(gateway.simulator.storage.lifecyclePreferences().at(-1)).toBe(JSON.stringify({ expiration_duration_seconds: 86400 }));
  });
});

it('the copy does not depend on how the completion arrived: over fal\'s status stream too', async () => {
  const gateway = await startTestGateway({ env: { MEDIA_STORE: 'local', FAL_UPDATES: 'stream' } });
  const { job, last } = await complete(gateway);
  expect(gateway.simulator.stats.stream).toBeGreaterThan(0);
  expect(last.video.durable).toBe(true);
  expect(last.video.url.startsWith(`${gateway.baseUrl}/media/videos/${job.id}/`)).toBe(true);
  expect((await fetch(last.video.url)).status).toBe(200);
  await gateway.dispose();
});

describe('a slow media host', () => {
  it('completes with durable: false, then job shows the durable URL once copied', async () => {
    const gateway = await startTestGateway({ env: { MEDIA_STORE: 'local', MEDIA_COPY_WAIT_MS: '100' } });
    gateway.simulator.storage.setMediaDelay(1500);
    const { job, last } = await complete(gateway);
    expect(last.video).toMatchObject({ durable: false });
    expect(last.video.url).toBe(last.video.upstreamUrl);
    const durable = await waitFor(async () => {
      const response = await gateway.gql(JOB_VIDEO, { id: job.id });
      return response.data?.job.video.durable ? response.data.job.video : null;
    }, { timeoutMs: 15_000, message: 'the background copy to land in job.video' });
    expect(durable.url.startsWith(`${gateway.baseUrl}/media/`)).toBe(true);
    expect((await fetch(durable.url)).status).toBe(200);
    await gateway.dispose();
  });

  it('a restart mid-copy finishes the copy', async () => {
    const simulator = await startSimulator();
    const env = { MEDIA_STORE: 'local', MEDIA_COPY_WAIT_MS: '50' };
    const first = await startTestGateway({ sharedSimulator: simulator, env });
    simulator.storage.setMediaDelay(60_000);
    const { job, last } = await complete(first);
    expect(last.video.durable).toBe(false);
    const pending = join(dirname(first.sqlitePath), 'media', 'pending', `${job.id}.json`);
    expect(existsSync(pending)).toBe(true);
    await first.dispose(); // the copy is cut short; its record stays

    simulator.storage.setMediaDelay(0);
    const second = await startTestGateway({ sharedSimulator: simulator, sqlitePath: first.sqlitePath, env });
    const durable = await waitFor(async () => {
      const response = await second.gql(JOB_VIDEO, { id: job.id });
      return response.data?.job.video.durable ? response.data.job.video : null;
    }, { timeoutMs: 15_000, message: 'the resumed copy' });
    expect((await fetch(durable.url)).status).toBe(200);
    await waitFor(() => !existsSync(pending), { message: 'the pending record to go' });
    await second.dispose();
  });
});

it('purge removes the copy with the job', { timeout: 45_000 }, async () => {
  const gateway = await startTestGateway({ env: { MEDIA_STORE: 'local', JOB_RETENTION_MS: '1500' } });
  const { job, last } = await complete(gateway);
  const statusOf = async (url: string) => {
    const response = await fetch(url);
    await response.arrayBuffer(); // read it all: no response is left open on the gateway
    return response.status;
  };
  expect(await statusOf(last.video.url)).toBe(200);
  await waitFor(async () => (await gateway.gql(GET_JOB, { id: job.id })).data?.job === null, { timeoutMs: 15_000, message: 'the job to be purged' });
  // The copy goes in the same purge pass, right after the job: the URL answers 404 once the file is
  // unlinked, and the job's folder goes a moment later (one recursive rm), so both are waited for.
  const videos = join(dirname(gateway.sqlitePath), 'media', 'videos');
  const folderGone = () => !(existsSync(videos) ? readdirSync(videos) : []).includes(job.id);
  await waitFor(async () => (await statusOf(last.video.url)) === 404 && folderGone(), { message: "the copy and its job's folder to be purged" });
  await gateway.dispose();
});

it('a redirect off the allowed hosts is not followed', async () => {
  const elsewhere = await startRecordingServer();
  const gateway = await startTestGateway({ env: { MEDIA_STORE: 'local' } });
  gateway.simulator.storage.setRedirect(elsewhere.url);
  const { last } = await complete(gateway);
  expect(last.video).toMatchObject({ durable: false });
  expect(last.video.url).toBe(last.video.upstreamUrl);
  expect(gateway.logs.some((line) => line.includes('is not allowed'))).toBe(true);
  expect(elsewhere.requests).toHaveLength(0);
  await gateway.dispose();
});

/**
 * What a long-running simulator keeps: requests only when asked, finished jobs only for a while,
 * and (with persistPath) its jobs and webhook key across a restart. Also served mounted under a
 * path prefix of another server.
 */
import { appendFileSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { createMountedFalSimulator, startFalSimulator } from '../../src/fal-simulator/index.ts';
import { waitFor } from '../helpers/wait-for.ts';
import { APP, FAST, INPUT, MODEL, onCleanup, start, submit } from './sim-helpers.ts';

const dir = mkdtempSync(join(tmpdir(), 'fal-sim-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const statusOf = (url: string, id: string) => fetch(`${url}/${APP}/requests/${id}/status`);

describe('what the simulator keeps', () => {
  it('records requests only with recordRequests', async () => {
    const quiet = await start();
    await submit(quiet);
    expect(quiet.requests).toEqual([]);
    const recording = await start({ recordRequests: true });
    await submit(recording);
    expect(recording.requests).toEqual([{ method: 'POST', path: `/${MODEL}`, authorization: null, at: expect.any(Number) }]);
  });

  it('forgets a finished job forgetAfterMs after it completed (404), but keeps counting it', async () => {
    const sim = await start({ forgetAfterMs: 100 });
    const id = await submit(sim);
    await waitFor(async () => (await statusOf(sim.url, id)).status === 200, { message: 'the job to complete' });
    await waitFor(async () => (await statusOf(sim.url, id)).status === 404, { message: 'the job to be forgotten' });
    expect(sim.jobCount()).toBe(1);
  });

  it('keeps a finished job whose webhook is still pending', async () => {
    const sim = await start({ forgetAfterMs: 20, webhookRetryMs: 60_000 });
    const pending = await submit(sim, { webhook: 'http://127.0.0.1:9/unreachable' });
    const plain = await submit(sim);
    await waitFor(() => sim.webhookDeliveries.length === 1, { message: 'the first (failed) delivery' });
    await waitFor(async () => (await statusOf(sim.url, plain)).status === 404, { message: 'the plain job to be forgotten' });
    expect((await statusOf(sim.url, pending)).status).toBe(200);
  });

  it('with persistPath: a restarted simulator has the jobs (still progressing) and the same webhook key', async () => {
    const persistPath = join(dir, 'sim.json');
    const first = await startFalSimulator({ timing: { ...FAST, runMs: 400 }, persistPath });
    const id = await submit(first);
    const kid = (await (await fetch(first.jwksUrl)).json()).keys[0].kid;
    await first.close();
    const second = await startFalSimulator({ timing: FAST, persistPath });
    onCleanup(() => second.close());
    expect([200, 202]).toContain((await statusOf(second.url, id)).status);
    await waitFor(async () => (await statusOf(second.url, id)).status === 200, { message: 'the saved job to complete' });
    expect((await (await fetch(second.jwksUrl)).json()).keys[0].kid).toBe(kid);
  });

  it('with persistPath: a cancel is kept too, and a torn last line (a crash mid-write) is skipped', async () => {
    const persistPath = join(dir, 'torn.jsonl');
    const first = await startFalSimulator({ timing: { ...FAST, queueStepMs: 60_000 }, persistPath });
    const id = await submit(first);
    expect((await fetch(`${first.url}/${APP}/requests/${id}/cancel`, { method: 'PUT' })).status).toBe(202);
    await first.close();
    appendFileSync(persistPath, '{"job":{"id":"torn');
    const second = await startFalSimulator({ persistPath });
    onCleanup(() => second.close());
    expect(await (await statusOf(second.url, id)).json()).toMatchObject({ status: 'COMPLETED', error_type: 'cancelled' });
    expect(second.jobCount()).toBe(1);
  });
});

describe('mounted under another server', () => {
  it('answers under its prefix, names that prefix in its URLs, and leaves other paths alone', async () => {
    const server = createServer((req, res) => {
      if (sim.owns((req.url ?? '/').split('?')[0]!)) sim.handle(req, res);
      else res.writeHead(418).end('not the simulator');
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as AddressInfo).port;
    const sim = createMountedFalSimulator({ url: `http://127.0.0.1:${port}/fal-simulator`, pathPrefix: '/fal-simulator', timing: FAST });
    onCleanup(async () => {
      await sim.close();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    });
    const submitted = await fetch(`${sim.url}/${MODEL}`, { method: 'POST', body: JSON.stringify(INPUT) });
    const body = (await submitted.json()) as { request_id: string; status_url: string };
    expect(body.status_url).toBe(`http://127.0.0.1:${port}/fal-simulator/${APP}/requests/${body.request_id}/status`);
    await waitFor(async () => (await fetch(body.status_url)).status === 200, { message: 'the job to complete' });
    const result = (await (await fetch(`${sim.url}/${APP}/requests/${body.request_id}`)).json()) as { video: { url: string } };
    expect((await fetch(result.video.url)).headers.get('content-type')).toBe('video/mp4');
    expect((await fetch(`http://127.0.0.1:${port}/${MODEL}`, { method: 'POST', body: '{}' })).status).toBe(418);
    expect(sim.port).toBe(port);
  });
});

/**
 * `npm start` on a fresh clone, no configuration: the gateway starts its fal simulator, says so,
 * serves GraphiQL, and a job submitted there reaches COMPLETED with a (simulated) video well within a
 * minute. Its node flags (package.json's start script, also the Dockerfile's CMD and the bench's
 * gateway child) cap V8's young generation, and this Node accepts them.
 */
import { spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { expect, it } from 'vitest';
import { startNodeFlags } from '../scripts/start-flags.ts';
import { post, subscribeSse } from './helpers/clients.ts';
import { startGatewayProcess } from './helpers/gateway-process.ts';
import { FOLLOW, SUBMIT, tempSqlitePath, validInput } from './helpers/start-gateway.ts';

it('no FAL_KEY: simulator announced, GraphiQL served, a job completes within a minute', { timeout: 70_000 }, async () => {
  const sqlitePath = tempSqlitePath();
  const gateway = await startGatewayProcess({ SQLITE_PATH: sqlitePath, MEDIA_DIR: join(dirname(sqlitePath), 'media') });
  const startup = gateway.output.join('');
  expect(startup).toMatch(/FAL_KEY is not set: using the built-in fal simulator/);
  expect(startup).toMatch(/GATEWAY_API_KEYS nor AUTH_JWT_SECRET \/ AUTH_JWKS_URL is set: the gateway is open/);
  expect(startup).not.toMatch(/created a new, empty store/);

  const page = await fetch(gateway.httpUrl, { headers: { accept: 'text/html' } });
  expect(page.status).toBe(200);
  expect(await page.text()).toMatch(/graphiql/i);

  const started = Date.now();
  const submitted = await post(gateway.httpUrl, SUBMIT, { input: validInput() });
  const job = submitted.data!.generateVideo;
  const recording = subscribeSse(gateway.httpUrl, FOLLOW.replace('video { url', 'video { upstreamUrl durable url'), { id: job.id });
  await expect(recording.done).resolves.toBe('complete');
  const last = recording.events.at(-1)!.data!.jobUpdates;
  expect(last.status).toBe('COMPLETED');
  // The gateway keeps its own copy of the simulator's video by default (MEDIA_STORE=local).
  expect(last.video).toMatchObject({ durable: true, upstreamUrl: expect.stringMatching(/^http:\/\/127\.0\.0\.1:\d+\/fal-simulator\/files\/.+\.mp4$/) });
  expect(last.video.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/media\/videos\/.+\.mp4$/);
  // Read whole: a download left hanging would hold the graceful shutdown below for its grace period.
  const video = await fetch(last.video.url);
  expect(video.status).toBe(200);
  expect((await video.arrayBuffer()).byteLength).toBe(last.video.fileSize);
  expect(Date.now() - started).toBeLessThan(60_000);
  gateway.child.kill('SIGTERM');
  expect(await gateway.exited).toBe(0);
});

it("npm start caps V8's young generation at 3 × 16 MiB (RSS per subscription, issue 15), with flags this Node accepts", () => {
  const flags = startNodeFlags();
  expect(flags).toContain('--max-semi-space-size=32');
  const node = spawnSync(process.execPath, [...flags, '-e', 'process.stdout.write("ok")'], { encoding: 'utf8' });
  expect(node.stderr).toBe('');
  expect(node.status).toBe(0);
  expect(node.stdout).toBe('ok');
});

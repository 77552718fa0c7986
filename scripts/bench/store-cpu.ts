/**
 * Store CPU per submission, without HTTP or GraphQL: the store calls one `generateVideo` makes (create
 * with the budget check, then the update that stores fal's request id), timed with process.cpuUsage()
 * so the figure holds on a shared machine. SQLite only (in memory by default; --sqlite FILE for WAL).
 *
 *   node --experimental-strip-types --no-warnings scripts/bench/store-cpu.ts [--n 20000] [--rounds 5] [--sqlite PATH] [--user]
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import type { Job } from '../../src/domain/job.ts';
import { createSqliteJobStore } from '../../src/store/sqlite-job-store.ts';
import { uuidv7 } from '../../src/jobs/service.ts';

const { values } = parseArgs({
  options: {
    n: { type: 'string', default: '20000' },
    rounds: { type: 'string', default: '5' },
    sqlite: { type: 'string', default: ':memory:' },
    user: { type: 'boolean', default: false },
  },
});
const N = Number(values.n);
const dir = values.sqlite === ':memory:' ? null : mkdtempSync(join(tmpdir(), 'store-cpu-'));
const store = createSqliteJobStore({ path: dir ? join(dir, values.sqlite.replace(/^.*\//, '') || 'jobs.db') : ':memory:' });
const budget = { tenantNanos: 1e15, userNanos: 1e15 };

function newJob(i: number): Job {
  const at = new Date().toISOString();
  return {
    id: uuidv7(), tenant: 'default', userId: values.user ? `user-${i % 50}` : null, requestId: null, model: 'fal-ai/kling-video/v2.1/standard/image-to-video',
    status: 'IN_QUEUE', queuePosition: null, logs: [], video: null, error: null,
    input: { prompt: `A cat surfing a wave at sunset, cinematic #${i}`, imageUrl: 'https://images.example.com/bench/cat.png', duration: '5' } as unknown as Job['input'],
    idempotencyKey: null, cancelRequested: false, createdAt: at, updatedAt: at, completedAt: null, version: 1, costNanoUsd: 350_000_000,
  };
}

async function round(count: number): Promise<number> {
  const before = process.cpuUsage();
  for (let i = 0; i < count; i++) {
    const { job } = await store.create(newJob(i), budget);
    const ok = await store.update({ ...job, requestId: `req-${i}`, queuePosition: 3, version: 2, updatedAt: new Date().toISOString() });
    if (!ok) throw new Error('update lost');
  }
  const used = process.cpuUsage(before);
  return (used.user + used.system) / count;
}

try {
  await round(Math.min(N, 5000)); // warm-up
  const figures: number[] = [];
  for (let r = 0; r < Number(values.rounds); r++) {
    figures.push(await round(N));
    console.log(`round ${r + 1}: ${figures.at(-1)!.toFixed(1)} µs per create + update`);
  }
  figures.sort((a, b) => a - b);
  console.log(`median: ${figures[Math.floor(figures.length / 2)]!.toFixed(1)} µs per submission's store writes (${values.sqlite}${values.user ? ', with a user' : ''})`);
} finally {
  await store.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
}

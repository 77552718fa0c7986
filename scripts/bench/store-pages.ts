/** WAL frames (pages) written per create and per update, from the -wal file's growth (kept under the auto-checkpoint). */
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Job } from '../../src/domain/job.ts';
import { createSqliteJobStore } from '../../src/store/sqlite-job-store.ts';
import { uuidv7 } from '../../src/jobs/service.ts';

const dir = mkdtempSync(join(tmpdir(), 'store-pages-'));
const path = join(dir, 'jobs.db');
const store = createSqliteJobStore({ path });
const frames = () => (statSync(`${path}-wal`).size - 32) / (4096 + 24);
const user = process.argv.includes('--user');
const job = (i: number): Job => {
  const at = new Date().toISOString();
  return {
    id: uuidv7(), tenant: 'default', userId: user ? `user-${i % 5}` : null, requestId: null, model: 'm', status: 'IN_QUEUE', queuePosition: null, logs: [], video: null, error: null,
    input: { prompt: `p ${i}`, imageUrl: 'https://images.example.com/cat.png', duration: '5' } as unknown as Job['input'],
    idempotencyKey: null, cancelRequested: false, createdAt: at, updatedAt: at, completedAt: null, version: 1, costNanoUsd: 350_000_000,
  };
};
try {
  for (let i = 0; i < 50; i++) await store.create(job(i), { tenantNanos: 1e15, userNanos: 1e15 }); // fill the first pages
  let created = 0, updated = 0;
  for (let i = 0; i < 20; i++) {
    const a = frames();
    const { job: stored } = await store.create(job(i), { tenantNanos: 1e15, userNanos: 1e15 });
    const b = frames();
    await store.update({ ...stored, requestId: `r${i}`, queuePosition: 3, version: 2 });
    const c = frames();
    created += b - a;
    updated += c - b;
  }
  console.log(`pages per create ${(created / 20).toFixed(1)}, per update ${(updated / 20).toFixed(1)}${user ? ' (with a user)' : ''}`);
} finally {
  await store.close();
  rmSync(dir, { recursive: true, force: true });
}

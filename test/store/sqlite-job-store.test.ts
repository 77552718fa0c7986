import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { createSqliteJobStore } from '../../src/store/sqlite-job-store.ts';
import { describeJobStoreContract, makeJob } from '../helpers/job-store-contract.ts';

function tempDir(): { dir: string; remove: () => Promise<void> } {
  const dir = mkdtempSync(join(tmpdir(), 'sqlite-job-store-'));
  return { dir, remove: async () => rmSync(dir, { recursive: true, force: true }) };
}

describeJobStoreContract('sqlite', async () => {
  const { dir, remove } = tempDir();
  return { store: createSqliteJobStore({ path: join(dir, 'jobs.db') }), cleanup: remove };
});

describe('SQLite job store', () => {
  it('keeps its data across closing and reopening the file', async () => {
    const { dir, remove } = tempDir();
    try {
      const path = join(dir, 'nested', 'jobs.db');
      const first = createSqliteJobStore({ path });
      const job = makeJob({ idempotencyKey: 'durable' });
      await first.create(job);
      const updated = { ...job, status: 'IN_PROGRESS' as const, requestId: 'req-1', version: 2 };
      expect(await first.update(updated)).toBe(true);
      await first.close();

      const second = createSqliteJobStore({ path });
      try {
        expect(await second.get(job.id)).toEqual(updated);
        expect(await second.listUnfinished()).toEqual([updated]);
        expect(await second.create(makeJob({ idempotencyKey: 'durable' }))).toEqual({ job: updated, created: false });
      } finally {
        await second.close();
      }
    } finally {
      await remove();
    }
  });
});

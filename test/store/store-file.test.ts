/**
 * Issue 9, item 14: the store's file as an operator can lose it. /readyz reports a file deleted or
 * replaced under the running gateway; start-up says (warn line, metric) when it creates a new, empty
 * store where jobs were expected; a corrupt file stops start-up with one clear line.
 */
import { copyFileSync, mkdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { startGatewayProcess } from '../helpers/gateway-process.ts';
import { startTestGateway, submitJob, tempSqlitePath, type TestGateway } from '../helpers/start-gateway.ts';
import { waitFor } from '../helpers/wait-for.ts';

let gateway: TestGateway | undefined;
afterEach(async () => {
  await gateway?.dispose();
  gateway = undefined;
});

async function readyz(g: TestGateway) {
  const response = await fetch(`${g.baseUrl}/readyz`);
  return { status: response.status, body: (await response.json()) as Record<string, string> };
}

async function metric(g: TestGateway, name: string): Promise<number> {
  const text = await (await fetch(`${g.baseUrl}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(`${name} `));
  return line ? Number(line.split(' ')[1]) : NaN;
}

const warnings = (g: TestGateway) => g.logs.map((l) => JSON.parse(l) as { level: number; msg: string; reason?: string }).filter((l) => l.level === 40);
const emptyStoreWarning = (g: TestGateway) => warnings(g).find((l) => /new, empty store/.test(l.msg));

describe('/readyz watches the store file', () => {
  it('answers 503 once the file is deleted under the running gateway', async () => {
    gateway = await startTestGateway();
    await submitJob(gateway);
    expect((await readyz(gateway)).status).toBe(200);
    for (const suffix of ['', '-wal', '-shm']) rmSync(gateway.sqlitePath + suffix, { force: true });
    const answer = await waitFor(async () => {
      const r = await readyz(gateway!);
      return r.status === 503 ? r : null;
    }, { message: '/readyz to answer 503 after the store file was deleted' });
    expect(answer.body.reason).toMatch(/deleted/);
  });

  it('answers 503 once the file is replaced by another one', async () => {
    gateway = await startTestGateway();
    const copy = `${gateway.sqlitePath}.copy`;
    copyFileSync(gateway.sqlitePath, copy);
    renameSync(copy, gateway.sqlitePath);
    const answer = await readyz(gateway);
    expect(answer.status).toBe(503);
    expect(answer.body.reason).toMatch(/replaced/);
  });
});

describe('start-up where a store was expected', () => {
  it('a first start in an empty folder is quiet', async () => {
    gateway = await startTestGateway();
    expect(emptyStoreWarning(gateway)).toBeUndefined();
    expect(await metric(gateway, 'gateway_store_created_empty_total')).toBe(0);
  });

  it('a restart after the file was deleted warns and counts it', async () => {
    const sqlitePath = tempSqlitePath();
    gateway = await startTestGateway({ sqlitePath });
    await submitJob(gateway);
    await gateway.dispose();
    for (const suffix of ['', '-wal', '-shm']) rmSync(sqlitePath + suffix, { force: true });
    gateway = await startTestGateway({ sqlitePath });
    expect(emptyStoreWarning(gateway)?.reason).toMatch(/marker/);
    expect(await metric(gateway, 'gateway_store_created_empty_total')).toBe(1);
  });

  it('a folder holding other files (media) warns and counts it', async () => {
    const sqlitePath = tempSqlitePath();
    mkdirSync(join(dirname(sqlitePath), 'media', 'ab'), { recursive: true });
    writeFileSync(join(dirname(sqlitePath), 'media', 'ab', 'video.mp4'), 'x');
    gateway = await startTestGateway({ sqlitePath });
    expect(emptyStoreWarning(gateway)?.reason).toMatch(/other files \(media\)/);
    expect(await metric(gateway, 'gateway_store_created_empty_total')).toBe(1);
  });

  it('an empty folder beside it (just created by another component) is not a sign of lost jobs', async () => {
    const sqlitePath = tempSqlitePath();
    mkdirSync(join(dirname(sqlitePath), 'media'), { recursive: true });
    gateway = await startTestGateway({ sqlitePath });
    expect(emptyStoreWarning(gateway)).toBeUndefined();
    expect(await metric(gateway, 'gateway_store_created_empty_total')).toBe(0);
  });

  it('a stray WAL file beside a missing store warns too', async () => {
    const sqlitePath = tempSqlitePath();
    writeFileSync(`${sqlitePath}-wal`, '');
    gateway = await startTestGateway({ sqlitePath });
    expect(emptyStoreWarning(gateway)?.reason).toMatch(/other files/);
    expect(await metric(gateway, 'gateway_store_created_empty_total')).toBe(1);
  });
});

it('a corrupt store file stops start-up with one clear line, not a stack trace', async () => {
  const sqlitePath = tempSqlitePath();
  writeFileSync(sqlitePath, 'this is not a database, just some bytes '.repeat(200));
  const failure = await startGatewayProcess({ SQLITE_PATH: sqlitePath, LOG_LEVEL: 'error' }).then(
    () => null,
    (error: Error) => error.message,
  );
  expect(failure, 'the gateway must not start').not.toBeNull();
  expect(failure).toMatch(/exited \(1\)/);
  const lines = failure!.split('\n').slice(1).filter((line) => line.trim() !== '');
  expect(lines, failure!).toHaveLength(1);
  expect(lines[0]).toContain(`SQLITE_PATH ${sqlitePath} is not a readable SQLite database`);
  expect(failure).not.toMatch(/^\s+at /m);
});

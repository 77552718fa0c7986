/**
 * The jobEvents feed on a real SQLite store with an injected clock: the retention pass trims the event
 * log, and a cursor past JOB_EVENTS_RETENTION_MS (or trimmed away) is CURSOR_EXPIRED, while a fresh one
 * replays exactly what followed it.
 */
import pino from 'pino';
import { expect, it } from 'vitest';
import { tenantCaller } from '../../src/domain/caller.ts';
import { CursorExpiredError } from '../../src/domain/errors.ts';
import { createEventFeeds } from '../../src/jobs/event-feed.ts';
import { createJobEvents } from '../../src/jobs/events.ts';
import { createRetention } from '../../src/jobs/retention.ts';
import { createSqliteJobStore } from '../../src/store/sqlite-job-store.ts';
import { makeJob } from '../helpers/job-store-contract.ts';
import { tempSqlitePath } from '../helpers/start-gateway.ts';
import { within } from '../helpers/wait-for.ts';

const HOUR = 3_600_000;

it('replays after a fresh cursor, and answers CURSOR_EXPIRED once the cursor is past retention or trimmed', async () => {
  const store = createSqliteJobStore({ path: tempSqlitePath() });
  const events = createJobEvents(new EventTarget());
  let clock = Date.parse('2025-01-01T00:00:00.000Z');
  const now = () => new Date(clock);
  const feeds = createEventFeeds({ store, events, retentionMs: 24 * HOUR, now });
  const caller = tenantCaller('tenant-a');

  const live = await feeds.open(caller, { after: null, statuses: null });
  const a = makeJob({ minute: 0 });
  const b = makeJob({ minute: 1 });
  const other = makeJob({ minute: 2, tenant: 'tenant-b' });
  for (const job of [a, other, b]) {
    await store.create(job);
    events.announce(job.tenant);
  }
  const first = await within(live.next(), 5_000, 'the first live event');
  const second = await within(live.next(), 5_000, 'the second live event');
  expect([first.value?.job.id, second.value?.job.id]).toEqual([a.id, b.id]); // tenant-b's job never shows
  await live.return?.();

  const replay = await feeds.open(caller, { after: first.value!.cursor, statuses: null });
  expect((await within(replay.next(), 5_000, 'the replayed event')).value?.job.id).toBe(b.id);
  await replay.return?.();

  clock += 25 * HOUR; // the cursor is now older than the retention
  await expect(feeds.open(caller, { after: first.value!.cursor, statuses: null })).rejects.toBeInstanceOf(CursorExpiredError);
  await expect(feeds.open(caller, { after: 'bm90IGEgY3Vyc29y', statuses: null })).rejects.toBeInstanceOf(CursorExpiredError);

  // The retention pass trims the log too; a long retention check cannot save a trimmed cursor.
  const retention = createRetention({ store, logger: pino({ level: 'silent' }), retentionMs: 0, eventsRetentionMs: 24 * HOUR, now });
  await retention.purge();
  const lenient = createEventFeeds({ store, events, retentionMs: 0, now });
  await expect(lenient.open(caller, { after: first.value!.cursor, statuses: null })).rejects.toBeInstanceOf(CursorExpiredError);
  await store.close();
});

it('a signed-in user sees only its own jobs in the feed; an admin (or key) sees the whole tenant', async () => {
  const store = createSqliteJobStore({ path: tempSqlitePath() });
  const events = createJobEvents(new EventTarget());
  const feeds = createEventFeeds({ store, events, retentionMs: 0, now: () => new Date() });
  const user = await feeds.open({ tenant: 'tenant-a', userId: 'ada', seesTenant: false }, { after: null, statuses: null });
  const admin = await feeds.open({ tenant: 'tenant-a', userId: 'root', seesTenant: true }, { after: null, statuses: null });
  const theirs = makeJob({ minute: 0, userId: 'bob' });
  const mine = makeJob({ minute: 1, userId: 'ada' });
  for (const job of [theirs, mine]) {
    await store.create(job);
    events.announce(job.tenant);
  }
  expect((await within(user.next(), 5_000, "the user's event")).value?.job.id).toBe(mine.id);
  expect((await within(admin.next(), 5_000, 'the first admin event')).value?.job.id).toBe(theirs.id);
  expect((await within(admin.next(), 5_000, 'the second admin event')).value?.job.id).toBe(mine.id);
  await user.return?.();
  await admin.return?.();
  expect(events.listenerCount()).toBe(0);
  await store.close();
});

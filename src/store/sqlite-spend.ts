/**
 * The SQLite store's money: per-day spend counters (table `spend`, one row per scope and UTC day); usage
 * totals are in sqlite-usage.ts. Every function here runs inside the caller's write transaction, so a budget check, the
 * insert and the counter move are one atomic step (see sqlite-job-store.ts).
 */
import type { DatabaseSync } from 'node:sqlite';
import type { DailyBudget } from './job-store.ts';

/** Whose spend a counter holds: a tenant's, or one user's inside it. */
export function spendScopes(tenant: string, userId: string | null | undefined): string[] {
  return userId ? [`t:${tenant}`, `u:${tenant}\u0000${userId}`] : [`t:${tenant}`];
}

export function createSqliteSpend(db: DatabaseSync) {
  const statements = {
    read: db.prepare('SELECT nanos FROM spend WHERE scope = ? AND day = ?'),
    add: db.prepare('INSERT INTO spend (scope, day, nanos) VALUES (:scope, :day, :delta) ON CONFLICT (scope, day) DO UPDATE SET nanos = nanos + :delta'),
  };

  function spentOn(day: string, tenant: string, userId?: string | null): number {
    const scope = spendScopes(tenant, userId).at(-1) as string;
    const row = statements.read.get(scope, day) as { nanos: number } | undefined;
    return Number(row?.nanos ?? 0);
  }

  return {
    spentOn,

    /** Which budget a new charge would exceed on that day (the job's `dayOf`), if any. */
    exceeded(tenant: string, userId: string | null, day: string, charge: number, budget: DailyBudget): 'tenant' | 'user' | null {
      if (charge <= 0) return null;
      if (budget.tenantNanos > 0 && spentOn(day, tenant) + charge > budget.tenantNanos) return 'tenant';
      if (userId && budget.userNanos > 0 && spentOn(day, tenant, userId) + charge > budget.userNanos) return 'user';
      return null;
    },

    /** Moves the day's counters (the job's `dayOf`) of the job's tenant and user by `delta` nano-dollars. */
    add(tenant: string, userId: string | null, day: string, delta: number): void {
      if (delta === 0) return;
      for (const scope of spendScopes(tenant, userId)) statements.add.run({ scope, day, delta });
    },
  };
}

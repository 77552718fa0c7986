/** Money (a decimal string and a currency, never a float), `Job.cost`, and the `usage` query. */
import { InvalidInputError } from '../domain/errors.ts';
import { chargeOf, CURRENCY, formatUsd } from '../domain/money.ts';
import type { UsageTotals } from '../store/job-store.ts';
import { builder } from './builder.ts';
import { JobRef } from './job.ts';

interface MoneyValue {
  nanos: number;
}

export const MoneyRef = builder.objectRef<MoneyValue>('Money').implement({
  description: 'An amount of money as a decimal string (e.g. "0.35"), never a float.',
  fields: (t) => ({
    amount: t.string({ resolve: (money) => formatUsd(money.nanos) }),
    currency: t.string({ resolve: () => CURRENCY }),
  }),
});

builder.objectField(JobRef, 'cost', (t) =>
  t.field({
    type: MoneyRef,
    nullable: true,
    description:
      'What fal charges for it: PRICE_PER_SECOND_USD x duration (fal\'s billed figure once reconciled); 0 once FAILED or CANCELLED (fal bills only successful outputs), except when the submit outcome is unknown.',
    resolve: (job) => (job.costNanoUsd === undefined || job.costNanoUsd === null ? null : { nanos: chargeOf(job) }),
  }),
);

interface UsageValue {
  totals: UsageTotals;
  dailyBudget: number | null;
}

const UsageRef = builder.objectRef<UsageValue>('Usage').implement({
  description: "The caller's spend and jobs over a time range (a whole tenant for admins and API keys).",
  fields: (t) => ({
    spent: t.field({ type: MoneyRef, description: 'Sum of the jobs\' cost (FAILED and CANCELLED count nothing).', resolve: (u) => ({ nanos: u.totals.spentNanos }) }),
    jobs: t.int({ description: 'Jobs created in the range.', resolve: (u) => u.totals.jobs }),
    completed: t.int({ resolve: (u) => u.totals.byStatus.COMPLETED ?? 0 }),
    failed: t.int({ resolve: (u) => u.totals.byStatus.FAILED ?? 0 }),
    cancelled: t.int({ resolve: (u) => u.totals.byStatus.CANCELLED ?? 0 }),
    inProgress: t.int({ description: 'Jobs still IN_QUEUE or IN_PROGRESS.', resolve: (u) => (u.totals.byStatus.IN_QUEUE ?? 0) + (u.totals.byStatus.IN_PROGRESS ?? 0) }),
    dailyBudget: t.field({
      type: MoneyRef,
      nullable: true,
      description: "The daily budget that applies to this caller (the tenant's for admins and API keys, the user's otherwise); null when none.",
      resolve: (u) => (u.dailyBudget === null ? null : { nanos: u.dailyBudget }),
    }),
  }),
});

const DAY_MS = 86_400_000;

builder.queryField('usage', (t) =>
  t.field({
    type: UsageRef,
    description: "The caller's spend and jobs by status for jobs created in [from, to). Defaults: from = today 00:00 UTC, to = from + 1 day.",
    args: { from: t.arg({ type: 'DateTime' }), to: t.arg({ type: 'DateTime' }) },
    resolve: async (_root, args, ctx) => {
      const today = new Date(new Date().toISOString().slice(0, 10));
      const from = args.from ? new Date(args.from as string) : today;
      const to = args.to ? new Date(args.to as string) : new Date(from.getTime() + DAY_MS);
      if (to.getTime() < from.getTime()) throw new InvalidInputError('to', 'to must not be before from');
      const totals = await ctx.jobs.usage(ctx.caller, { from, to });
      return { totals, dailyBudget: ctx.jobs.dailyBudgetFor(ctx.caller) };
    },
  }),
);

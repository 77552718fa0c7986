/**
 * Money as integers: amounts are nano-dollars (1e-9 USD) in safe integers, parsed from and printed as
 * decimal strings, so no float ever touches a price, a cost or a budget. Also the one rule of what a
 * job counts towards a budget (`chargeOf`) and which UTC day it counts on (`dayOf`).
 */
import type { Job } from './job.ts';

export const NANOS_PER_USD = 1_000_000_000;
export const CURRENCY = 'USD';

/** `"0.07"` -> 70_000_000; null when the text is not a non-negative decimal with at most 9 decimals. */
export function parseUsd(text: string): number | null {
  const match = /^(\d{1,9})(?:\.(\d{1,9}))?$/.exec(text.trim());
  if (!match) return null;
  const whole = Number(match[1]);
  const fraction = Number((match[2] ?? '').padEnd(9, '0'));
  return whole * NANOS_PER_USD + fraction;
}

/** 350_000_000 -> `"0.35"`: at least two decimals, no trailing zeros beyond them. */
export function formatUsd(nanos: number): string {
  const sign = nanos < 0 ? '-' : '';
  const abs = Math.abs(nanos);
  const whole = Math.floor(abs / NANOS_PER_USD);
  const fraction = String(abs % NANOS_PER_USD).padStart(9, '0').replace(/0+$/, '').padEnd(2, '0');
  return `${sign}${whole}.${fraction}`;
}

/** A job's estimated cost: the price per second times its duration. */
export function estimateCost(pricePerSecondNanos: number, duration: string): number {
  return pricePerSecondNanos * Number(duration);
}

/**
 * What a job counts against its budgets: its cost, except when it ended FAILED or CANCELLED (fal bills
 * only successful outputs). A submit whose outcome is unknown may have been accepted: it keeps counting.
 */
export function chargeOf(job: Pick<Job, 'status' | 'error' | 'costNanoUsd'>): number {
  if (job.status === 'CANCELLED') return 0;
  if (job.status === 'FAILED' && job.error?.code !== 'SUBMIT_OUTCOME_UNKNOWN') return 0;
  return job.costNanoUsd ?? 0;
}

/** The UTC day a job's spend counts on: the day it was created, `YYYY-MM-DD`. */
export function dayOf(createdAt: string): string {
  return new Date(Date.parse(createdAt)).toISOString().slice(0, 10);
}

/** Whole seconds until the next UTC midnight (at least 1). */
export function secondsUntilNextUtcDay(now: Date): number {
  const next = Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate() + 1);
  return Math.max(1, Math.ceil((next - now.getTime()) / 1000));
}

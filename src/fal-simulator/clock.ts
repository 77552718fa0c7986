/**
 * The simulator's pausable clock: simulated milliseconds since start, frozen while paused.
 */
import { performance } from 'node:perf_hooks';

export interface SimClock {
  /** Simulated ms since start; frozen while paused. */
  now(): number;
  pause(): void;
  resume(): void;
  /** Maps a simulated instant to an ISO timestamp (stable for the same instant). */
  iso(simMs: number): string;
}

export function createSimClock(): SimClock {
  const origin = performance.now();
  const wallOrigin = Date.now();
  let pausedAt: number | null = null;
  let pausedTotal = 0;
  const real = () => performance.now() - origin;
  return {
    now: () => (pausedAt ?? real()) - pausedTotal,
    pause() {
      pausedAt ??= real();
    },
    resume() {
      if (pausedAt === null) return;
      pausedTotal += real() - pausedAt;
      pausedAt = null;
    },
    iso: (simMs) => new Date(wallOrigin + simMs).toISOString(),
  };
}

/** The heartbeat sweep: every item once per interval, spread over the interval's ticks, never all in one tick. */
import { describe, expect, it } from 'vitest';
import { startSweep, type Every } from '../../src/http/sweep.ts';

/** Ticks driven by hand: `run(n)` runs n ticks and returns how many items each visited. */
function manual() {
  let tick: (() => void) | null = null;
  let tickMs = 0;
  let stopped = false;
  const every: Every = (fn, ms) => {
    tick = fn;
    tickMs = ms;
    return () => void (stopped = true);
  };
  return { every, tickMs: () => tickMs, stopped: () => stopped, step: () => tick!() };
}

describe('startSweep', () => {
  it('visits each of 10,000 items once per interval, about 1/48 of them per tick', () => {
    const items = new Set(Array.from({ length: 10_000 }, (_, i) => i));
    const clock = manual();
    const visits = new Map<number, number>();
    let inTick = 0;
    startSweep(items, 12_000, (item) => {
      visits.set(item, (visits.get(item) ?? 0) + 1);
      inTick++;
    }, { every: clock.every });
    expect(clock.tickMs()).toBe(250);
    const perTick: number[] = [];
    for (let pass = 1; pass <= 2; pass++) {
      for (let t = 0; t < 48; t++) {
        inTick = 0;
        clock.step();
        perTick.push(inTick);
      }
      expect(visits.size).toBe(10_000);
      expect([...visits.values()].every((n) => n === pass)).toBe(true);
    }
    expect(Math.max(...perTick)).toBeLessThanOrEqual(Math.ceil(10_000 / 48));
  });

  it('a pass visits as many items as the set held when it began: items added meanwhile wait for the next one (but for a deleted one\'s place); deleted ones are skipped; none twice', () => {
    const items = new Set([1, 2, 3, 4, 5, 6, 7, 8]);
    const clock = manual();
    const seen: number[] = [];
    startSweep(items, 400, (item) => seen.push(item), { slices: 4, every: clock.every });
    clock.step(); // 1, 2
    items.delete(3);
    items.add(9);
    items.add(10);
    clock.step();
    clock.step();
    clock.step(); // the last tick of the pass finishes it: 9 in 3's place, 10 next time
    expect(seen).toEqual([1, 2, 4, 5, 6, 7, 8, 9]);
    seen.length = 0;
    for (let t = 0; t < 4; t++) clock.step();
    expect(seen).toEqual([1, 2, 4, 5, 6, 7, 8, 9, 10]);
  });

  it('an item added after the start is first visited in the next pass, not at the next tick', () => {
    const items = new Set<string>();
    const clock = manual();
    const seen: string[] = [];
    startSweep(items, 12_000, (item) => seen.push(item), { every: clock.every });
    items.add('new');
    for (let t = 0; t < 48; t++) clock.step();
    expect(seen).toEqual([]);
    for (let t = 0; t < 48; t++) clock.step();
    expect(seen).toEqual(['new']);
  });

  it('a few items: each still once per interval (not once per tick); ticks no shorter than 10 ms', () => {
    const items = new Set(['a']);
    const clock = manual();
    let visits = 0;
    const stop = startSweep(items, 300, () => void visits++, { every: clock.every });
    expect(clock.tickMs()).toBe(10);
    for (let t = 0; t < 30 * 3; t++) clock.step();
    expect(visits).toBe(3);
    stop();
    expect(clock.stopped()).toBe(true);
  });
});

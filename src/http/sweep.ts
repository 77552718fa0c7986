/**
 * A periodic sweep over a live set (the heartbeat of every open WebSocket or SSE stream), spread
 * over the interval in slices instead of done in one go: every item is visited once per interval,
 * as before, but a tick visits about 1/SLICES of them. At 10,000 WebSockets a whole sweep is
 * 10,000 pings, about as long as a fan-out of an update to all of them; done at once it lands, one
 * interval in a dozen or so, between two batches of a cohort fan-out (which yields) and makes that
 * update's fan-out two to three times as long (scripts/bench/fanout-tail.ts showed it). A slice of
 * ~200 pings costs a few milliseconds, less than one fan-out batch.
 */

/** Ticks per interval (12 s: one every 250 ms), and the shortest tick. */
export const SLICES = 48;
const MIN_TICK_MS = 10;

/** Runs `tick` every `ms` until the returned stop is called (default: an unref'd setInterval). */
export type Every = (tick: () => void, ms: number) => () => void;

const every: Every = (tick, ms) => {
  const timer = setInterval(tick, ms);
  timer.unref();
  return () => clearInterval(timer);
};

/**
 * Visits every item of `items` once per `intervalMs`, in `slices` ticks (SLICES, fewer when a tick
 * would be shorter than 10 ms), in the set's order. A pass visits as many items as the set held when
 * it began: an item added during a pass is visited in the next one (as with one sweep per interval, its
 * first visit comes one to two intervals after it was added), unless it takes the place of items deleted
 * meanwhile; deleted items are not visited. The first pass begins at the start. Returns the stop.
 */
export function startSweep<T>(items: Set<T>, intervalMs: number, visit: (item: T) => void, options: { slices?: number; every?: Every } = {}): () => void {
  const slices = Math.max(1, Math.min(options.slices ?? SLICES, Math.floor(intervalMs / MIN_TICK_MS)));
  let cursor: Iterator<T> = items.values();
  let passSize = items.size;
  let visited = 0;
  let tick = 0;
  return (options.every ?? every)(() => {
    // The last tick of a pass finishes it; the others share what is left of it evenly.
    const ticksLeft = slices - tick;
    const budget = ticksLeft === 1 ? passSize - visited : Math.ceil((passSize - visited) / ticksLeft);
    for (let n = 0; n < budget; n++) {
      const step = cursor.next();
      if (step.done) break;
      visited++;
      visit(step.value);
    }
    tick = (tick + 1) % slices;
    if (tick === 0) {
      cursor = items.values();
      passSize = items.size;
      visited = 0;
    }
  }, intervalMs / slices);
}

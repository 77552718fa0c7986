/**
 * The poll scheduler: one timer per tracked key, at most `concurrency` runs at once, never two runs
 * of one key at the same time. It knows nothing of jobs or fal; time comes from an injected clock, so
 * a test drives it with a fake one.
 */

/** Time and timers, injected (tests pass a fake that they advance by hand). */
export interface Clock {
  now(): number;
  setTimer(callback: () => void, delayMs: number): unknown;
  clearTimer(handle: unknown): void;
}

export function systemClock(): Clock {
  return {
    now: () => Date.now(),
    setTimer: (callback, delayMs) => setTimeout(callback, delayMs),
    clearTimer: (handle) => clearTimeout(handle as NodeJS.Timeout),
  };
}

export interface SchedulerDeps {
  clock: Clock;
  /** Most runs in flight at once. */
  concurrency: number;
  /** What a due key does; it schedules its own next run (or removes itself). */
  run: (key: string) => Promise<void>;
  onError: (key: string, error: unknown) => void;
  /** How late a run started against its schedule, in seconds (metrics). */
  onLag?: (seconds: number) => void;
}

export interface Scheduler {
  /** Runs `key` in `delayMs` (replacing its pending timer); adds the key when new. */
  schedule(key: string, delayMs: number): void;
  /** Runs `key` now (or joins the run in flight) and resolves when that run is done. */
  runNow(key: string): Promise<void>;
  remove(key: string): void;
  has(key: string): boolean;
  keys(): string[];
  size(): number;
  /** Cancels every timer and waits for the runs in flight; scheduling is refused afterwards. */
  stop(): Promise<void>;
}

interface Entry {
  timer: unknown;
  dueAt: number | null;
  running: Promise<void> | null;
}

export function createScheduler({ clock, concurrency, run, onError, onLag }: SchedulerDeps): Scheduler {
  const entries = new Map<string, Entry>();
  const waiting: Array<() => void> = [];
  let active = 0;
  let stopped = false;

  async function acquire() {
    if (active < concurrency) {
      active++;
      return;
    }
    await new Promise<void>((resolve) => waiting.push(resolve));
  }
  function release() {
    const next = waiting.shift();
    if (next) next();
    else active--;
  }
  function clear(entry: Entry) {
    if (entry.timer !== null) clock.clearTimer(entry.timer);
    entry.timer = null;
  }

  function start(key: string, entry: Entry): Promise<void> {
    if (entry.running) return entry.running;
    clear(entry);
    entry.running = (async () => {
      await acquire();
      try {
        if (entry.dueAt !== null) onLag?.(Math.max(0, clock.now() - entry.dueAt) / 1000);
        entry.dueAt = null;
        if (!stopped && entries.get(key) === entry) await run(key);
      } catch (error) {
        onError(key, error);
      } finally {
        release();
        entry.running = null;
      }
    })();
    return entry.running;
  }

  return {
    schedule(key, delayMs) {
      if (stopped) return;
      let entry = entries.get(key);
      if (!entry) entries.set(key, (entry = { timer: null, dueAt: null, running: null }));
      clear(entry);
      const target = entry;
      target.dueAt = clock.now() + delayMs;
      target.timer = clock.setTimer(() => {
        target.timer = null;
        if (target.running) {
          // Due while a run is in flight: run again right after it.
          void target.running.then(() => entries.get(key) === target && !target.timer && void start(key, target));
        } else void start(key, target);
      }, Math.max(0, delayMs));
    },
    runNow(key) {
      const entry = entries.get(key);
      return entry && !stopped ? start(key, entry) : Promise.resolve();
    },
    remove(key) {
      const entry = entries.get(key);
      if (!entry) return;
      clear(entry);
      entries.delete(key);
    },
    has: (key) => entries.has(key),
    keys: () => [...entries.keys()],
    size: () => entries.size,
    async stop() {
      stopped = true;
      for (const entry of entries.values()) clear(entry);
      await Promise.allSettled([...entries.values()].map((entry) => entry.running));
      entries.clear();
    },
  };
}

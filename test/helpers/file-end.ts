/**
 * What the helpers clean up (servers, child processes, temporary folders), registered once, when a
 * helper is first imported. `test/setup.ts`, which Vitest runs before every file, runs the tasks in
 * an `afterAll` (and the per-test ones in an `afterEach`): the same whether each file gets fresh
 * modules or a worker's files share them (`isolate: false`). Tasks run last registered first, one at
 * a time, like stacked hooks. A per-test task ends what every test started, so a file whose helpers
 * register one (the simulator's own tests) must not run its tests concurrently.
 */
const tasks: Array<() => unknown> = [];
const perTest: Array<() => unknown> = [];

export function atFileEnd(task: () => unknown): void {
  tasks.push(task);
}

/** The same, after every test of every file (simulators a test started, say). */
export function atTestEnd(task: () => unknown): void {
  perTest.push(task);
}

export const runFileEnd = () => runAll(tasks);
export const runTestEnd = () => runAll(perTest);

async function runAll(list: Array<() => unknown>): Promise<void> {
  const errors: unknown[] = [];
  for (const task of [...list].reverse()) {
    try {
      await task();
    } catch (error) {
      errors.push(error);
    }
  }
  if (errors.length === 1) throw errors[0];
  if (errors.length > 1) throw new AggregateError(errors, 'file-end clean-ups failed');
}

/**
 * What a helper cleans up after each test file (or each test) (servers, child processes, temporary directories),
 * registered once when the helper is first imported. `test/setup.ts`, which Vitest runs before every
 * file, runs the registered tasks in an `afterAll`: the same whether each file gets fresh modules or
 * a worker's files share them (`isolate: false`). Tasks run last registered first, one at a time,
 * like stacked `afterAll` hooks.
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

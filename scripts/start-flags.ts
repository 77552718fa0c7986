/**
 * The Node flags the production gateway runs with, written in one place: package.json's `start`
 * script (its last command, `node <flags> src/main.ts`). The Dockerfile's exec-form CMD cannot read
 * package.json, so it repeats them and test/dockerfile.test.ts fails when the two differ; the bench
 * starts its gateway child with them (scripts/bench/gateway.ts), so it measures what production runs.
 */
import { readFileSync } from 'node:fs';

export const START_ENTRY = 'src/main.ts';

/** The words between `node` and the entry in the `start` script of the package.json at `packageJson`. */
export function startNodeFlags(packageJson: URL = new URL('../package.json', import.meta.url)): string[] {
  const start = (JSON.parse(readFileSync(packageJson, 'utf8')) as { scripts?: { start?: string } }).scripts?.start ?? '';
  const words = (start.split('&&').at(-1) ?? '').trim().split(/\s+/);
  if (words[0] !== 'node' || words.at(-1) !== START_ENTRY) {
    throw new Error(`package.json's start script should end in "node <flags> ${START_ENTRY}": ${JSON.stringify(start)}`);
  }
  return words.slice(1, -1);
}

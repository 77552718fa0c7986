/** Runs before every test file (vitest.config.ts `setupFiles`): the helpers' clean-ups after each test and after the file. */
import { afterAll, afterEach } from 'vitest';
import { runFileEnd, runTestEnd } from './helpers/file-end.ts';

afterEach(runTestEnd);
afterAll(runFileEnd);

import { defineConfig } from 'vitest/config';

export default defineConfig({
  // graphql 16 has no "exports": Node loads its CommonJS build, Vite would load its ESM build. One
  // copy only, or schema types from two "realms" clash.
  resolve: { alias: [{ find: /^graphql$/, replacement: 'graphql/index.js' }] },
  test: {
    include: ['test/**/*.test.ts'],
    // The helpers' clean-ups (servers, child processes) after every file: test/helpers/file-end.ts.
    setupFiles: ['test/setup.ts'],
    // A worker runs its files one after another on one module graph (no fresh process and no
    // re-import of the gateway per file: ~40 s of a clean run). A test file must leave nothing behind
    // that another could see: no module mocks (hooks instead), environment put back, spies restored.
    isolate: false,
    testTimeout: 30_000,
    hookTimeout: 30_000,
    pool: 'forks',
    fileParallelism: true,
    maxWorkers: 2,
    reporters: ['default'],
  },
});

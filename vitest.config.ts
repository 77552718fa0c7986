import { defineConfig } from 'vitest/config';

export default defineConfig({
  // graphql 16 has no "exports": Node loads its CommonJS build, Vite would load its ESM build. One
  // copy only, or schema types from two "realms" clash.
  resolve: { alias: [{ find: /^graphql$/, replacement: 'graphql/index.js' }] },
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 30_000,
    hookTimeout: 30_000,
    pool: 'forks',
    fileParallelism: true,
    maxWorkers: 2,
    reporters: ['default'],
  },
});

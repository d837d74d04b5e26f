import { defineConfig } from 'vitest/config';

// PGlite takes seconds to start and ~800 MB: files run in a few forks, each
// file opens at most one embedded instance and shares it across its tests.
export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    pool: 'forks',
    maxWorkers: 2,
    testTimeout: 30_000,
    hookTimeout: 60_000,
    globalSetup: ['test/global-setup.ts'],
  },
});

import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

const here = (path: string) => fileURLToPath(new URL(path, import.meta.url));

// PGlite takes seconds to start and ~800 MB: files run in a few forks, each
// file opens at most one embedded instance and shares it across its tests.
// The SDK packages resolve to their source by name (as tsconfig.json's paths
// say), so tests import '@herald/client' and '@herald/react' without a build.
export default defineConfig({
  resolve: {
    alias: {
      '@herald/client': here('./src/client/index.ts'),
      '@herald/react': here('./packages/react/src/index.ts'),
    },
  },
  test: {
    include: ['test/**/*.test.ts', 'test/**/*.test.tsx'],
    pool: 'forks',
    maxWorkers: 2,
    testTimeout: 30_000,
    hookTimeout: 60_000,
    globalSetup: ['test/global-setup.ts'],
  },
});

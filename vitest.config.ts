import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    // The database tests spend most of their time waiting for a server or a child process: three
    // files at once on two cores take 40% less time than one (each owns its database).
    maxWorkers: 3,
    projects: [
      { test: { name: 'unit', include: ['test/unit/**/*.test.ts'], setupFiles: ['test/support/fast-check.ts'] } },
      {
        test: {
          name: 'db',
          include: ['test/integration/**/*.test.ts', 'test/e2e/**/*.test.ts'],
          globalSetup: ['test/support/global-setup.ts'],
          testTimeout: 60_000,
          hookTimeout: 120_000,
        },
      },
    ],
  },
});

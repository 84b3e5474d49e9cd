import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    pool: 'forks',
    globalSetup: ['test/global-setup.ts'],
    // Commands default to one worker thread per core; tests ask for workers explicitly where they test them.
    env: { UNIT_ATTACK_WORKERS: '1' },
  },
});

import { defineConfig } from 'vitest/config'

// End-to-end tests: run the bundled dist/ against the real Docker engine and real HAProxy.
// They share one engine, so files run one at a time; each deploy can take a while.
export default defineConfig({
  test: {
    include: ['__tests__/e2e/**/*.test.ts'],
    fileParallelism: false,
    testTimeout: 240_000,
    hookTimeout: 240_000,
    globalSetup: ['__tests__/e2e/global-setup.ts', '__tests__/e2e/tls-endpoint-setup.ts'],
  },
})

import { defineConfig } from 'vitest/config'

// Unit tests, named after the source they test: no Docker engine needed. `*.test.itg.ts` are the
// slow ones that run real binaries as root (HAProxy 2.6 and 3.0 `haproxy -c` in a mount namespace).
export default defineConfig({
  test: {
    include: ['__tests__/**/*.test.ts', '__tests__/**/*.test.itg.ts'],
    exclude: ['__tests__/e2e/**'],
  },
})

import { defineConfig } from 'vitest/config'

// Unit tests: fast, no Docker engine needed.
export default defineConfig({
  test: {
    include: ['__tests__/**/*.test.ts'],
    exclude: ['__tests__/e2e/**'],
  },
})

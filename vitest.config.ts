import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts", "src/**/*.test.ts"],
    testTimeout: 30_000,
    hookTimeout: 30_000,
    // The resource and timing reports some tests print ([resources], [timing]) help diagnose a
    // failure; for a passing test they are noise.
    silent: "passed-only",
  },
});

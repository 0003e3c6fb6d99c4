import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["tests/conformance/**/*.vitest.ts"],
    hookTimeout: 120_000,
    testTimeout: 5_000,
  },
});

/**
 * What test files import instead of `bun:test`: `bun:test` itself under Bun, and the same
 * functions on `Deno.test` under Deno (./deno-test.ts), so every test body runs on both.
 * Under Deno this also does what bunfig.toml's preload does under Bun (./preload.ts).
 */
import type * as BunTest from "bun:test";

const isBun = typeof (globalThis as { Bun?: unknown }).Bun !== "undefined";

// Typed as bun:test (what tsc checks the tests against); the Deno module implements that slice.
const api = (isBun ? await import("bun:test") : await import("./deno-test.ts")) as unknown as typeof BunTest;

export const { describe, test, expect, beforeAll, afterAll, beforeEach, afterEach } = api;

if (!isBun) (await import("./file-hooks.ts")).fileHooks(api.afterAll);

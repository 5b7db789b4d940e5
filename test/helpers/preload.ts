/** Loaded before every test file (bunfig.toml): clean up after crashed runs, and after tests. */
import { afterAll } from "bun:test";
import { bpf } from "./env.ts";
import { cleanup, sweepStale } from "./fixture.ts";

if (bpf.ok) sweepStale();
afterAll(cleanup);

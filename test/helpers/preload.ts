/** bunfig.toml's preload: runs before every test file under Bun (harness.ts does it under Deno). */
import { afterAll } from "bun:test";
import { fileHooks } from "./file-hooks.ts";

fileHooks(afterAll);

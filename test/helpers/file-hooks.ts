/**
 * Per test file: bound every map scan, sweep what crashed runs left behind, and clean up after
 * the file's tests.
 */
import { bpf, isDeno } from "./env.ts";
import { cleanup, sweepStale } from "./fixture.ts";
import { guardScans } from "./bounded-scan.ts";

export function fileHooks(afterAll: (fn: () => void) => void): void {
  // A scan that never ends fails its test instead of hanging the suite (./bounded-scan.ts).
  guardScans();
  if (bpf.ok) sweepStale();
  afterAll(cleanup);
  // Deno: `process.on("exit")` does not fire at the end of `deno test`, and with --filter the
  // file's last test (which runs afterAll) may be filtered out; "unload" fires per test module.
  if (isDeno) globalThis.addEventListener("unload", cleanup);
}

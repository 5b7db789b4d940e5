/** Per test file: sweep what crashed runs left behind, and clean up after the file's tests. */
import { bpf, isDeno } from "./env.ts";
import { cleanup, sweepStale } from "./fixture.ts";

export function fileHooks(afterAll: (fn: () => void) => void): void {
  if (bpf.ok) sweepStale();
  afterAll(cleanup);
  // Deno: `process.on("exit")` does not fire at the end of `deno test`, and with --filter the
  // file's last test (which runs afterAll) may be filtered out; "unload" fires per test module.
  if (isDeno) globalThis.addEventListener("unload", cleanup);
}

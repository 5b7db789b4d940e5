/** Per test file: sweep what crashed runs left behind, and clean up after the file's tests. */
import { bpf } from "./env.ts";
import { cleanup, sweepStale } from "./fixture.ts";

export function fileHooks(afterAll: (fn: () => void) => void): void {
  if (bpf.ok) sweepStale();
  afterAll(cleanup);
}

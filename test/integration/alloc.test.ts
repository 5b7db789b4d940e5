/**
 * The hot path allocates nothing: zero garbage collections across 1M lookups (per-CPU and
 * shared) and across 20,000 full scans (400k entries), counted from the engine's own GC log
 * (JSC under Bun, V8 under Deno) in a subprocess. Control runs that clone every result must
 * show collections, so the method can tell. A correctness property, not a timing.
 */
import { describe, expect, test } from "../helpers/harness.ts";
import { bpf } from "../helpers/env.ts";
import { gcsDuring } from "../fixtures/gc-count.ts";

describe.skipIf(!bpf.ok)("zero allocation in the hot path", () => {
  test("1M per-CPU lookups + sums: 0 GCs", () => {
    const { gcs, report } = gcsDuring("percpu", 1_000_000);
    console.log(`[alloc] ${JSON.stringify(report)} gcs=${gcs}`);
    expect(gcs).toBe(0);
  }, 60_000);

  test("1M shared lookups + 1M locked lookups: 0 GCs", () => {
    const { gcs } = gcsDuring("shared", 1_000_000);
    expect(gcs).toBe(0);
  }, 60_000);

  test("20,000 full scans (forEach) of a 20-entry map, 400k entries: 0 GCs", () => {
    const { gcs } = gcsDuring("scan", 1_000_000);
    expect(gcs).toBe(0);
  }, 60_000);

  test("control: cloning every scanned value does collect, so the scan check can fail", () => {
    const { gcs } = gcsDuring("scancontrol", 1_000_000);
    expect(gcs).toBeGreaterThan(0);
  }, 60_000);

  test("control: cloning every result does collect, so the method detects allocation", () => {
    const { gcs } = gcsDuring("control", 300_000);
    expect(gcs).toBeGreaterThan(0);
  }, 60_000);
});

/**
 * `bun bench/inline-threshold.ts [sizes…]`: where polling in Workers starts to pay. For each
 * size, a fresh fixture, then 5 rounds of Collector polls in 1 thread, 1 Worker and 2 Workers
 * (Workers forced with inlineBelow 0), under Bun and Deno; prints medians (ns per key).
 * Collector's INLINE_BELOW comes from this.
 */
import { spawnSync } from "node:child_process";
import { resolve } from "node:path";
import { BenchFixture, ROOT } from "./fixture.ts";
import { DENO } from "../test/fixtures/gc-count.ts";
const med = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1]!;
const sizes = process.argv.slice(2).map(Number);
const TS_SIDE = resolve(ROOT, "bench/ts-side.ts");
for (const n of sizes.length ? sizes : [16, 32, 64, 128, 256, 512]) {
  using fx = new BenchFixture(n);
  const scans = Math.max(50, Math.round(100_000 / n));
  for (const rt of ["bun", "deno"] as const) {
    const r: Record<number, number[]> = { 0: [], 1: [], 2: [] };
    for (let rep = 0; rep < 5; rep++) for (const w of [0, 1, 2]) {
      const [exe, args] = rt === "bun" ? [process.execPath, [TS_SIDE]] : [DENO, ["run", "-A", TS_SIDE]];
      const p = spawnSync(exe, [...args, "collector_poll", fx.pcpuPin, String(scans), String(w), "0"], { encoding: "utf8" });
      if (p.status !== 0) throw new Error(p.stderr);
      r[w]!.push(JSON.parse(p.stdout).ns_per_entry);
    }
    console.log(`${n} keys ${rt}: 1 thread ${med(r[0]!).toFixed(0)} ns/key, 1 Worker ${med(r[1]!).toFixed(0)}, 2 Workers ${med(r[2]!).toFixed(0)}  (2W speed-up ${(med(r[0]!) / med(r[2]!)).toFixed(2)})`);
  }
}

/**
 * `bun run bench [--quick]`: every workload, C reference and TypeScript alternately (C, TS, C,
 * TS …) in one invocation; medians of each side, median of per-pair ratios (TS / C) and their
 * range. Writes bench/RESULTS.md (not with --quick, which runs everything once at tiny sizes so
 * `npm test` keeps the benchmark from rotting).
 */
import { execFileSync } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { cpus as osCpus } from "node:os";
import { resolve } from "node:path";
import { possibleCpus } from "../src/index.ts";
import { gcsDuring } from "../test/fixtures/gc-count.ts";
import { BenchFixture, EGRESS, ROOT, cBuild } from "./fixture.ts";
import { fmt, median, ratioRange, runPairs, type PairResult } from "./stats.ts";
import {
  runC, runCScan, tsAggregate, tsHotPerCpu, tsHotShared, tsKnownPoll, tsScan, type ScanResult,
} from "./workloads.ts";

const quick = process.argv.includes("--quick");
const PAIRS = quick ? 1 : Number(process.env.BENCH_PAIRS ?? 7);
const HOT_N = quick ? 2_000 : 1_000_000;
const SIZES = quick ? [20, 40] : [1000, 5000];
/** Scans per sample: ~0.2 s of syscalls per side at each size. */
const scansFor = (n: number) => (quick ? 2 : Math.max(5, Math.round(100_000 / n)));
const AGG = { cpus: 256, valueSize: 64, iterations: quick ? 1_000 : 200_000 };

interface Row {
  workload: string;
  unit: string;
  r: PairResult;
  target?: { max?: number; min?: number; label: string };
  note?: string;
}
const rows: Row[] = [];
const extra: string[] = [];
let failed = false;

function log(msg: string) {
  process.stderr.write(`bench: ${msg}\n`);
}

type Totals = Omit<ScanResult, "nsPerEntry">;
function sameTotals(what: string, c: Totals, ts: Totals) {
  if (c.entries !== ts.entries || c.packets !== ts.packets || c.bytes !== ts.bytes) {
    failed = true;
    log(`MISMATCH in ${what}: C ${JSON.stringify(c)} vs TS ${JSON.stringify(ts)}`);
  }
}

execFileSync("make", ["-s", "-C", resolve(ROOT, "bench/c")], { stdio: "inherit" });

// 1. Hot lookup, and 2./3. scans and polls, per fixture size.
for (const [i, n] of SIZES.entries()) {
  log(`fixture: ${n} cgroups`);
  const t0 = performance.now();
  using fx = new BenchFixture(n);
  log(`fixture ready in ${fmt((performance.now() - t0) / 1000, 1)} s (${fx.method})`);
  const hotId = fx.cgroups[0]!.id;

  if (i === 0) {
    const hot = (mode: "percpu" | "shared" | "locked", pin: string) =>
      () => runC<{ ns_per_op: number }>("hot_lookup", [pin, hotId, EGRESS, HOT_N, mode]).ns_per_op;
    rows.push({ workload: "hot lookup, per-CPU map (+ sum 2 fields)", unit: "ns/lookup",
      r: runPairs(PAIRS, hot("percpu", fx.pcpuPin), () => tsHotPerCpu(fx.pcpu, hotId, EGRESS, HOT_N)),
      target: { max: 1.03, label: "≤ 1.03" } });
    rows.push({ workload: "hot lookup, shared map", unit: "ns/lookup",
      r: runPairs(PAIRS, hot("shared", fx.sharedPin), () => tsHotShared(fx.shared, hotId, EGRESS, HOT_N, false)),
      target: { max: 1.03, label: "≤ 1.03" } });
    rows.push({ workload: "hot lookup, shared map, BPF_F_LOCK", unit: "ns/lookup",
      r: runPairs(PAIRS, hot("locked", fx.sharedPin), () => tsHotShared(fx.shared, hotId, EGRESS, HOT_N, true)),
      target: { max: 1.03, label: "≤ 1.03" } });

    // 6. Cold start: whole processes, wall time.
    const wall = (cmd: string, args: string[]) => {
      const t = performance.now();
      const out = execFileSync(cmd, args, { encoding: "utf8" });
      return { ms: performance.now() - t, out: JSON.parse(out) as Totals };
    };
    const coldC = () => wall(cBuild("full_scan"), [fx.pcpuPin, "1"]);
    const coldTs = () => wall(process.execPath, [resolve(ROOT, "bench/cold-start.ts"), fx.pcpuPin]);
    sameTotals("cold start", coldC().out, coldTs().out);
    rows.push({ workload: `cold start: open pin, scan ${n}, print`, unit: "ms (wall)",
      r: runPairs(PAIRS, () => coldC().ms, () => coldTs().ms), target: { label: "report" } });
  }

  const scans = scansFor(n);
  let cScan: ScanResult | undefined, tsScanR: ScanResult | undefined;
  const scan = runPairs(PAIRS,
    () => (cScan = runCScan("full_scan", fx.pcpuPin, scans)).nsPerEntry,
    () => (tsScanR = tsScan(fx.pcpu, scans)).nsPerEntry);
  sameTotals(`full scan ${n}`, cScan!, tsScanR!);
  if (tsScanR!.entries !== n || tsScanR!.packets !== fx.packets) {
    failed = true;
    log(`full scan ${n}: saw ${tsScanR!.entries} entries / ${tsScanR!.packets} packets, expected ${n} / ${fx.packets}`);
  }
  rows.push({ workload: `full scan, ${n} entries (get_next_key + lookup)`, unit: "ns/entry", r: scan,
    target: { max: 1.05, label: "≤ 1.05" } });

  let cPoll: ScanResult | undefined, tsPoll: ScanResult | undefined;
  const poll = runPairs(PAIRS,
    () => (cPoll = runCScan("known_poll", fx.pcpuPin, scans)).nsPerEntry,
    () => (tsPoll = tsKnownPoll(fx.pcpu, scans)).nsPerEntry);
  sameTotals(`known-key poll ${n}`, cPoll!, tsPoll!);
  rows.push({ workload: `known-key poll, ${n} keys, 1 thread`, unit: "ns/entry", r: poll, target: { label: "vs C poll" } });
  const vsScan = median(poll.ts) / median(scan.c);
  rows.push({ workload: `known-key poll TS vs C full scan, ${n}`, unit: "ns/entry",
    r: { c: scan.c, ts: poll.ts, ratios: poll.ts.map((t, k) => t / scan.c[k]!) },
    target: { max: 0.55, label: "≤ 0.55" }, note: `${fmt(vsScan, 3)} of the C scan's cost per entry` });
}

// 4. Per-CPU aggregation, no syscalls.
let aggCheck: [number, number] = [0, 0];
rows.push({ workload: `aggregate ${AGG.cpus} CPUs × ${AGG.valueSize} B (all u64 fields)`, unit: "ns/value",
  r: runPairs(PAIRS,
    () => { const r = runC<{ ns_per_op: number; check: number }>("aggregate", [AGG.cpus, AGG.valueSize, AGG.iterations]); aggCheck[0] = r.check; return r.ns_per_op; },
    () => { const r = tsAggregate(AGG.cpus, AGG.valueSize, AGG.iterations); aggCheck[1] = r.check; return r.nsPerOp; }),
  target: { max: 1.5, label: "≤ 1.5" } });
if (aggCheck[0] !== aggCheck[1]) {
  failed = true;
  log(`aggregate: C check ${aggCheck[0]} ≠ TS check ${aggCheck[1]}`);
}

// 5. Allocation: GCs in the hot loops (JSC's own log, in a subprocess).
const gcLookup = gcsDuring("percpu", HOT_N);
const gcScan = gcsDuring("scan", quick ? 10_000 : 1_000_000);
extra.push(`GCs during ${fmt(gcLookup.report.runs)} per-CPU lookups: **${gcLookup.gcs}**; during ` +
  `${fmt(gcScan.report.runs)} full scans (forEach over 20 entries): **${gcScan.gcs}** (target 0)`);
if (gcLookup.gcs + gcScan.gcs !== 0) log("allocation target missed: GCs in the hot path");

// Report.
function verdict(row: Row): string {
  const m = median(row.r.ratios);
  const t = row.target;
  if (!t || (t.max === undefined && t.min === undefined)) return t?.label ?? "";
  const ok = (t.max === undefined || m <= t.max) && (t.min === undefined || m >= t.min);
  return `${t.label} ${ok ? "✓" : "✗"}`;
}
const lines = [
  "| workload | unit | C median | TS median | TS/C (median of pairs) | range | target |",
  "|---|---|---:|---:|---:|---:|---|",
  ...rows.map((row) =>
    `| ${row.workload} | ${row.unit} | ${fmt(median(row.r.c), 1)} | ${fmt(median(row.r.ts), 1)} | ` +
      `**${fmt(median(row.r.ratios), 3)}** | ${ratioRange(row.r)} | ${verdict(row)} |`),
];
const cpuModel = readFileSync("/proc/cpuinfo", "utf8").match(/model name\s*:\s*(.*)/)?.[1] ?? "unknown";
const libbpfVersion = (() => {
  try {
    return execFileSync("dpkg-query", ["-W", "-f", "${Version}", "libbpf1"], { encoding: "utf8" });
  } catch {
    return "unknown";
  }
})();
const machine = `${cpuModel}, ${osCpus().length} cores (${possibleCpus()} possible CPUs), kernel ` +
  `${execFileSync("uname", ["-r"], { encoding: "utf8" }).trim()}, libbpf ${libbpfVersion}, bun ${Bun.version}, gcc -O2`;
const report = [
  `Machine: ${machine}.`,
  `Method: ${PAIRS} C/TS pairs per workload after a warm-up, run alternately in one \`bun run bench\`; ` +
    "C = bench/c (libbpf, gcc -O2), same pinned maps, same work; times are measured inside each program " +
    "(cold start: whole-process wall time).",
  "",
  ...lines,
  "",
  ...extra.map((e) => `- ${e}`),
  "- 2 Workers known-key poll: not measured yet (needs the collector, issue 5).",
].join("\n");
console.log(report);
if (!quick) {
  writeFileSync(resolve(ROOT, "bench/RESULTS.md"),
    `# Benchmark results\n\nWritten by \`bun run bench\` on ${new Date().toISOString().slice(0, 10)}.\n\n${report}\n`);
}
if (failed) {
  log("FAILED: the two sides disagree (see above)");
  process.exit(1);
}

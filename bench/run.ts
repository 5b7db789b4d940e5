/**
 * `bun run bench [--quick]`: every workload, C reference and TypeScript alternately (C, TS, C,
 * TS …) in one invocation. Both sides are fresh processes started the same way (bench/c/* and
 * bench/ts-side.ts, same arguments, same pinned maps), each timing its own loop after warming
 * up. Reports the median of each side, the median of per-pair ratios (TS / C) and their range,
 * and writes bench/RESULTS.md. `--quick` runs everything once at tiny sizes, without writing
 * results, so `npm test` keeps the benchmark from rotting; it still fails if the sides disagree.
 * `--only=<section,…>` runs only those sections and prints their rows without writing
 * RESULTS.md (`--help` lists the sections).
 */
import { execFileSync, spawnSync } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { cpus as osCpus } from "node:os";
import { resolve } from "node:path";
import { possibleCpus } from "../src/index.ts";
import { DENO, gcsDuring } from "../test/fixtures/gc-count.ts";
import { BenchFixture, EGRESS, ROOT, cBuild, nativeBuild } from "./fixture.ts";
import { fmt, median, pairsOf, ratioRange, runPairs, type PairResult } from "./stats.ts";

/** The sections `--only=` selects (every one by default). */
const SECTIONS = {
  hot: "hot lookups and the per-CPU gap rows (first size only)",
  cold: "cold start (first size only)",
  scan: "full scans of the per-CPU map: forEach and keys() + lookup vs C get_next_key + lookup",
  poll: "known-key polls",
  collector: "Collector: one thread vs Workers",
  cgrp: "CGRP_STORAGE scans: forEach (iterator) vs C's iterator scan and vs C get_next_key + lookup on the old shared map",
  aggregate: "per-CPU aggregation",
  gc: "GC counts in the hot loops",
} as const;
type Section = keyof typeof SECTIONS;
if (process.argv.includes("--help")) {
  console.log("usage: bun run bench/run.ts [--quick] [--only=section,…]\nsections:\n" +
    Object.entries(SECTIONS).map(([k, v]) => `  ${k.padEnd(10)} ${v}`).join("\n"));
  process.exit(0);
}
const onlyArg = process.argv.find((a) => a.startsWith("--only="))?.slice("--only=".length);
const only = onlyArg === undefined ? null : new Set(onlyArg.split(","));
for (const name of only ?? []) if (!(name in SECTIONS)) throw new Error(`--only: no section "${name}" (see --help)`);
const want = (section: Section) => only === null || only.has(section);
const quick = process.argv.includes("--quick");
// --quick only checks that both sides run and agree: a short warm-up for both (inherited by every side).
if (quick) process.env.BENCH_WARMUP_MS ??= "20";
const PAIRS = quick ? 1 : Number(process.env.BENCH_PAIRS ?? 9);
const HOT_N = quick ? 2_000 : 1_000_000;
const SIZES = quick ? [20, 40] : [1000, 5000];
/** Scans per sample: ~0.25 s of syscalls per side at each size. */
const scansFor = (n: number) => (quick ? 2 : Math.max(10, Math.round(100_000 / n)));
/** CGRP_STORAGE iterator scans per sample: ~15× cheaper per cgroup, so ~20× as many (~0.25 s). */
const cgrpScansFor = (n: number) => (quick ? 2 : Math.max(50, Math.round(2_000_000 / n)));
const AGG = { valueSize: 64, iterations: quick ? 1_000 : 200_000 };
/** JSC options that take Bun's JIT and GC helper threads away (what is left is counted). */
const SINGLE_THREAD_ENV = {
  ...process.env, BUN_JSC_useConcurrentJIT: "0", BUN_JSC_useConcurrentGC: "0", BUN_JSC_numberOfGCMarkers: "1",
};
/** V8's flag for the same under Deno: no background compile or GC threads. */
const DENO_SINGLE_THREADED = "--v8-flags=--single-threaded";
/** Collector Workers compared with one thread. */
const WORKERS = [1, 2, 4];

interface Target { max?: number; label: string }
interface Row { workload: string; unit: string; r: PairResult; target?: Target }
interface Totals { entries: number; packets: number; bytes: number }
type Scan = Totals & { ns_per_entry: number };
const rows: Row[] = [];
/** Collector table lines: keys, Workers, 1-thread and N-Worker ns/entry, speed-up. */
const collectorRows: string[] = [];
/** Per collector round: throughput speed-up of 2 C threads of fixed CPU work (2.0 on idle cores). */
const parallelism: number[] = [];
/** Per collector round and size: speed-up of the C known-key poll split over 2 threads (bench/c/parallel_poll.c). */
const pollParallelism: Record<number, number[]> = {};
const notes: string[] = [];
let failed = false;

const log = (msg: string) => process.stderr.write(`bench: ${msg}\n`);

const TS_SIDE = resolve(ROOT, "bench/ts-side.ts");

/**
 * Runs one side of a workload (a C reference, `bun bench/ts-side.ts`, or the same file under
 * `deno run -A`) and parses its JSON.
 */
function side<T>(lang: "c" | "ts" | "deno", workload: string, args: (string | number)[], env?: NodeJS.ProcessEnv, denoFlags: string[] = []): T {
  const rest = [workload, ...args.map(String)];
  const [cmd, argv] = lang === "c"
    ? [cBuild(workload), args.map(String)]
    : lang === "deno"
      ? [DENO, ["run", "-A", ...denoFlags, TS_SIDE, ...rest]]
      : [process.execPath, [TS_SIDE, ...rest]];
  const r = spawnSync(cmd, argv, { encoding: "utf8", env: env ?? process.env });
  if (r.status !== 0) throw new Error(`${lang} ${workload} ${args.join(" ")}: exit ${r.status}: ${r.stderr}`);
  return JSON.parse(r.stdout) as T;
}

function checkTotals(what: string, c: Totals, ts: Totals, expected?: Totals) {
  const same = (a: Totals, b: Totals) => a.entries === b.entries && a.packets === b.packets && a.bytes === b.bytes;
  if (!same(c, ts) || (expected && !same(c, expected))) {
    failed = true;
    log(`MISMATCH in ${what}: C ${JSON.stringify(c)} TS ${JSON.stringify(ts)} expected ${JSON.stringify(expected)}`);
  }
}

/**
 * 2c. CGRP_STORAGE: `forEach` through the bundled iterator, from the fixture's parent cgroup
 * (a fixed walk, whatever other cgroups come and go on the machine), against (a) C doing the
 * same iterator scan (bench/c/cgrp_scan.c) and (b) C's get_next_key + lookup over the old
 * shared map (type 19, one value per entry like CGRP_STORAGE), which holds an entry for each of
 * the same cgroups. And for information, C scanning without the cgroup iterator: one
 * BPF_PROG_RUN of a syscall program walking with the css iterator (bench/c/cgrp_walk.bpf.c,
 * kernel ≥ 6.7), where it loads. Each round runs the C css walk, C iterator, C old map, Bun,
 * Deno; the two target rows share the TypeScript samples.
 */
function cgrpRows(fx: BenchFixture, n: number, oldScans: number, oldExpected: Totals) {
  if (fx.cgrpPin === null) {
    notes.push(`CGRP_STORAGE rows at ${n} skipped: ${fx.cgrpMissing}`);
    return;
  }
  const walkObject = cBuild("cgrp_walk.bpf.o");
  const args = [fx.cgrpPin, cgrpScansFor(n), fx.parent.id, nativeBuild("cgrp_iter.bpf.o")];
  const walkArgs = [fx.cgrpPin, cgrpScansFor(n), fx.parent.id, walkObject];
  let walkMissing: string | undefined;
  try { // one scan, no warm-up: does it load here?
    side<Scan>("c", "cgrp_scan", [fx.cgrpPin, 1, fx.parent.id, walkObject], { ...process.env, BENCH_COLD: "1" });
  } catch (e) {
    walkMissing = String(e).split("\n")[0];
    notes.push(`The css-iterator walk (kernel ≥ 6.7) did not run at ${n}: ${walkMissing}`);
  }
  const iter: number[] = [], old: number[] = [], walk: number[] = [], bun: number[] = [], deno: number[] = [];
  for (let round = 0; round < PAIRS; round++) {
    if (walkMissing === undefined) {
      const w = side<Scan>("c", "cgrp_scan", walkArgs);
      checkTotals(`CGRP_STORAGE css walk ${n}`, w, w, fx.cgrpTotals);
      walk.push(w.ns_per_entry);
    }
    const c = side<Scan>("c", "cgrp_scan", args), o = side<Scan>("c", "full_scan", [fx.sharedPin, oldScans]);
    const t = side<Scan>("ts", "cgrp_scan", args), d = side<Scan>("deno", "cgrp_scan", args);
    checkTotals(`CGRP_STORAGE scan ${n}`, c, t, fx.cgrpTotals);
    checkTotals(`CGRP_STORAGE scan ${n} (Deno)`, c, d, fx.cgrpTotals);
    checkTotals(`old shared map scan ${n}`, o, o, oldExpected);
    iter.push(c.ns_per_entry);
    old.push(o.ns_per_entry);
    bun.push(t.ns_per_entry);
    deno.push(d.ns_per_entry);
  }
  rows.push({ workload: `CGRP_STORAGE scan, ${n} cgroups: forEach (iterator) vs C, same iterator scan`, unit: "ns/cgroup",
    r: pairsOf(iter, bun, deno), target: { max: 1.1, label: "≤ 1.10" } });
  rows.push({ workload: `CGRP_STORAGE scan, ${n} cgroups: forEach (iterator) vs C get_next_key + lookup, old shared map, same cgroups`,
    unit: "ns/cgroup", r: pairsOf(old, bun, deno), target: { max: 0.1, label: "≤ 0.10" } });
  if (walk.length > 0) {
    rows.push({ workload: `↳ information: C, one BPF_PROG_RUN walking with the css iterator (≥ 6.7) vs C iterator scan, ${n}`,
      unit: "ns/cgroup", r: pairsOf(iter, walk) });
    rows.push({ workload: `↳ information: the same css walk (C) vs C get_next_key + lookup, old shared map, ${n}`,
      unit: "ns/cgroup", r: pairsOf(old, walk) });
  }
}

execFileSync("make", ["-s", "-C", resolve(ROOT, "bench/c")], { stdio: "inherit" });

for (const [i, n] of SIZES.entries()) {
  const t0 = performance.now();
  using fx = new BenchFixture(n);
  log(`fixture: ${n} cgroups ready in ${fmt((performance.now() - t0) / 1000, 1)} s (${fx.method})`);
  const hotArgs = (pin: string, mode: string) => [pin, fx.cgroups[0]!.id, EGRESS, HOT_N, mode];
  const ns = (r: { ns_per_op: number }) => r.ns_per_op;

  if (i === 0 && want("hot")) {
    // 1. Hot lookup of one key.
    for (const [mode, pin, label] of [
      ["percpu", fx.pcpuPin, "per-CPU map (+ sum 2 fields)"],
      ["shared", fx.sharedPin, "shared map"],
      ["locked", fx.sharedPin, "shared map, BPF_F_LOCK"],
    ] as const) {
      rows.push({ workload: `hot lookup, ${label}`, unit: "ns/lookup", target: { max: 1.03, label: "≤ 1.03" },
        r: runPairs(PAIRS, () => ns(side("c", "hot_lookup", hotArgs(pin, mode))),
          () => ns(side("ts", "hot_lookup", hotArgs(pin, mode))),
          () => ns(side("deno", "hot_lookup", hotArgs(pin, mode)))) });
    }
    // Where the per-CPU gap comes from: candidates are the kernel's fd refcount in a
    // multi-threaded process (fdget takes a reference when the fd table is shared), the
    // runtimes' helper threads, and cgstore's own code. Each row changes one of them.
    const pc = hotArgs(fx.pcpuPin, "percpu");
    const threads: Record<string, number> = {};
    const cHot = () => ns(side("c", "hot_lookup", pc));
    const track = (what: string, r: { ns_per_op: number; threads?: number }) => {
      if (r.threads !== undefined) threads[what] = r.threads;
      return r.ns_per_op;
    };
    for (const idle of [1, 4]) {
      rows.push({ workload: `↳ gap: C with ${idle} idle thread${idle > 1 ? "s" : ""} (vs C, 0 threads)`, unit: "ns/lookup",
        r: runPairs(PAIRS, cHot, () => ns(side("c", "hot_lookup", [...pc, idle]))) });
    }
    rows.push({ workload: "↳ gap: bare FFI lookup, no cgstore (bun:ffi / Deno.dlopen)", unit: "ns/lookup",
      r: runPairs(PAIRS, cHot, () => track("Bun, bare FFI", side("ts", "bare_lookup", pc.slice(0, 4))),
        () => track("Deno, bare FFI", side("deno", "bare_lookup", pc.slice(0, 4)))) });
    rows.push({ workload: "↳ gap: cgstore, helper threads reduced (BUN_JSC_useConcurrentJIT=0 … / --v8-flags=--single-threaded)", unit: "ns/lookup",
      r: runPairs(PAIRS, cHot, () => track("Bun, JIT/GC threads off", side("ts", "hot_lookup", pc, SINGLE_THREAD_ENV)),
        () => track("Deno, --single-threaded", side("deno", "hot_lookup", pc, undefined, [DENO_SINGLE_THREADED]))) });
    threads["Bun, cgstore"] = side<{ threads: number }>("ts", "hot_lookup", [...pc.slice(0, 3), 1000, "percpu"]).threads;
    threads["Deno, cgstore"] = side<{ threads: number }>("deno", "hot_lookup", [...pc.slice(0, 3), 1000, "percpu"]).threads;
    notes.push(`Threads at the end of a hot-lookup run (/proc/self/status): ${Object.entries(threads).map(([k, v]) => `${k} ${v}`).join(", ")}; C 1.`);
  }
  if (i === 0 && want("cold")) {
    // 6. Cold start: whole processes, wall time.
    const wall = (cmd: string, args: string[]) => {
      const t = performance.now();
      const env = { ...process.env, BENCH_COLD: "1" }; // C: skip the warm-up the timed loops get
      const out = JSON.parse(execFileSync(cmd, args, { encoding: "utf8", env })) as Totals;
      return { ms: performance.now() - t, out };
    };
    const coldC = () => wall(cBuild("full_scan"), [fx.pcpuPin, "1"]);
    const coldTs = () => wall(process.execPath, [resolve(ROOT, "bench/cold-start.ts"), fx.pcpuPin]);
    const coldDeno = () => wall(DENO, ["run", "-A", resolve(ROOT, "bench/cold-start.ts"), fx.pcpuPin]);
    checkTotals("cold start", coldC().out, coldTs().out);
    checkTotals("cold start (Deno)", coldC().out, coldDeno().out);
    rows.push({ workload: `cold start: open pin, scan ${n}, print`, unit: "ms (wall)", target: { label: "report" },
      r: runPairs(PAIRS, () => coldC().ms, () => coldTs().ms, () => coldDeno().ms) });
  }

  // 2. Full scan and 3. known-key poll.
  const scans = scansFor(n);
  const expected = { entries: n, packets: fx.packets, bytes: fx.packets * (64 + 28) };
  let scanC: number[] | null = null;
  if (want("scan")) {
    let cs: Scan | undefined, ts: Scan | undefined, ds: Scan | undefined;
    const scan = runPairs(PAIRS, () => (cs = side<Scan>("c", "full_scan", [fx.pcpuPin, scans])).ns_per_entry,
      () => (ts = side<Scan>("ts", "full_scan", [fx.pcpuPin, scans])).ns_per_entry,
      () => (ds = side<Scan>("deno", "full_scan", [fx.pcpuPin, scans])).ns_per_entry);
    checkTotals(`full scan ${n}`, cs!, ts!, expected);
    checkTotals(`full scan ${n} (Deno)`, cs!, ds!, expected);
    rows.push({ workload: `full scan, ${n} entries: forEach vs C get_next_key + lookup`, unit: "ns/entry", r: scan,
      target: { max: 1.05, label: "≤ 1.05" } });
    scanC = scan.c;

    let kc: Scan | undefined, kt: Scan | undefined, kd: Scan | undefined;
    const keysScan = runPairs(PAIRS, () => (kc = side<Scan>("c", "full_scan", [fx.pcpuPin, scans])).ns_per_entry,
      () => (kt = side<Scan>("ts", "keys_lookup", [fx.pcpuPin, scans])).ns_per_entry,
      () => (kd = side<Scan>("deno", "keys_lookup", [fx.pcpuPin, scans])).ns_per_entry);
    checkTotals(`keys() + lookup ${n}`, kc!, kt!, expected);
    checkTotals(`keys() + lookup ${n} (Deno)`, kc!, kd!, expected);
    rows.push({ workload: `full scan, ${n} entries: for (k of keys()) lookup(k) vs C get_next_key + lookup`, unit: "ns/entry",
      r: keysScan, target: { max: 1.1, label: "≤ 1.10" } });
  }

  if (want("poll")) {
    let cp: Scan | undefined, tp: Scan | undefined, dp: Scan | undefined;
    const poll = runPairs(PAIRS, () => (cp = side<Scan>("c", "known_poll", [fx.pcpuPin, scans])).ns_per_entry,
      () => (tp = side<Scan>("ts", "known_poll", [fx.pcpuPin, scans])).ns_per_entry,
      () => (dp = side<Scan>("deno", "known_poll", [fx.pcpuPin, scans])).ns_per_entry);
    checkTotals(`known-key poll ${n}`, cp!, tp!, expected);
    checkTotals(`known-key poll ${n} (Deno)`, cp!, dp!, expected);
    rows.push({ workload: `known-key poll, ${n} keys, 1 thread (vs C known-key poll)`, unit: "ns/entry", r: poll,
      target: { max: 1.05, label: "≤ 1.05" } });
    const c = scanC;
    if (c !== null) {
      rows.push({ workload: `↳ information: TS known-key poll vs C full scan (different algorithms), ${n}`, unit: "ns/entry",
        r: { c, ts: poll.ts, ratios: poll.ts.map((t, k) => t / c[k]!),
          deno: poll.deno && { ts: poll.deno.ts, ratios: poll.deno.ts.map((t, k) => t / c[k]!) } } });
      notes.push(`At ${n} entries C's own known-key poll costs ${fmt(median(poll.c) / median(c), 3)} of the C full scan per entry.`);
    }
  }

  if (want("cgrp")) cgrpRows(fx, n, scans, expected);

  if (want("collector")) {
    // 3b. The Collector: one thread vs 1, 2 and 4 Workers (TS vs TS, Workers forced with
    // inlineBelow 0), alternating in each round; speed-up = one thread's ns/entry / N Workers'.
    type Coll = { ns_per_entry: number; entries: number };
    const collRuns: Record<number, number[]> = { 0: [] };
    for (const w of WORKERS) collRuns[w] = [];
    const speedups: Record<number, number[]> = {};
    for (let round = 0; round < PAIRS; round++) {
      for (const w of [0, ...WORKERS]) collRuns[w]!.push(side<Coll>("ts", "collector_poll", [fx.pcpuPin, scans, w, 0]).ns_per_entry);
      for (const w of WORKERS) (speedups[w] ??= []).push(collRuns[0]![round]! / collRuns[w]![round]!);
      // The machine's parallelism in the same round: 2 C threads of fixed work vs 1.
      const one = side<{ ns: number }>("c", "parallel", [1]).ns, two = side<{ ns: number }>("c", "parallel", [2]).ns;
      parallelism.push((2 * one) / two);
      // Like for like: the same lookups in C, one thread vs two (the kernel's own scaling).
      type PollNs = { ns_per_entry: number };
      const c1 = side<PollNs>("c", "parallel_poll", [fx.pcpuPin, scans, 1]).ns_per_entry;
      const c2 = side<PollNs>("c", "parallel_poll", [fx.pcpuPin, scans, 2]).ns_per_entry;
      (pollParallelism[n] ??= []).push(c1 / c2);
    }
    for (const w of WORKERS) {
      const s = speedups[w]!;
      collectorRows.push(`| ${n} | ${w} | ${fmt(median(collRuns[0]!), 0)} | ${fmt(median(collRuns[w]!), 0)} | ` +
        `**${fmt(median(s), 2)}×** | ${fmt(Math.min(...s), 2)}–${fmt(Math.max(...s), 2)} | ${w === 2 ? `≥ 1.8 ${median(s) >= 1.8 ? "✓" : "✗"}` : ""} |`);
    }
  }
}

// 4. Per-CPU aggregation, no syscalls: values as lookups return them (WebAssembly sum), at 256
// CPUs and at this machine's possible CPUs; and the JavaScript sum over a plain buffer (the
// sum before this WebAssembly one, and the fallback where WebAssembly is missing).
type Agg = { ns_per_op: number; check: number };
for (const [cpus, mode, target] of !want("aggregate") ? [] : [
  [256, "wasm", { max: 1.3, label: "≤ 1.3" }], [possibleCpus(), "wasm", { max: 1.1, label: "≤ 1.1" }],
  [256, "js", undefined], [possibleCpus(), "js", undefined],
] as const) {
  let aggC: Agg | undefined, aggTs: Agg | undefined, aggDeno: Agg | undefined;
  const args = [cpus, AGG.valueSize, AGG.iterations, ...(mode === "js" ? ["js"] : [])];
  rows.push({ workload: `aggregate ${cpus} CPUs × ${AGG.valueSize} B (every u64 field), ${mode === "wasm" ? "lookup's values, sumU64Fields() (WebAssembly sum)" : "new PerCpuValues (JavaScript sum)"}`,
    unit: "ns/value", target,
    r: runPairs(PAIRS, () => (aggC = side<Agg>("c", "aggregate", args.slice(0, 3))).ns_per_op,
      () => (aggTs = side<Agg>("ts", "aggregate", args)).ns_per_op,
      () => (aggDeno = side<Agg>("deno", "aggregate", args)).ns_per_op) });
  if (aggC!.check !== aggTs!.check || aggC!.check !== aggDeno!.check) {
    failed = true;
    log(`aggregate ${cpus} ${mode}: C check ${aggC!.check}, Bun ${aggTs!.check}, Deno ${aggDeno!.check}`);
  }
}

// 5. Allocation: GCs in the hot loops, from the engines' own logs (JSC under Bun, V8 under Deno).
for (const runtime of want("gc") ? ["bun", "deno"] as const : []) {
  const gcLookup = gcsDuring("percpu", HOT_N, runtime);
  const gcScan = gcsDuring("scan", quick ? 10_000 : 1_000_000, runtime);
  const gcPoll = gcsDuring("poller", quick ? 10_000 : 1_000_000, runtime);
  const gcAgg = gcsDuring("aggregate", quick ? 10_000 : 1_000_000, runtime);
  const gcKeys = gcsDuring("keys", quick ? 10_000 : 1_000_000, runtime);
  // CGRP_STORAGE forEach through the iterator, 200 cgroups per scan (kernel ≥ 6.2).
  let gcCgrp: ReturnType<typeof gcsDuring> | string;
  try {
    gcCgrp = gcsDuring("cgrpscan", quick ? 10_000 : 1_000_000, runtime);
  } catch (e) {
    gcCgrp = `not measured (${String(e).split("\n")[0]})`;
  }
  notes.unshift(`${runtime === "bun" ? "Bun (JSC)" : "Deno (V8)"}: GCs during ${fmt(gcLookup.report.runs)} per-CPU ` +
    `lookups: **${gcLookup.gcs}**; during ${fmt(gcScan.report.runs)} full scans (forEach, 20 entries): ` +
    `**${gcScan.gcs}**; during ${fmt(gcPoll.report.runs)} collector polls of 20 keys (a Worker's work): **${gcPoll.gcs}**; ` +
    `during ${fmt(gcAgg.report.runs)} × 2 WebAssembly sums of a lookup's fields: **${gcAgg.gcs}**; ` +
    `during ${fmt(gcKeys.report.runs)} scans \`for (k of keys()) lookup(k)\` (20 keys): **${gcKeys.gcs}**; ` +
    (typeof gcCgrp === "string" ? `CGRP_STORAGE scans: ${gcCgrp}` : `during ${fmt(gcCgrp.report.runs)} CGRP_STORAGE scans ` +
      `(forEach through the iterator, 200 cgroups): **${gcCgrp.gcs}**`) + " (target 0).");
  const gcs = gcLookup.gcs + gcScan.gcs + gcPoll.gcs + gcAgg.gcs + gcKeys.gcs + (typeof gcCgrp === "string" ? 0 : gcCgrp.gcs);
  if (gcs !== 0) log(`allocation target missed under ${runtime}: GCs in the hot path`);
}

// Report.
const verdict = (row: Row) => {
  const t = row.target;
  if (!t || t.max === undefined) return t?.label ?? "";
  return `${t.label} ${median(row.r.ratios) <= t.max ? "✓" : "✗"}`;
};
const denoCells = (r: PairResult) =>
  r.deno ? `${fmt(median(r.deno.ts), 1)} | **${fmt(median(r.deno.ratios), 3)}** (${ratioRange(r.deno)})` : "– | –";
const table = [
  "| workload | unit | C median | Bun median | Bun/C (median of pairs) | range | target | Deno median | Deno/C (range) |",
  "|---|---|---:|---:|---:|---:|---|---:|---:|",
  ...rows.map((row) =>
    `| ${row.workload} | ${row.unit} | ${fmt(median(row.r.c), 1)} | ${fmt(median(row.r.ts), 1)} | ` +
      `**${fmt(median(row.r.ratios), 3)}** | ${ratioRange(row.r)} | ${verdict(row)} | ${denoCells(row.r)} |`),
];
const denoVersion = execFileSync(DENO, ["--version"], { encoding: "utf8" }).split("\n")[0]!.replace(/^deno /, "");
const cpuModel = readFileSync("/proc/cpuinfo", "utf8").match(/model name\s*:\s*(.*)/)?.[1] ?? "unknown";
let libbpfVersion = "unknown";
try {
  libbpfVersion = execFileSync("dpkg-query", ["-W", "-f", "${Version}", "libbpf1"], { encoding: "utf8" });
} catch {
  // not Debian
}
const kernel = execFileSync("uname", ["-r"], { encoding: "utf8" }).trim();
const report = [
  `Machine: ${cpuModel}, ${osCpus().length} cores (${possibleCpus()} possible CPUs), kernel ${kernel}, ` +
    `libbpf ${libbpfVersion}, bun ${Bun.version}, deno ${denoVersion}, C built with gcc -O2.`,
  `Method: ${PAIRS} rounds per workload of C, then the TypeScript under Bun, then (where a Deno column ` +
    "is filled) the same TypeScript under Deno, in one `bun run bench`. Each side is a fresh process " +
    "(bench/c/*, bench/ts-side.ts) doing the same work on the same pinned maps and timing its own loop " +
    `after the same ${process.env.BENCH_WARMUP_MS ?? 250} ms warm-up (C included); ratios are to the C run of the same round; cold start is whole-process wall time. ` +
    "CGRP_STORAGE rows: each round runs C's iterator scan, C's get_next_key + lookup over the old shared map, Bun, Deno; " +
    "both rows share the TypeScript samples; the scans start at the fixture's parent cgroup.",
  ...(only === null ? [] : [`Sections run: ${[...only].join(", ")} (\`--only\`; RESULTS.md not rewritten).`]),
  "",
  ...table,
  ...(collectorRows.length === 0 ? [] : collectorReport()),
  "",
  ...notes.map((n) => `- ${n}`),
].join("\n");

/** The Collector table and its parallelism control. */
function collectorReport(): string[] {
  return [
    "",
    "Collector: one thread vs N Workers polling every key (TypeScript both, Bun; Workers forced with `inlineBelow: 0`), " +
      "all in each round; speed-up = one thread's ns/entry ÷ N Workers' (median of rounds, range).",
    "",
    "| keys | Workers | 1 thread ns/entry | N Workers ns/entry | speed-up | range | target |",
    "|---:|---:|---:|---:|---:|---:|---|",
    ...collectorRows,
    "",
    `Control, in the same rounds: 2 C threads of fixed CPU work ran **${fmt(median(parallelism), 2)}×** the throughput of one ` +
      `(range ${fmt(Math.min(...parallelism), 2)}–${fmt(Math.max(...parallelism), 2)}; 2.00 on two idle cores): ` +
      "the most any 2-Worker speed-up could have been.",
    ...Object.entries(pollParallelism).map(([n, s]) =>
      `Control, like for like (${n} keys): the C known-key poll split over 2 threads (\`bench/c/parallel_poll.c\`, an fd of its own per thread, as the Workers) ran ` +
      `**${fmt(median(s), 2)}×** the throughput of one C thread (range ${fmt(Math.min(...s), 2)}–${fmt(Math.max(...s), 2)}): ` +
      "what the kernel's lookups give two threads on this machine."),
  ];
}
console.log(report);
if (!quick && only === null) {
  writeFileSync(resolve(ROOT, "bench/RESULTS.md"),
    `# Benchmark results\n\nWritten by \`bun run bench\` on ${new Date().toISOString().slice(0, 10)}.\n\n${report}\n`);
}
if (failed) {
  log("FAILED: the two sides disagree (see above)");
  process.exit(1);
}

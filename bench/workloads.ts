/**
 * The TypeScript side of every workload, written the way a user of cgstore would, and the C
 * side run as the reference programs in bench/c. Each returns what it measured plus totals that
 * the runner cross-checks between the two sides.
 */
import { spawnSync } from "node:child_process";
import { ElemFlags, PerCpuValues, type CgroupStorageMap, type CgrpStorageMap, type PerCpuCgroupStorageMap } from "../src/index.ts";
import { cBuild } from "./fixture.ts";

export interface ScanResult {
  nsPerEntry: number;
  entries: number;
  packets: number;
  bytes: number;
}

/** Runs a C reference program and parses its one JSON line. */
export function runC<T>(prog: string, args: (string | number)[]): T {
  const r = spawnSync(cBuild(prog), args.map(String), { encoding: "utf8" });
  if (r.status !== 0) throw new Error(`${prog} ${args.join(" ")}: exit ${r.status}: ${r.stderr}`);
  return JSON.parse(r.stdout) as T;
}

/** Runs a C scan/poll reference (full_scan, known_poll) and returns its result like the TS side's. */
export function runCScan(prog: "full_scan" | "known_poll", pin: string, iterations: number): ScanResult {
  const r = runC<{ ns_per_entry: number; entries: number; packets: number; bytes: number }>(prog, [pin, iterations]);
  return { nsPerEntry: r.ns_per_entry, entries: r.entries, packets: r.packets, bytes: r.bytes };
}

/** Monotonic nanoseconds on either runtime (the timed loops run for milliseconds or more). */
const nowNs = () => performance.now() * 1e6;
/**
 * JIT warm-up before timing: a collector runs for hours, so steady state is what counts. 250 ms,
 * as the C side (BENCH_WARMUP_MS: `--quick` shortens both).
 */
export const WARMUP_NS = Number(process.env.BENCH_WARMUP_MS ?? 250) * 1e6;

function warmUp(step: () => void): void {
  const end = nowNs() + WARMUP_NS;
  do step(); while (nowNs() < end);
}

/** 1. Hot lookup of one key on the per-CPU map, summing packets and bytes over CPUs. */
export function tsHotPerCpu(map: PerCpuCgroupStorageMap, id: number, at: number, n: number): number {
  // The hot-loop idiom README shows: a key encoded once, field accessors made once.
  const key = map.key(id, at), packetsField = map.field("packets"), bytesField = map.field("bytes");
  // The accumulator is local to the loop: in V8 a captured `let` past 2^31 boxes a HeapNumber
  // on every store, which would time the engine's allocator, not the lookup.
  const loop = (k: number) => {
    let packets = 0;
    for (let i = 0; i < k; i++) {
      const v = map.lookup(key)!;
      packets += packetsField.total(v) + bytesField.total(v);
    }
    return packets;
  };
  warmUp(() => loop(10_000));
  const t0 = nowNs();
  const packets = loop(n);
  return (nowNs() - t0) / n + packets * 0;
}

/** 1. Hot lookup of one key on the shared map ({lock, packets, bytes}), plain or BPF_F_LOCK. */
export function tsHotShared(map: CgroupStorageMap, id: number, at: number, n: number, locked: boolean): number {
  const key = map.key(id, at), packetsField = map.field("packets"), bytesField = map.field("bytes");
  const flags = locked ? ElemFlags.F_LOCK : ElemFlags.ANY;
  const loop = (k: number) => {
    let packets = 0; // local, as in tsHotPerCpu
    for (let i = 0; i < k; i++) {
      const v = map.lookup(key, flags);
      if (v === null) throw new Error("vanished");
      packets += packetsField.get(v) + bytesField.get(v);
    }
    return packets;
  };
  warmUp(() => loop(10_000));
  const t0 = nowNs();
  const packets = loop(n);
  return (nowNs() - t0) / n + packets * 0;
}

/** 2. Full scan: get_next_key + lookup of every entry, per-CPU sums of packets and bytes. */
export function tsScan(map: PerCpuCgroupStorageMap, iterations: number): ScanResult {
  let packets = 0, bytes = 0, entries = 0;
  const packetsField = map.field("packets"), bytesField = map.field("bytes");
  const onEntry = (_id: number, _at: number | undefined, v: PerCpuValues) => {
    packets += packetsField.total(v);
    bytes += bytesField.total(v);
  };
  warmUp(() => map.forEach(onEntry));
  const t0 = nowNs();
  for (let i = 0; i < iterations; i++) {
    packets = bytes = 0;
    entries = map.forEach(onEntry);
  }
  const ns = nowNs() - t0;
  return { nsPerEntry: ns / (iterations * entries), entries, packets, bytes };
}

/**
 * 2c. CGRP_STORAGE full scan: `forEach` (one run of the bundled cgroup iterator, records read
 * in place) over the subtree at cgroup `root` (0: the whole hierarchy), summing the value's two
 * u64 fields, like bench/c/cgrp_scan.c. Throws if a scan did not take the iterator.
 */
export function tsCgrpScan(map: CgrpStorageMap, iterations: number, root: number): ScanResult {
  let packets = 0, bytes = 0, entries = 0;
  const packetsField = map.field("packets"), bytesField = map.field("bytes");
  const options = root === 0 ? undefined : { root };
  const onEntry = (_id: number, _at: undefined, v: Uint8Array) => {
    packets += packetsField.get(v);
    bytes += bytesField.get(v);
  };
  warmUp(() => map.forEach(onEntry, options));
  if (map.lastScan.method !== "iterator") throw new Error(`the scan took the ${map.lastScan.method} path: ${map.lastScan.reason}`);
  const t0 = nowNs();
  for (let i = 0; i < iterations; i++) {
    packets = bytes = 0;
    entries = map.forEach(onEntry, options);
  }
  const ns = nowNs() - t0;
  return { nsPerEntry: ns / (iterations * entries), entries, packets, bytes };
}

/**
 * 2b. The scan a user writes first: `for (const k of map.keys()) map.lookup(k)`, like for like
 * with the C get_next_key + lookup loop (keys() makes one get_next_key per key).
 */
export function tsKeysLookup(map: PerCpuCgroupStorageMap, iterations: number): ScanResult {
  let packets = 0, bytes = 0, entries = 0;
  const packetsField = map.field("packets"), bytesField = map.field("bytes");
  const scan = () => {
    packets = bytes = entries = 0;
    for (const k of map.keys()) {
      const v = map.lookup(k);
      if (v !== null) {
        packets += packetsField.total(v);
        bytes += bytesField.total(v);
        entries++;
      }
    }
  };
  warmUp(scan);
  const t0 = nowNs();
  for (let i = 0; i < iterations; i++) scan();
  const ns = nowNs() - t0;
  return { nsPerEntry: ns / (iterations * entries), entries, packets, bytes };
}

/** 3. Known-key poll: keys collected once (untimed), then one lookup per key per poll. */
export function tsKnownPoll(map: PerCpuCgroupStorageMap, iterations: number): ScanResult {
  // The keys as keys() yields them, passed back to lookup as they are.
  const keys = [...map.keys()];
  const packetsField = map.field("packets"), bytesField = map.field("bytes");
  let packets = 0, bytes = 0;
  const poll = () => {
    packets = bytes = 0;
    for (let i = 0; i < keys.length; i++) {
      const v = map.lookup(keys[i]!);
      if (v !== null) {
        packets += packetsField.total(v);
        bytes += bytesField.total(v);
      }
    }
  };
  warmUp(poll);
  const t0 = nowNs();
  for (let i = 0; i < iterations; i++) poll();
  const ns = nowNs() - t0;
  return { nsPerEntry: ns / (iterations * keys.length), entries: keys.length, packets, bytes };
}

/**
 * 4. Per-CPU aggregation without syscalls: every u64 field of a cpus × valueSize buffer. `wasm`:
 * values as lookups return them (shared WebAssembly memory, summed by WebAssembly); otherwise a
 * `new PerCpuValues` (plain SharedArrayBuffer, summed in JavaScript).
 */
export function tsAggregate(cpus: number, valueSize: number, iterations: number, wasm = true): { nsPerOp: number; check: number } {
  const v = wasm ? PerCpuValues.inWasmMemory(valueSize, cpus) : new PerCpuValues(valueSize, cpus);
  const words = v.words;
  // Counters below 2^16 (high words 0), so the checksum stays exact in both languages.
  for (let i = 0; i < words.length; i++) words[i] = i & 1 ? 0 : (Math.imul(i, 2654435761) >>> 0) & 0xffff;
  const fields = valueSize >> 3;
  // The warm-up runs the timed loop itself (as the hot-lookup rows do): a sum costs ~10 ns, so a
  // timed loop left to start in the engine's lower tiers, after warming only the sum, measured
  // its own tier-up (27.8 ns at 200k iterations, ~30% less at 2M, under Bun; twice that under Deno).
  const loop = (k: number) => {
    let check = 0; // local, as in tsHotPerCpu
    for (let it = 0; it < k; it++) {
      // Every field into the value's own sums (C: into its own array): no copy.
      const sums = v.sumU64Fields();
      check += sums[it % fields]!;
    }
    return check;
  };
  warmUp(() => loop(10_000));
  const t0 = nowNs();
  const check = loop(iterations);
  return { nsPerOp: (nowNs() - t0) / iterations, check };
}

/**
 * The TypeScript side of each workload as its own process, invoked exactly like the C
 * references in bench/c (same arguments, same one-line JSON out), so both sides start equal:
 * fresh process, same pinned map, timing measured inside.
 *   hot_lookup <pin> <cgroup id> <attach type> <iterations> <percpu|shared|locked>
 *   full_scan <pin> <iterations>      known_poll <pin> <iterations>      keys_lookup <pin> <iterations>
 *   cgrp_scan <pin> <iterations> <root cgroup id> [cgrp_iter.bpf.o]   (CGRP_STORAGE forEach; the
 *     object argument is the C side's and ignored here: cgstore finds its bundled one)
 *   aggregate <cpus> <value size> <iterations> [js]   (js: a plain SharedArrayBuffer, JavaScript sum)
 *   collector_poll <pin> <iterations> <workers> [inlineBelow]   (Collector.poll over every key; wall time)
 *   bare_lookup <pin> <cgroup id> <attach type> <iterations>   (libbpf through bun:ffi / Deno.dlopen, no cgstore)
 * Every result also carries `threads`: the process's thread count (/proc/self/status) at the end.
 */
import { readFileSync } from "node:fs";
import { CgroupStorageMap, CgrpStorageMap, Collector, PerCpuCgroupStorageMap } from "../src/index.ts";
import { WARMUP_NS, tsAggregate, tsCgrpScan, tsHotPerCpu, tsHotShared, tsKeysLookup, tsKnownPoll, tsScan } from "./workloads.ts";
import { bareLookup } from "./bare-ffi.ts";

const [workload, ...args] = process.argv.slice(2);
const num = (i: number) => Number(args[i]);


let out: unknown;
switch (workload) {
  case "hot_lookup": {
    const mode = args[4];
    out = {
      ns_per_op: mode === "percpu"
        ? tsHotPerCpu(PerCpuCgroupStorageMap.open(args[0]!), num(1), num(2), num(3))
        : tsHotShared(CgroupStorageMap.open(args[0]!), num(1), num(2), num(3), mode === "locked"),
    };
    break;
  }
  case "full_scan":
  case "keys_lookup":
  case "known_poll": {
    const m = PerCpuCgroupStorageMap.open(args[0]!);
    const r = (workload === "full_scan" ? tsScan : workload === "keys_lookup" ? tsKeysLookup : tsKnownPoll)(m, num(1));
    out = { ns_per_entry: r.nsPerEntry, entries: r.entries, packets: r.packets, bytes: r.bytes };
    break;
  }
  case "cgrp_scan": {
    const r = tsCgrpScan(CgrpStorageMap.open(args[0]!), num(1), num(2));
    out = { ns_per_entry: r.nsPerEntry, entries: r.entries, packets: r.packets, bytes: r.bytes };
    break;
  }
  case "aggregate": {
    const r = tsAggregate(num(0), num(1), num(2), args[3] !== "js");
    out = { ns_per_op: r.nsPerOp, check: r.check };
    break;
  }
  case "collector_poll": {
    const m = PerCpuCgroupStorageMap.open(args[0]!);
    const c = await Collector.create(m, { workers: num(2), capacity: 8192, inlineBelow: args[3] === undefined ? undefined : num(3) });
    const keys = c.refresh().added;
    const end = performance.now() * 1e6 + WARMUP_NS; // warm-up, as for every workload
    do await c.poll(); while (performance.now() * 1e6 < end);
    const t0 = performance.now() * 1e6;
    for (let i = 0; i < num(1); i++) await c.poll();
    out = { ns_per_entry: (performance.now() * 1e6 - t0) / (num(1) * keys), entries: keys };
    await c.close();
    break;
  }
  case "bare_lookup":
    out = { ns_per_op: await bareLookup(args[0]!, num(1), num(2), num(3)) };
    break;
  default:
    throw new Error(`unknown workload ${workload}`);
}
const threads = Number(/^Threads:\s+(\d+)/m.exec(readFileSync("/proc/self/status", "utf8"))?.[1]);
console.log(JSON.stringify({ ...(out as object), threads }));

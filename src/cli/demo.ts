/**
 * `cgstore demo`: the bundled counter on three fresh cgroups with known loopback traffic, the
 * per-cgroup table, and everything removed afterwards (on Ctrl-C and errors too; after a
 * SIGKILL, links die with the process and a watchdog removes the cgroups).
 */
import { setTimeout as sleep } from "node:timers/promises";
import { spawn } from "node:child_process";
import { existsSync, readdirSync } from "node:fs";
import { join } from "node:path";
import {
  AttachType, BpfObject, bundledObjectBytes, Cgroup, CgroupStorageMap, CgrpStorageMap, createMap, ElemFlags, PerCpuCgroupStorageMap,
  cgroupRoot, errorKind, removeCgroupTree, type CgroupAttachment,
} from "../index.ts";
import { table } from "./format.ts";
import { Exit } from "./errors.ts";
import { spawnUdpTraffic } from "./udp-traffic.ts";

/** `cgstore demo --help`; printing it loads nothing (libbpf opens on first use). */
export const DEMO_HELP = `Usage: cgstore demo

Loads the bundled counter program (counter.bpf.o, shipped compiled: a per-CPU map and a
spin-locked shared map, 16-byte keys), creates three cgroups, attaches it at ingress and egress,
sends a known amount of UDP traffic over 127.0.0.1 from a child process inside each cgroup,
prints what the maps hold, and removes everything it made. On kernels with
BPF_MAP_TYPE_CGRP_STORAGE (6.2 and later) the bundled cgrp_counter.bpf.o counts the same
traffic side by side, attached once above the three cgroups, read by one iterator run. Needs
root. Exit code 4 if the maps disagree with the traffic sent.`;

const PREFIX = "cgstore-demo-";
/** name, datagrams, payload bytes: different per cgroup so the table is visibly right. */
const WORKLOADS = [["web", 200, 64], ["db", 500, 256], ["batch", 1000, 1400]] as const;
const IPV4_UDP_OVERHEAD = 28;

/** Null when this kernel has CGRP_STORAGE maps, else why the demo leaves them out. */
function cgrpStorageMissing(): string | null {
  try {
    createMap({ type: "cgrp", valueSize: 8 }).close();
    return null;
  } catch (e) {
    if (errorKind(e) === "unsupported") return (e as Error).message;
    throw e;
  }
}


/** Removes demo cgroups of earlier runs that were killed before they could clean up. */
function sweepStale(root: string): void {
  for (const name of readdirSync(root)) {
    const pid = /^cgstore-demo-(\d+)$/.exec(name)?.[1];
    if (pid !== undefined && !existsSync(`/proc/${pid}`)) removeCgroupTree(join(root, name));
  }
}

/** A detached shell that removes `dir` (and its children) once this process is gone. */
function startWatchdog(dir: string) {
  const script = `while kill -0 ${process.pid} 2>/dev/null; do sleep 0.2; done
for i in $(seq 50); do
  for d in "${dir}"/*/; do [ -d "$d" ] && rmdir "$d" 2>/dev/null; done
  rmdir "${dir}" 2>/dev/null && exit 0; [ -d "${dir}" ] || exit 0; sleep 0.1
done`;
  const child = spawn("sh", ["-c", script], { detached: true, stdio: "ignore" });
  child.unref();
  return child;
}

export async function demo(argv: string[]): Promise<number> {
  if (argv.includes("-h") || argv.includes("--help")) {
    console.log(DEMO_HELP);
    return Exit.OK;
  }
  const counterObject = await bundledObjectBytes("counter.bpf.o");
  const root = cgroupRoot();
  sweepStale(root);
  const started = performance.now();

  const attachments: CgroupAttachment[] = [];
  const parent = Cgroup.create(`${PREFIX}${process.pid}`);
  const watchdog = startWatchdog(parent.path);
  let obj: BpfObject | undefined, cgrpObj: BpfObject | undefined;
  let cleaned = false;
  const cleanup = () => {
    if (cleaned) return;
    cleaned = true;
    for (const a of attachments) a.detach();
    obj?.close();
    cgrpObj?.close();
    parent.remove({ evict: true, recursive: true }); // ours, with whatever the workloads left inside
    watchdog.kill();
  };
  const onSignal = () => {
    cleanup();
    process.exit(130);
  };
  process.once("SIGINT", onSignal);
  process.once("SIGTERM", onSignal);

  try {
    obj = BpfObject.open(counterObject, "counter.bpf.o").load();
    using pcpu = PerCpuCgroupStorageMap.from(obj.map("pcpu_stats"));
    using shared = CgroupStorageMap.from(obj.map("shared_stats"));
    const packetsField = pcpu.field("packets"), bytesField = pcpu.field("bytes");
    const lockedPackets = shared.field("packets"), lockedBytes = shared.field("bytes");

    const groups = WORKLOADS.map(([name, count, size]) => {
      const cg = Cgroup.create(`${parent.path}/${name}`);
      attachments.push(obj!.program("count_egress").attachCgroup(cg), obj!.program("count_ingress").attachCgroup(cg));
      return { cg, name, count, size };
    });
    // The modern map type: attached once, above the three; each socket counts into its own cgroup.
    const cgrpMissing = cgrpStorageMissing();
    if (cgrpMissing === null) {
      cgrpObj = BpfObject.open(await bundledObjectBytes("cgrp_counter.bpf.o"), "cgrp_counter.bpf.o").load();
      attachments.push(cgrpObj.program("cgrp_egress").attachCgroup(parent), cgrpObj.program("cgrp_ingress").attachCgroup(parent));
    }
    // For tests that kill the demo mid-run: say so once attached, then wait.
    const pause = Number(process.env.CGSTORE_DEMO_PAUSE_MS ?? 0);
    if (pause > 0) {
      console.error(`demo: attached, pausing ${pause} ms`);
      await sleep(pause);
    }
    for (const g of groups) await spawnUdpTraffic(g.cg.path, g.count, g.size);

    let agree = true;
    const rows: string[][] = [];
    for (const g of groups) {
      for (const [dir, at] of [["egress", AttachType.CGROUP_INET_EGRESS], ["ingress", AttachType.CGROUP_INET_INGRESS]] as const) {
        const key = { cgroupId: g.cg.id, attachType: at };
        const v = pcpu.lookup(key)!;
        const packets = packetsField.total(v), bytes = bytesField.total(v);
        const split = Array.from({ length: v.cpus }, (_, c) => packetsField.get(v, c)).join(" + ");
        const locked = shared.lookup(key, ElemFlags.F_LOCK)!;
        const sp = lockedPackets.get(locked), sb = lockedBytes.get(locked);
        const ok = packets === g.count && bytes === g.count * (g.size + IPV4_UDP_OVERHEAD) && sp === packets && sb === bytes;
        agree &&= ok;
        rows.push([`/${parent.path.slice(root.length + 1)}/${g.name}`, dir, `${g.count} × ${g.size} B`, String(packets), String(bytes), split, String(sp), String(sb), ok ? "✓" : "✗"]);
      }
    }
    console.log(table(["CGROUP", "HOOK", "SENT", "PACKETS", "BYTES", "PER-CPU PACKETS", "LOCKED PACKETS", "LOCKED BYTES", "OK"], rows));
    console.log(`\nper-CPU map ${pcpu.info.name} (id ${pcpu.info.id}) and spin-locked map ${shared.info.name} (id ${shared.info.id}); ` +
      `bytes = datagrams × (payload + 28 B of IPv4/UDP headers).`);
    if (cgrpObj !== undefined) agree = cgrpTable(cgrpObj, parent, groups, root) && agree;
    else console.log(`\nBPF_MAP_TYPE_CGRP_STORAGE: not on this kernel (${cgrpMissing}); its rows are left out.`);
    console.log(agree ? "All counts agree." : "COUNTS DISAGREE.");
    cleanup();
    console.log(`Removed the demo cgroups and detached everything (${Math.round(performance.now() - started)} ms).`);
    return agree ? Exit.OK : Exit.MISMATCH;
  } finally {
    cleanup();
    process.off("SIGINT", onSignal);
    process.off("SIGTERM", onSignal);
  }
}

/**
 * The CGRP_STORAGE rows: one value per cgroup (egress and ingress together: sender and receiver
 * are both in it), read by one scan of the demo's subtree; true when they agree with the traffic.
 */
function cgrpTable(obj: BpfObject, parent: Cgroup, groups: { cg: Cgroup; name: string; count: number; size: number }[], root: string): boolean {
  using stats = CgrpStorageMap.from(obj.map("cgrp_stats"));
  using locked = CgrpStorageMap.from(obj.map("cgrp_locked"));
  const packets = stats.field("packets"), bytes = stats.field("bytes");
  const seen = new Map<number, [number, number]>();
  let t0 = performance.now();
  stats.forEach(() => {}, { root: parent }); // the first scan loads the iterator (once per map)
  const loadMs = performance.now() - t0;
  t0 = performance.now();
  stats.forEach((id, _, v) => seen.set(id, [packets.get(v), bytes.get(v)]), { root: parent });
  const us = Math.round((performance.now() - t0) * 1000);
  let agree = true;
  const rows = groups.map((g) => {
    const [p, b] = seen.get(g.cg.id) ?? [0, 0];
    const l = locked.lookup(g.cg, ElemFlags.F_LOCK);
    const lp = l === null ? 0 : locked.field("packets").get(l), lb = l === null ? 0 : locked.field("bytes").get(l);
    const ok = p === 2 * g.count && b === 2 * g.count * (g.size + IPV4_UDP_OVERHEAD) && lp === p && lb === b;
    agree &&= ok;
    return [`/${parent.path.slice(root.length + 1)}/${g.name}`, "both", `${g.count} × ${g.size} B`, String(p), String(b), String(lp), String(lb), ok ? "✓" : "✗"];
  });
  console.log(`\n${table(["CGROUP", "HOOK", "SENT", "PACKETS", "BYTES", "LOCKED PACKETS", "LOCKED BYTES", "OK"], rows)}`);
  const scan = stats.lastScan;
  console.log(`\nCGRP_STORAGE maps ${stats.info.name} and spin-locked ${locked.info.name} (cgrp_counter.bpf.o, attached once at ` +
    `/${parent.path.slice(root.length + 1)}): egress and ingress count into each socket's own cgroup. ` +
    `Read by one ${scan.method === "iterator" ? "iterator run" : "cgroup tree walk"} over the subtree: ${scan.cgroups} cgroups in ${us} µs ` +
    `(the iterator loaded once, ${loadMs.toFixed(1)} ms).`);
  return agree;
}

/**
 * Bench fixture: N cgroups under one parent, the bundled counter loaded once and attached at
 * egress to every one of them, loopback traffic through a few, both maps pinned for the C side;
 * and a CGRP_STORAGE map (kernel ≥ 6.2) with a value written by `update` for each of the same
 * cgroups, pinned too. Removes everything on dispose, on SIGINT/SIGTERM, and at exit.
 */
import { readFileSync, rmSync } from "node:fs";
import { spawnSync } from "node:child_process";
import { resolve } from "node:path";
import {
  AttachType, BpfObject, Cgroup, CgroupStorageMap, PerCpuCgroupStorageMap, createMap, removeCgroupTree,
  type CgroupAttachment,
} from "../src/index.ts";
import { udpTrafficArgv } from "../src/cli/udp-traffic.ts";

export const ROOT = resolve(import.meta.dirname, "..");
export const nativeBuild = (f: string) => resolve(ROOT, "native/build", f);
export const cBuild = (f: string) => resolve(ROOT, "bench/c/build", f);
export const EGRESS = AttachType.CGROUP_INET_EGRESS;

const live = new Set<BenchFixture>();
function cleanupAll() {
  for (const f of live) f.dispose();
}
process.on("exit", cleanupAll);
for (const sig of ["SIGINT", "SIGTERM"] as const) {
  process.on(sig, () => {
    cleanupAll();
    process.exit(130);
  });
}

/** Soft RLIMIT_NOFILE: a link per cgroup needs one fd each. */
function openFileLimit(): number {
  const line = readFileSync("/proc/self/limits", "utf8").split("\n").find((l) => l.startsWith("Max open files"));
  const soft = line?.split(/\s{2,}/)[1];
  return soft === undefined || soft === "unlimited" ? Infinity : Number(soft);
}

export class BenchFixture implements Disposable {
  readonly parent: Cgroup;
  readonly cgroups: Cgroup[] = [];
  readonly obj: BpfObject;
  readonly pcpu: PerCpuCgroupStorageMap;
  readonly shared: CgroupStorageMap;
  readonly pcpuPin: string;
  readonly sharedPin: string;
  readonly method: "link" | "prog_attach";
  /** Packets sent through the busy cgroups (each counted once at egress). */
  readonly packets: number;
  /**
   * The CGRP_STORAGE map's pin: `{ packets: u64, bytes: u64 }` per cgroup, cgroup `i` holding
   * `i + 1` packets and `(i + 1) * 100` bytes (totals in `cgrpTotals`); null where this kernel
   * cannot create one (< 6.2), with the reason in `cgrpMissing`.
   */
  readonly cgrpPin: string | null = null;
  readonly cgrpTotals = { entries: 0, packets: 0, bytes: 0 };
  readonly cgrpMissing: string | undefined;
  private readonly attachments: CgroupAttachment[] = [];
  private disposed = false;

  /** Cgroups in the fixture. */
  readonly n: number;

  constructor(n: number, busy = 5, packetsEach = 100) {
    this.n = n;
    const tag = `cgstore-bench-${process.pid}-${n}`;
    live.add(this);
    this.parent = Cgroup.create(tag);
    this.pcpuPin = `/sys/fs/bpf/${tag}-pcpu`;
    this.sharedPin = `/sys/fs/bpf/${tag}-shared`;
    this.obj = BpfObject.open(nativeBuild("counter.bpf.o")).load();
    this.pcpu = PerCpuCgroupStorageMap.from(this.obj.map("pcpu_stats"));
    this.shared = CgroupStorageMap.from(this.obj.map("shared_stats"));
    this.pcpu.pin(this.pcpuPin);
    this.shared.pin(this.sharedPin);
    this.method = openFileLimit() > n + 256 ? "link" : "prog_attach";
    const prog = this.obj.program("count_egress");
    for (let i = 0; i < n; i++) {
      const cg = Cgroup.create(`${tag}/c${i}`);
      this.cgroups.push(cg);
      this.attachments.push(prog.attachCgroup(cg, { method: this.method }));
    }
    const sent = Math.min(busy, n);
    for (let i = 0; i < sent; i++) {
      const [cmd, ...argv] = udpTrafficArgv(this.cgroups[i]!.path, packetsEach, 64);
      const r = spawnSync(cmd!, argv, { encoding: "utf8" });
      if (r.status !== 0) throw new Error(`udp traffic child: ${r.stderr}`);
    }
    this.packets = sent * packetsEach;
    try {
      // Written, pinned and closed: the values stay with the pin, the cached cgroup fds go.
      using cgrp = createMap({ type: "cgrp", name: "bench_cgrp", schema: { packets: "u64", bytes: "u64" } });
      const value = new BigUint64Array(2);
      for (const [i, cg] of this.cgroups.entries()) {
        value[0] = BigInt(i + 1);
        value[1] = BigInt((i + 1) * 100);
        cgrp.update(cg, new Uint8Array(value.buffer));
      }
      cgrp.pin(`/sys/fs/bpf/${tag}-cgrp`);
      this.cgrpPin = `/sys/fs/bpf/${tag}-cgrp`;
      this.cgrpTotals = { entries: n, packets: (n * (n + 1)) / 2, bytes: (n * (n + 1)) / 2 * 100 };
    } catch (e) {
      this.cgrpMissing = e instanceof Error ? e.message : String(e);
    }
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    live.delete(this);
    // May run on a half-built fixture (the constructor threw): every field may be missing.
    const self = this as Partial<BenchFixture>;
    for (const a of this.attachments) a.detach();
    self.pcpu?.close();
    self.shared?.close();
    self.obj?.close();
    rmSync(this.pcpuPin, { force: true });
    rmSync(this.sharedPin, { force: true });
    if (self.cgrpPin) rmSync(self.cgrpPin, { force: true });
    if (self.parent) removeCgroupTree(self.parent.path);
  }

  [Symbol.dispose](): void {
    this.dispose();
  }
}

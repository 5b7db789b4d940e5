/**
 * Quick start: load the bundled counter, attach it to a new cgroup, push loopback traffic
 * through it, read the counts back, and clean up. Run as root: `bun examples/quickstart.ts` or `deno run -A examples/quickstart.ts`
 * (after `make -C native`), or `npm run demo`.
 */
import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import {
  AttachType, BpfObject, Cgroup, CgroupStorageMap, PerCpuCgroupStorageMap,
} from "../src/index.ts";

const build = fileURLToPath(new URL("../native/build", import.meta.url));

using obj = BpfObject.open(`${build}/counter.bpf.o`).load();
using cg = Cgroup.create(`cgstore-quickstart-${process.pid}`);
using egress = obj.program("count_egress").attachCgroup(cg);
using ingress = obj.program("count_ingress").attachCgroup(cg);

// 1000 UDP datagrams of 100 bytes to 127.0.0.1, sent and received from inside the cgroup.
spawnSync(`${build}/udp_traffic`, [cg.path, "1000", "100"], { stdio: "inherit" });

using perCpu = obj.map("pcpu_stats") as PerCpuCgroupStorageMap;
using shared = obj.map("shared_stats") as CgroupStorageMap;

for (const at of [AttachType.CGROUP_INET_EGRESS, AttachType.CGROUP_INET_INGRESS]) {
  const v = perCpu.lookup(cg.id, at); // same PerCpuValues every call: no allocation
  if (!v) continue;
  const split = Array.from({ length: v.cpus }, (_, c) => v.u64(c, 0)).join(" + ");
  const locked = shared.lookupLocked(cg.id, at)!; // {spin lock, packets, bytes}, read under the lock
  const dv = new DataView(locked.buffer, locked.byteOffset, locked.byteLength);
  console.log(
    `${at === AttachType.CGROUP_INET_EGRESS ? "egress " : "ingress"}  ` +
      `packets ${v.sum(0)} (${split} per CPU)  bytes ${v.sum(8)}  ` +
      `shared/locked: ${dv.getBigUint64(8, true)} packets, ${dv.getBigUint64(16, true)} bytes`,
  );
}

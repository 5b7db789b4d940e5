/**
 * Quick start: load the bundled counter, attach it to a new cgroup, push loopback traffic
 * through it, read the counts back, and clean up. Run as root: `bun examples/quickstart.ts` or `deno run -A examples/quickstart.ts`
 * (after `make -C native`), or `npm run demo`.
 */
import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import {
  AttachType, BpfObject, Cgroup, CgroupStorageMap, ElemFlags, PerCpuCgroupStorageMap,
} from "../src/index.ts";

const build = fileURLToPath(new URL("../native/build", import.meta.url));

using obj = BpfObject.open(`${build}/counter.bpf.o`).load();
using cg = Cgroup.create(`cgstore-quickstart-${process.pid}`); // removed at the end (it will be empty)
using egress = obj.program("count_egress").attachCgroup(cg);
using ingress = obj.program("count_ingress").attachCgroup(cg);

// 1000 UDP datagrams of 100 bytes to 127.0.0.1, sent and received from inside the cgroup.
spawnSync(`${build}/udp_traffic`, [cg.path, "1000", "100"], { stdio: "inherit" });

// The maps' types are known: narrow once, no casts. Field accessors are made once, from BTF.
using perCpu = PerCpuCgroupStorageMap.from(obj.map("pcpu_stats"));
using shared = CgroupStorageMap.from(obj.map("shared_stats"));
const packets = perCpu.field("packets"), bytes = perCpu.field("bytes");

for (const attachType of [AttachType.CGROUP_INET_EGRESS, AttachType.CGROUP_INET_INGRESS]) {
  const key = { cgroupId: cg.id, attachType };
  const v = perCpu.lookup(key); // the same PerCpuValues every call: no allocation
  if (!v) continue;
  const split = Array.from({ length: v.cpus }, (_, c) => packets.get(v, c)).join(" + ");
  const locked = shared.decode(shared.lookup(key, ElemFlags.F_LOCK)!); // read under the spin lock
  console.log(
    `${attachType === AttachType.CGROUP_INET_EGRESS ? "egress " : "ingress"}  ` +
      `packets ${packets.total(v)} (${split} per CPU)  bytes ${bytes.total(v)}  ` +
      `shared/locked: ${locked.packets} packets, ${locked.bytes} bytes`,
  );
}

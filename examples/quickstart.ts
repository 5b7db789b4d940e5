/**
 * Quick start: load the bundled counter, attach it to a new cgroup, push loopback traffic
 * through it, read the counts back, and clean up. Run as root: `bun examples/quickstart.ts` or
 * `deno run -A examples/quickstart.ts` (in a checkout, after `make -C native`; an installed
 * package carries the compiled counter), or `cgstore demo`.
 */
import { createSocket } from "node:dgram";
import { readFileSync, writeFileSync } from "node:fs";
import {
  AttachType, BpfObject, bundledObject, Cgroup, cgroupRoot, CgroupStorageMap, ElemFlags, PerCpuCgroupStorageMap,
} from "../src/index.ts";

using obj = BpfObject.open(bundledObject("counter.bpf.o")).load();
using cg = Cgroup.create(`cgstore-quickstart-${process.pid}`); // removed at the end (it will be empty)
using egress = obj.program("count_egress").attachCgroup(cg);
using ingress = obj.program("count_ingress").attachCgroup(cg);

// 1000 UDP datagrams of 100 bytes to 127.0.0.1, from inside the cgroup: this process joins it,
// sends them to itself on sockets made there, then goes home (a cgroup with a process in it
// cannot be removed). Any process in the cgroup would do: that is what the counter counts.
const home = cgroupRoot() + readFileSync("/proc/self/cgroup", "utf8").match(/^0::(.*)$/m)![1];
writeFileSync(`${cg.path}/cgroup.procs`, String(process.pid));
const rx = createSocket("udp4"), tx = createSocket("udp4");
await new Promise<void>((bound) => rx.bind(0, "127.0.0.1", bound));
for (let i = 0; i < 1000; i++) {
  const arrived = new Promise((got) => rx.once("message", got));
  tx.send(new Uint8Array(100), rx.address().port, "127.0.0.1");
  await arrived;
}
rx.close();
tx.close();
writeFileSync(`${home}/cgroup.procs`, String(process.pid));

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

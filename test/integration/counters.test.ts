/** Counts from real loopback traffic through the bundled cgroup_skb counters, read back exactly. */
import { afterAll, afterEach, beforeAll, describe, expect, test } from "../helpers/harness.ts";
import {
  AttachType, BpfObject, CgroupStorageMap, ElemFlags, PerCpuCgroupStorageMap, type AnyStorageMap,
} from "../../src/index.ts";
import { bpf, native } from "../helpers/env.ts";
import { cleanup, closeLater, sendUdp, testCgroup, track, UDP_IPV4_OVERHEAD } from "../helpers/fixture.ts";
import { LOCKED, STATS, setU64, u64 } from "../helpers/values.ts";

const { CGROUP_INET_EGRESS: EGRESS, CGROUP_INET_INGRESS: INGRESS } = AttachType;

function asPerCpu(m: AnyStorageMap): PerCpuCgroupStorageMap {
  if (!(m instanceof PerCpuCgroupStorageMap)) throw new Error(`expected a per-CPU map, got ${m.info.typeName}`);
  return m;
}
function asShared(m: AnyStorageMap): CgroupStorageMap {
  if (!(m instanceof CgroupStorageMap)) throw new Error(`expected a shared map, got ${m.info.typeName}`);
  return m;
}

describe.skipIf(!bpf.ok)("16-byte keys (counter.bpf.o)", () => {
  let obj: BpfObject, pcpu: PerCpuCgroupStorageMap, shared: CgroupStorageMap;
  beforeAll(() => {
    obj = BpfObject.open(native("counter.bpf.o")).load();
    pcpu = asPerCpu(obj.map("pcpu_stats"));
    shared = asShared(obj.map("shared_stats"));
  });
  afterAll(() => {
    pcpu?.close();
    shared?.close();
    obj?.close();
  });
  afterEach(cleanup);

  function attachBoth(cg: ReturnType<typeof testCgroup>) {
    track(obj.program("count_egress").attachCgroup(cg));
    track(obj.program("count_ingress").attachCgroup(cg.path));
  }

  test("maps open as the right kinds with the kernel's metadata", () => {
    expect(pcpu.perCpu).toBe(true);
    expect(pcpu.keySize).toBe(16);
    expect(pcpu.valueSize).toBe(16);
    expect(pcpu.info.typeName).toBe("percpu_cgroup_storage");
    expect(pcpu.info.name).toBe("pcpu_stats");
    expect(pcpu.info.btfValueTypeId).toBeGreaterThan(0);
    expect(pcpu.cpus).toBeGreaterThanOrEqual(1);
    expect(shared.perCpu).toBe(false);
    expect(shared.valueSize).toBe(24);
  });

  test("egress and ingress each count every datagram: per-CPU sums and locked shared totals agree", () => {
    const cg = testCgroup();
    attachBoth(cg);
    const n = 25, size = 100, bytes = n * (size + UDP_IPV4_OVERHEAD);
    sendUdp(cg, n, size);
    for (const at of [EGRESS, INGRESS]) {
      const v = pcpu.lookup({ cgroupId: cg.id, attachType: at })!;
      expect(v).not.toBeNull();
      expect([v.sumU64(STATS.packets), v.sumU64(STATS.bytes)]).toEqual([n, bytes]);
      let perCpuPackets = 0;
      for (let c = 0; c < v.cpus; c++) perCpuPackets += u64(v.cpu(c), STATS.packets);
      expect(perCpuPackets).toBe(n);
      const locked = shared.lookup({ cgroupId: cg.id, attachType: at }, ElemFlags.F_LOCK)!;
      expect([u64(locked, LOCKED.packets), u64(locked, LOCKED.bytes)]).toEqual([n, bytes]);
      expect(u64(locked, LOCKED.lock)).toBe(0);
      const plain = shared.lookup({ cgroupId: cg.id, attachType: at })!;
      expect([u64(plain, LOCKED.packets), u64(plain, LOCKED.bytes)]).toEqual([n, bytes]);
    }
  });

  test("cgroups are kept apart, and the per-CPU lookup returns the same object every time", () => {
    const a = testCgroup("a"), b = testCgroup("b");
    attachBoth(a);
    attachBoth(b);
    sendUdp(a, 10, 50);
    sendUdp(b, 3, 1000);
    const va = pcpu.lookup({ cgroupId: a.id, attachType: EGRESS })!;
    expect([va.sumU64(0), va.sumU64(8)]).toEqual([10, 10 * 78]);
    const vb = pcpu.lookup({ cgroupId: b.id, attachType: EGRESS })!;
    expect(vb).toBe(va); // zero-copy: the map's one PerCpuValues, overwritten
    expect([vb.sumU64(0), vb.sumU64(8)]).toEqual([3, 3 * 1028]);
    const kept = pcpu.newValues();
    expect(pcpu.lookupInto({ cgroupId: a.id, attachType: EGRESS }, kept)).toBe(true);
    pcpu.lookup({ cgroupId: b.id, attachType: INGRESS });
    expect(kept.sumU64(0)).toBe(10);
    const keys = [...pcpu.keys()].filter((k) => k.cgroupId === a.id || k.cgroupId === b.id);
    expect(keys).toHaveLength(4);
  });

  test("absent keys read as null: unknown cgroup, and an attach type never attached", () => {
    const cg = testCgroup();
    track(obj.program("count_egress").attachCgroup(cg));
    expect(pcpu.lookup({ cgroupId: cg.id, attachType: EGRESS })).not.toBeNull();
    expect(pcpu.lookup({ cgroupId: cg.id, attachType: INGRESS })).toBeNull();
    expect(shared.lookup({ cgroupId: cg.id, attachType: INGRESS })).toBeNull();
    expect(pcpu.lookup({ cgroupId: 987654321, attachType: EGRESS })).toBeNull();
    expect(shared.lookupInto({ cgroupId: 987654321, attachType: EGRESS }, new Uint8Array(24))).toBe(false);
  });

  test("update round trips: shared (plain and BPF_F_LOCK), per-CPU per slot and all CPUs", () => {
    const cg = testCgroup();
    attachBoth(cg);
    const value = new Uint8Array(24);
    setU64(value, LOCKED.packets, 1000);
    setU64(value, LOCKED.bytes, 2000);
    shared.update({ cgroupId: cg.id, attachType: EGRESS }, value, ElemFlags.F_LOCK);
    setU64(value, LOCKED.packets, 7);
    shared.update({ cgroupId: cg.id, attachType: INGRESS }, value, ElemFlags.EXIST);
    expect(u64(shared.lookup({ cgroupId: cg.id, attachType: EGRESS }, ElemFlags.F_LOCK)!, LOCKED.packets)).toBe(1000);
    expect(u64(shared.lookup({ cgroupId: cg.id, attachType: INGRESS })!, LOCKED.packets)).toBe(7);

    const vals = pcpu.newValues();
    for (let c = 0; c < vals.cpus; c++) setU64(vals.cpu(c), STATS.packets, 10 * (c + 1));
    pcpu.update({ cgroupId: cg.id, attachType: EGRESS }, vals);
    const got = pcpu.lookup({ cgroupId: cg.id, attachType: EGRESS })!;
    for (let c = 0; c < vals.cpus; c++) expect(got.u64(c, STATS.packets)).toBe(10 * (c + 1));
    const one = new Uint8Array(16);
    setU64(one, STATS.bytes, 5);
    pcpu.updateAll({ cgroupId: cg.id, attachType: INGRESS }, one);
    expect(pcpu.lookup({ cgroupId: cg.id, attachType: INGRESS })!.sumU64(STATS.bytes)).toBe(5 * pcpu.cpus);

    // Programs keep counting on top of what user space wrote.
    sendUdp(cg, 4, 0);
    expect(u64(shared.lookup({ cgroupId: cg.id, attachType: EGRESS }, ElemFlags.F_LOCK)!, LOCKED.packets)).toBe(1004);
    expect(pcpu.lookup({ cgroupId: cg.id, attachType: EGRESS })!.sumU64(STATS.packets)).toBe(10 * (pcpu.cpus * (pcpu.cpus + 1)) / 2 + 4);
  });

  test("entries outlive detach, and a re-attach counts on in the same entry", () => {
    const cg = testCgroup();
    const link = obj.program("count_egress").attachCgroup(cg);
    expect(link.method).toBe("link");
    sendUdp(cg, 5, 10);
    link.detach();
    expect(link.attached).toBe(false);
    sendUdp(cg, 5, 10); // not counted: nothing attached
    expect(pcpu.lookup({ cgroupId: cg.id, attachType: EGRESS })!.sumU64(0)).toBe(5);
    track(obj.program("count_egress").attachCgroup(cg));
    sendUdp(cg, 2, 10);
    expect(pcpu.lookup({ cgroupId: cg.id, attachType: EGRESS })!.sumU64(0)).toBe(7);
  });

  test("legacy bpf_prog_attach (BPF_F_ALLOW_MULTI) attaches and detaches too", () => {
    const cg = testCgroup();
    const a = track(obj.program("count_egress").attachCgroup(cg, { method: "prog_attach" }));
    expect(a.method).toBe("prog_attach");
    sendUdp(cg, 3, 1);
    a.detach();
    sendUdp(cg, 3, 1);
    expect(pcpu.lookup({ cgroupId: cg.id, attachType: EGRESS })!.sumU64(0)).toBe(3);
  });

  test("entries() yields copies that survive later lookups", () => {
    const cg = testCgroup();
    attachBoth(cg);
    sendUdp(cg, 2, 0);
    const mine = [...pcpu.entries()].filter(([k]) => k.cgroupId === cg.id);
    expect(mine.map(([k]) => k.attachType).sort()).toEqual([INGRESS, EGRESS]);
    sendUdp(cg, 2, 0);
    pcpu.lookup({ cgroupId: cg.id, attachType: EGRESS });
    for (const [, v] of mine) expect(v.sumU64(0)).toBe(2);
  });
});

describe.skipIf(!bpf.ok)("8-byte keys (counter8.bpf.o)", () => {
  afterEach(cleanup);

  test("ingress and egress share one entry per cgroup", () => {
    const obj = closeLater(BpfObject.open(native("counter8.bpf.o")).load());
    const pcpu = closeLater(asPerCpu(obj.map("pcpu_stats8")));
    const shared = closeLater(asShared(obj.map("shared_stats8")));
    expect([pcpu.keySize, shared.keySize]).toEqual([8, 8]);
    const cg = testCgroup();
    track(obj.program("count_egress8").attachCgroup(cg));
    track(obj.program("count_ingress8").attachCgroup(cg));
    sendUdp(cg, 7, 64);
    const v = pcpu.lookup(cg.id)!;
    expect([v.sumU64(0), v.sumU64(8)]).toEqual([14, 14 * 92]);
    expect(u64(shared.lookup(BigInt(cg.id), ElemFlags.F_LOCK)!, LOCKED.packets)).toBe(14);
    const keys = [...pcpu.keys()].filter((k) => k.cgroupId === cg.id);
    expect(keys).toEqual([{ cgroupId: cg.id, attachType: undefined }]);
    expect(() => pcpu.lookup({ cgroupId: cg.id, attachType: EGRESS })).toThrow(/8-byte keys/);
  });
});

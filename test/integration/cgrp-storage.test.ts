/**
 * BPF_MAP_TYPE_CGRP_STORAGE (kernel ≥ 6.2) through `CgrpStorageMap`: maps created by cgstore
 * (BTF it writes) and maps of a bundled program that fills them from cgroup_skb hooks; every key
 * form; every kernel rule of the map type checked before the syscall, with the rule named.
 */
import { afterEach, describe, expect, test } from "../helpers/harness.ts";
import { caught, thrown } from "../helpers/caught.ts";
import {
  BpfObject, BpfRuleError, BpfTypeError, CgrpStorageMap, CgroupStorageMap, ElemFlags, MapType, createMap, openMap,
} from "../../src/index.ts";
import { libbpf } from "../../src/ffi/index.ts";
import { bpf, native } from "../helpers/env.ts";
import { kernelAtLeast } from "../helpers/kernel.ts";
import { UDP_IPV4_OVERHEAD, cleanup, closeLater, sendUdp, testCgroup, testPinPath, track } from "../helpers/fixture.ts";
import { cgroupRoot } from "../../src/cgroup/mount.ts";

const u64s = (...n: number[]) => new BigUint64Array(n.map(BigInt));
const read = (v: Uint8Array | null) => (v === null ? null : [...new BigUint64Array(v.buffer, v.byteOffset, v.byteLength >> 3)].map(Number));

describe.skipIf(!bpf.ok || !kernelAtLeast(6, 2))("CgrpStorageMap", () => {
  afterEach(cleanup);

  test("createMap({ type: 'cgrp', schema }): BTF by cgstore, NO_PREALLOC, key 4, max_entries 0; typed decode", () => {
    const m = closeLater(createMap({ type: "cgrp", name: "cgs_test", schema: { packets: "u64", bytes: "u64" } }));
    expect(m).toBeInstanceOf(CgrpStorageMap);
    expect(m.info).toMatchObject({ type: MapType.CGRP_STORAGE, typeName: "cgrp_storage", keySize: 4, valueSize: 16, maxEntries: 0, flags: 1, name: "cgs_test" });
    expect(m.info.btfKeyTypeId).toBeGreaterThan(0);
    expect(m.layout!.field("bytes").offset).toBe(8); // read back from the kernel's copy of our BTF
    const cg = testCgroup("cgrp");
    expect(m.lookup(cg)).toBeNull();
    m.update(cg, u64s(3, 114));
    expect(m.decode(m.lookup(cg)!)).toEqual({ packets: 3n, bytes: 114n });
    const bytesOnly = closeLater(createMap({ type: "cgrp", valueSize: 12 }));
    expect(bytesOnly.info.valueSize).toBe(12);
    expect(bytesOnly.decode(new Uint8Array(12)) as unknown).toEqual(Array(12).fill(0)); // BTF: unsigned char[12]
  });

  test("every key form names the same entry: Cgroup, id (number, bigint), paths (dump's, relative, absolute), { fd }", () => {
    const m = closeLater(createMap({ type: "cgrp", valueSize: 8 }));
    const cg = testCgroup("keys");
    const rel = cg.path.slice(cgroupRoot().length + 1);
    m.update(cg.id, u64s(7));
    for (const key of [cg, cg.id, BigInt(cg.id), `/${rel}`, rel, cg.path]) expect(read(m.lookup(key))).toEqual([7]);
    const fd = libbpf.open(new TextEncoder().encode(cg.path), 0o200000);
    try {
      m.update({ fd }, u64s(8), ElemFlags.EXIST);
      expect(read(m.lookup({ fd }))).toEqual([8]);
    } finally {
      libbpf.close(fd);
    }
    const into = m.newValue();
    expect(m.lookupInto(rel, into)).toBe(true);
    expect(read(into)).toEqual([8]);
  });

  test("update creates (ANY/NOEXIST/EXIST with the kernel's errnos), delete removes, a removed cgroup's cached fd is dropped", () => {
    const m = closeLater(createMap({ type: "cgrp", valueSize: 8 }));
    const cg = testCgroup("ops");
    const e1 = caught(() => m.update(cg, u64s(1), ElemFlags.EXIST));
    expect([e1.code, e1.kind]).toEqual(["ENOENT", "not-found"]);
    m.update(cg, u64s(1), ElemFlags.NOEXIST);
    const e2 = caught(() => m.update(cg, u64s(2), ElemFlags.NOEXIST));
    expect([e2.code, e2.errno]).toEqual(["EEXIST", 17]);
    m.update(cg, u64s(3));
    expect(read(m.lookup(cg.id))).toEqual([3]);
    m.delete(cg.id);
    expect(m.lookup(cg)).toBeNull();
    const e3 = caught(() => m.delete(cg));
    expect([e3.code, e3.kind]).toEqual(["ENOENT", "not-found"]);

    m.update(cg, u64s(4));
    const id = cg.id;
    cg.remove();
    expect(m.lookup(id)).toBeNull(); // cached fd → ENOENT; the cgroup is gone, so it is forgotten
    expect(m.lookup(id)).toBeNull(); // no fd now: the id no longer opens
    const e4 = caught(() => m.update(id, u64s(5)));
    expect([e4.code, e4.kind]).toEqual(["ENOENT", "not-found"]);
    expect(m.lookup("/no-such-cgroup-cgstore-test")).toBeNull();
  });

  test("kernel rules are checked first and named; wrong JS types are BpfTypeErrors; kernel errors keep their errno", () => {
    const m = closeLater(createMap({ type: "cgrp", valueSize: 8 }));
    const cg = testCgroup("rules");
    const rule = (fn: () => unknown, re: RegExp) => {
      const e = caught(fn);
      expect(e).toBeInstanceOf(BpfRuleError);
      expect([e.kind, e.errno]).toEqual(["rule", undefined]);
      expect(e.message).toMatch(re);
    };
    rule(() => m.update(cg, u64s(1), ElemFlags.NOEXIST | ElemFlags.EXIST), /one of ElemFlags.ANY, NOEXIST or EXIST/);
    rule(() => m.update(cg, u64s(1), ElemFlags.F_LOCK), /BPF_F_LOCK needs a struct bpf_spin_lock/);
    rule(() => m.lookup(cg, ElemFlags.F_LOCK), /BPF_F_LOCK needs a struct bpf_spin_lock/);
    rule(() => m.update(cg, new Uint8Array(4)), /exactly 8 bytes/);
    rule(() => m.lookup(0), /cgroup id is a whole number from 1/);
    rule(() => m.lookup(-3), /cgroup id/);
    rule(() => m.lookup({ fd: -1 }), /cgroup fd/);
    rule(() => m.lookup(""), /empty string/);
    rule(() => m.lookup(`${cg.path}/cgroup.procs`), /not a cgroup v2 directory/);
    rule(() => createMap({ type: "cgrp", valueSize: 65408 }), /over the local storage limit of 65407/);
    rule(() => createMap({ type: "cgrp", valueSize: 0 }), /≥ 1/);
    rule(() => createMap({ type: "cgrp", name: "bad name!", valueSize: 8 }), /name/);
    rule(() => createMap({ type: "cgrp", valueSize: 8, keySize: 8 } as unknown as { type: "cgrp"; valueSize: number }), /4-byte cgroup fd/);
    expect(thrown(() => m.lookup({ cgroupId: 1 } as unknown as number))).toBeInstanceOf(BpfTypeError);
    expect(thrown(() => m.update(cg, "x" as unknown as Uint8Array))).toBeInstanceOf(BpfTypeError);
    // A key fd that is not a cgroup: the kernel's EBADF, as it answered.
    const notCgroup = libbpf.open(new TextEncoder().encode("/proc/self/status"), 0);
    try {
      const e = caught(() => m.lookup({ fd: notCgroup }));
      expect([e.code, e.errno, e.kind]).toEqual(["EBADF", 9, "kernel"]);
    } finally {
      libbpf.close(notCgroup);
    }
    m.close();
    expect(caught(() => m.lookup(cg)).kind).toBe("closed");
  });

  test("open: pin, { id }, { fd }, openMap and BpfObject.map return CgrpStorageMap; other classes refuse it by name", () => {
    const m = closeLater(createMap({ type: "cgrp", schema: { n: "u32" } }));
    const pin = testPinPath("cgrp");
    m.pin(pin);
    for (const src of [pin, { id: m.info.id }, { fd: m.fd }]) {
      const o = closeLater(CgrpStorageMap.open(src));
      expect(o.info.id).toBe(m.info.id);
    }
    expect(closeLater(openMap(pin))).toBeInstanceOf(CgrpStorageMap);
    expect(caught(() => CgroupStorageMap.open(pin)).message).toMatch(/cgrp_storage map .*CgroupStorageMap handles cgroup_storage/);
    const obj = closeLater(BpfObject.open(native("counter.bpf.o")).load());
    expect(caught(() => CgrpStorageMap.from(obj.map("shared_stats"))).message).toMatch(/CgrpStorageMap handles cgrp_storage/);
  });

  test("a bundled cgroup_skb program fills the maps (F_CREATE) per socket cgroup; F_LOCK reads and writes the spin-locked one", () => {
    const obj = closeLater(BpfObject.open(native("cgrp_counter.bpf.o")).load());
    const stats = closeLater(CgrpStorageMap.from(obj.map("cgrp_stats")));
    const locked = closeLater(CgrpStorageMap.from(obj.map("cgrp_locked")));
    const [a, b] = [testCgroup("skb"), testCgroup("skb")];
    for (const cg of [a, b]) {
      track(obj.program("cgrp_egress").attachCgroup(cg));
      track(obj.program("cgrp_ingress").attachCgroup(cg));
    }
    expect(stats.lookup(a)).toBeNull();
    sendUdp(a, 3, 10);
    sendUdp(b, 5, 20);
    const packets = stats.field("packets"), bytes = stats.field("bytes");
    // Sender and receiver are both in the cgroup: each datagram counts at egress and ingress.
    expect([packets.get(stats.lookup(a)!), bytes.get(stats.lookup(a)!)]).toEqual([6, 6 * (10 + UDP_IPV4_OVERHEAD)]);
    expect(packets.get(stats.lookup(b)!)).toBe(10);
    expect(locked.layout!.hasSpinLock).toBe(true);
    const lv = locked.lookup(b, ElemFlags.F_LOCK)!;
    expect(locked.decode(lv)).toEqual({ packets: 10n, bytes: BigInt(10 * (20 + UDP_IPV4_OVERHEAD)) });
    locked.update(b, locked.newValue(), ElemFlags.EXIST | ElemFlags.F_LOCK);
    expect(locked.decode(locked.lookup(b)!)).toEqual({ packets: 0n, bytes: 0n });
    const ids = new Map<number, number>();
    stats.forEach((id, at, v) => {
      expect(at).toBeUndefined();
      ids.set(id, packets.get(v));
    });
    expect(ids).toEqual(new Map([[a.id, 6], [b.id, 10]]));
  });
});

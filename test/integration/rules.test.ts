/** Every kernel rule a user can break gets a clear error, and our limits are the kernel's. */
import { afterEach, describe, expect, test } from "../helpers/harness.ts";
import { caught } from "../helpers/caught.ts";
import {
  AttachType, BpfError, BpfObject, BpfRuleError, BpfTypeError, CgroupStorageMap, ElemFlags, MapFlags, MapType,
  PerCpuCgroupStorageMap, createMap, openMap, type AnyStorageMap,
} from "../../src/index.ts";
import { libbpf } from "../../src/ffi/index.ts";
import { bpf, native } from "../helpers/env.ts";
import { cleanup, closeLater, testCgroup, testPinPath, track } from "../helpers/fixture.ts";
import { needsKernel } from "../helpers/kernel.ts";


type Common = { keySize?: 8 | 16; name?: string; flags?: number; numaNode?: number; valueSize?: number };
const shared = (o: Common = {}) => closeLater(createMap({ type: "shared", valueSize: 8, ...o }));
const perCpu = (o: Common = {}) => closeLater(createMap({ type: "percpu", valueSize: 8, ...o }));

describe.skipIf(!bpf.ok)("createMap", () => {
  afterEach(cleanup);

  test("creates both kinds with what was asked", () => {
    const s = shared({ name: "cgs_shared", keySize: 8, valueSize: 24 });
    expect(s).toBeInstanceOf(CgroupStorageMap);
    expect([s.info.typeName, s.info.name, s.keySize, s.valueSize, s.info.maxEntries]).toEqual(["cgroup_storage", "cgs_shared", 8, 24, 0]);
    const p = perCpu({ name: "cgs_pcpu", valueSize: 12, flags: MapFlags.RDONLY_PROG });
    expect(p).toBeInstanceOf(PerCpuCgroupStorageMap);
    expect([p.keySize, p.valueSize, p.info.flags]).toEqual([16, 12, MapFlags.RDONLY_PROG]);
    expect(p.newValues().buffer.byteLength).toBe(16 * p.cpus);
    expect([...p.keys()]).toEqual([]); // no attachment, no entries
  });

  test("the largest values we allow are the largest the kernel allows (from 5.15; 4096 bytes before)", () => {
    if (needsKernel("large values") === null) {
      expect(shared({ valueSize: 65407 }).valueSize).toBe(65407);
      expect(perCpu({ valueSize: 32768 }).valueSize).toBe(32768);
    } else {
      // Before 5.15 (33b57e0cc78e) both kinds were limited to PAGE_SIZE. Our limits are the newer
      // kernels', so a size between reaches the kernel and comes back E2BIG, hinting at the old limit.
      expect(shared({ valueSize: 4096 }).valueSize).toBe(4096);
      expect(perCpu({ valueSize: 4096 }).valueSize).toBe(4096);
      for (const type of ["shared", "percpu"] as const) {
        const e = caught(() => createMap({ type, valueSize: 4097 }));
        expect([e.code, e.kind]).toEqual(["E2BIG", "kernel"]);
        expect(e.hint).toMatch(/before 5\.15 values were limited to 4096 bytes/);
      }
    }
    // One byte more: we refuse before the syscall, and so would the kernel (E2BIG).
    expect(caught(() => createMap({ type: "shared", valueSize: 65408 }))).toBeInstanceOf(BpfRuleError);
    expect(libbpf.mapCreate(MapType.CGROUP_STORAGE, null, 16, 65408, 0, null)).toBe(-7);
    expect(libbpf.mapCreate(MapType.PERCPU_CGROUP_STORAGE, null, 16, 32769, 0, null)).toBe(-7);
    // And the kernel's other rules we pre-check really are its rules (EINVAL).
    expect(libbpf.mapCreate(MapType.CGROUP_STORAGE, null, 12, 8, 0, null)).toBe(-22);
    expect(libbpf.mapCreate(MapType.CGROUP_STORAGE, null, 16, 8, 1, null)).toBe(-22);
  });

  test("bad options name the rule", () => {
    const e = caught(() => createMap({ type: "percpu", valueSize: 40000 }));
    expect([e.kind, e.errno, e.op]).toEqual(["rule", undefined, "create"]); // refused before the kernel: no errno
    expect(e.message).toMatch(/per-CPU cgroup storage limit of 32768/);
    expect(caught(() => createMap({ type: "shared", valueSize: 8, flags: 1 })).message).toMatch(/accept only RDONLY/);
    expect(caught(() => createMap({ type: "shared", valueSize: 8, name: "bad name" })).message).toMatch(/A-Za-z0-9_/);
    const numa = caught(() => createMap({ type: "shared", valueSize: 8, numaNode: 4000 }));
    expect([numa.code, numa.kind]).toEqual(["EINVAL", "kernel"]); // the kernel's own answer, real errno
    expect(numa.hint).toMatch(/NUMA node 4000/);
  });

  test("a schema sizes the map and types its handle", () => {
    const m = closeLater(createMap({ type: "percpu", keySize: 8, schema: { packets: "u64", last_len: "u32:max" } }));
    expect([m.valueSize, m.keySize, m.layout?.ruleOf("last_len")]).toEqual([16, 8, "max"]);
    expect(m).toBeInstanceOf(PerCpuCgroupStorageMap);
    const s = closeLater(createMap({ type: "shared", schema: { a: "u8", b: "u64" } }));
    expect([s.valueSize, s.perCpu]).toEqual([16, false]);
  });
});

describe.skipIf(!bpf.ok)("element operations the kernel refuses", () => {
  afterEach(cleanup);

  test("update of a key no attachment created: ENOENT with the reason", () => {
    const e = caught(() => shared().update({ cgroupId: 12345, attachType: 1 }, new Uint8Array(8)));
    expect([e.code, e.op]).toEqual(["ENOENT", "update"]);
    expect(e.message).toMatch(/update never creates entries/);
    const p = perCpu();
    expect(caught(() => p.updateAll({ cgroupId: 12345, attachType: 1 }, new Uint8Array(8))).code).toBe("ENOENT");
  });

  test("BPF_NOEXIST, unknown flags, and F_LOCK on per-CPU maps are refused before the syscall", () => {
    const s = shared(), p = perCpu();
    const key = { cgroupId: 5, attachType: 1 };
    expect(caught(() => s.update(key, new Uint8Array(8), ElemFlags.NOEXIST)).message).toMatch(/BPF_NOEXIST cannot succeed/);
    expect(caught(() => s.update(key, new Uint8Array(8), 32)).message).toMatch(/accepts only ElemFlags.ANY, EXIST and F_LOCK/);
    expect(caught(() => s.update(key, new Uint8Array(8), 8)).message).toMatch(/BPF_F_CPU .* apply only to per-CPU maps/); // 8 is BPF_F_CPU
    expect(caught(() => p.update(key, p.newValues(), ElemFlags.NOEXIST)).message).toMatch(/BPF_NOEXIST/);
    expect(caught(() => p.update(key, p.newValues(), ElemFlags.F_LOCK)).message).toMatch(/no F_LOCK/);
    expect(caught(() => p.lookup(key, ElemFlags.F_LOCK)).message).toMatch(/per-CPU map's lookup takes no flags/);
    expect(caught(() => s.lookup(key, ElemFlags.EXIST as never)).message).toMatch(/lookup takes 0 or ElemFlags.F_LOCK/);
    for (const e of [caught(() => s.update(key, new Uint8Array(8), 1))]) expect(e).toBeInstanceOf(BpfRuleError);
  });

  test("wrong JS types are TypeErrors naming the expected type, never sizes", () => {
    const s = shared(), p = perCpu();
    const key = { cgroupId: 5, attachType: 1 };
    const typeError = (fn: () => unknown) => {
      try {
        fn();
      } catch (e) {
        expect(e).toBeInstanceOf(TypeError);
        expect((e as BpfTypeError).kind).toBe("type");
        return (e as Error).message;
      }
      throw new Error("expected a TypeError");
    };
    expect(typeError(() => s.update(key, "x" as never))).toMatch(/value must be a Uint8Array .* of 8 bytes; got a string/);
    expect(typeError(() => p.update(key, 42 as never))).toMatch(/PerCpuValues .*; got number 42/);
    expect(typeError(() => s.lookup("5" as never))).toMatch(/a key must be a cgroup id \(number or bigint\)/);
    expect(typeError(() => p.lookupInto(key, new Uint8Array(16) as never))).toMatch(/target must be a PerCpuValues/);
    expect(typeError(() => openMap(123 as never))).toMatch(/pinned path .*\{ id: number \} or \{ fd: number \}; got number 123/);
  });

  test("wrong value lengths never reach the kernel", () => {
    const s = shared({ valueSize: 24 }), p = perCpu({ valueSize: 12 });
    const key = { cgroupId: 5, attachType: 1 };
    expect(caught(() => s.update(key, new Uint8Array(23))).message).toMatch(/23 bytes; .* exactly 24/);
    // A 12-byte value is 16 bytes per CPU: a buffer of 12 × cpus would be overrun by the kernel.
    const e = caught(() => p.update(key, new Uint8Array(12 * p.cpus)));
    expect(e.message).toMatch(/needs exactly 16 × \d|needs exactly \d+ \(round_up/);
    expect(caught(() => p.updateAll(key, new Uint8Array(16))).message).toMatch(/exactly 12 bytes/);
    // lookupInto: the key first, the target second; a short target is the same rule error.
    const short = caught(() => s.lookupInto(key, new Uint8Array(8)));
    expect(short).toBeInstanceOf(BpfRuleError);
    expect(short.message).toMatch(/target is 8 bytes; this map's values are 24/);
  });

  test("delete reaches the kernel and reports its real answer, explained", () => {
    const e = caught(() => perCpu().delete({ cgroupId: 1, attachType: 0 }));
    expect([e.code, e.errno, e.op, e.kind]).toEqual(["EINVAL", 22, "delete", "unsupported"]);
    expect(e.hint).toMatch(/lives as long as its cgroup/);
  });

  test("BPF_F_LOCK on a value without a spin lock: the kernel's EINVAL with the reason, for lookup and update", () => {
    const obj = closeLater(BpfObject.open(native("sock_create.bpf.o")).load());
    const m = closeLater(CgroupStorageMap.from(obj.map("sock_count")));
    const cg = testCgroup();
    track(obj.program("count_sock_create").attachCgroup(cg));
    const key = m.key(cg.id, AttachType.CGROUP_INET_SOCK_CREATE);
    expect(m.lookup(key)).not.toBeNull();
    const e = caught(() => m.lookup(key, ElemFlags.F_LOCK));
    expect([e.code, e.errno]).toEqual(["EINVAL", 22]);
    expect(e.hint).toMatch(/bpf_spin_lock/);
    // update passes its flags to the kernel: F_LOCK there is refused the same way, and without
    // it the same write succeeds (so the flags, not the value, made the difference).
    const u = caught(() => m.update(key, new Uint8Array(m.valueSize), ElemFlags.F_LOCK));
    expect([u.code, u.op]).toEqual(["EINVAL", "update"]);
    expect(u.hint).toMatch(/bpf_spin_lock/);
    m.update(key, new Uint8Array(m.valueSize), ElemFlags.EXIST);
  });

  test("a read-only fd's handle refuses updates before the kernel (which would say EPERM), kind permission", () => {
    const obj = closeLater(BpfObject.open(native("sock_create.bpf.o")).load());
    const m = closeLater(CgroupStorageMap.from(obj.map("sock_count")));
    const cg = testCgroup();
    track(obj.program("count_sock_create").attachCgroup(cg));
    const ro = closeLater(createMap({ type: "shared", valueSize: 8, flags: MapFlags.RDONLY }));
    expect(ro.access).toBe("read"); // the fd's mode, read back with fcntl(F_GETFL)
    const e = caught(() => ro.update({ cgroupId: cg.id, attachType: 2 }, new Uint8Array(8)));
    expect([e.kind, e.errno]).toEqual(["permission", undefined]);
    expect(e.message).toMatch(/created with MapFlags\.RDONLY\) and cannot update/);
    // the kernel checks the fd's mode before the key: EPERM
    const key = new BigUint64Array([BigInt(cg.id), 2n]), value = new BigUint64Array(1);
    expect(libbpf.mapUpdateElem(ro.fd, libbpf.pointer(key), libbpf.pointer(value), 0)).toBe(-1);
    m.update({ cgroupId: cg.id, attachType: 2 }, new Uint8Array(8)); // the writable fd works
  });

  test("a closed handle says it is closed (kind closed, no errno), even after its fd number is reused", () => {
    const s = createMap({ type: "shared", valueSize: 8 });
    const oldFd = s.fd;
    s.close();
    s.close(); // idempotent
    expect(s.fd).toBe(-1);
    const other = closeLater(createMap({ type: "shared", valueSize: 8 }));
    expect(other.fd).toBe(oldFd); // the kernel hands out the lowest free number
    const e = caught(() => s.lookup({ cgroupId: 1, attachType: 1 }));
    expect([e.kind, e.errno]).toEqual(["closed", undefined]);
    expect(e.message).toMatch(/is closed/);
    expect(caught(() => s.pin(testPinPath())).kind).toBe("closed");
  });
});

describe.skipIf(!bpf.ok)("narrowing without casts", () => {
  afterEach(cleanup);

  test("Class.open returns that class or refuses by the type found; Class.from narrows a handle", () => {
    const p = perCpu({ name: "cgs_narrow" });
    const pin = testPinPath();
    p.pin(pin);
    const opened = closeLater(PerCpuCgroupStorageMap.open(pin));
    expect(opened).toBeInstanceOf(PerCpuCgroupStorageMap);
    expect(closeLater(PerCpuCgroupStorageMap.open({ id: p.info.id })).info.id).toBe(p.info.id);
    const e = caught(() => CgroupStorageMap.open({ fd: p.fd }));
    expect(e).toBeInstanceOf(BpfRuleError);
    expect(e.message).toMatch(/is a percpu_cgroup_storage map \("cgs_narrow", id \d+\); CgroupStorageMap handles cgroup_storage maps/);
    const any: AnyStorageMap = closeLater(openMap(pin));
    expect(PerCpuCgroupStorageMap.from(any) === any).toBe(true);
    expect(caught(() => CgroupStorageMap.from(any)).message).toMatch(/percpu_cgroup_storage/);
    expect(() => CgroupStorageMap.from({} as never)).toThrow(TypeError);
    const s = shared({ name: "cgs_narrow_s" });
    expect(CgroupStorageMap.from(s) === s).toBe(true);
    expect(caught(() => PerCpuCgroupStorageMap.open({ fd: s.fd })).message).toMatch(/is a cgroup_storage map/);
  });
});

describe.skipIf(!bpf.ok)("openMap", () => {
  afterEach(cleanup);

  test("by pinned path, by id and by fd; an fd is duplicated, not taken", () => {
    const m = perCpu({ name: "cgs_open" });
    const pin = testPinPath();
    m.pin(pin);
    const byPath = closeLater(openMap(pin));
    const byId = closeLater(openMap({ id: m.info.id }));
    const byFd = openMap({ fd: m.fd });
    for (const h of [byPath, byId, byFd]) {
      expect(h).toBeInstanceOf(PerCpuCgroupStorageMap);
      expect(h.info.id).toBe(m.info.id);
    }
    byFd.close();
    expect(openMap({ fd: m.fd }).info.id).toBe(m.info.id); // m.fd is still open
    expect(caught(() => m.pin(pin)).hint).toMatch(/already exists/);
  });

  test("missing pins, unknown ids and non-bpffs paths are explained", () => {
    expect(caught(() => openMap("/sys/fs/bpf/cgstore-test-nothing-here")).hint).toMatch(/nothing is pinned/);
    expect(caught(() => openMap({ id: 0x7ffffff0 })).hint).toMatch(/no map has id/);
    expect(caught(() => openMap("/etc/hostname")).hint).toMatch(/not on a bpf filesystem/);
    expect(caught(() => openMap({ fd: 987 })).op).toBe("open");
  });

  test("maps that are not cgroup storage, and programs, are refused by name", () => {
    const fd = libbpf.mapCreate(MapType.ARRAY, null, 4, 8, 1, null);
    expect(fd).toBeGreaterThanOrEqual(0);
    try {
      const e = caught(() => openMap({ fd }));
      expect(e.message).toMatch(/is a array map \(type 2.*not cgroup storage/);
    } finally {
      libbpf.close(fd);
    }
    const obj = closeLater(BpfObject.open(native("sock_create.bpf.o")).load());
    const progFd = obj.program("count_sock_create").fd;
    expect(caught(() => openMap({ fd: progFd })).message).toMatch(/bpf-prog, not a BPF map/);
  });
});

describe.skipIf(!bpf.ok)("objects and programs", () => {
  afterEach(cleanup);

  test("missing files, maps and programs are named", () => {
    expect(caught(() => BpfObject.open("/nonexistent.bpf.o")).code).toBe("ENOENT");
    expect(caught(() => BpfObject.open("/etc/hostname")).code).toMatch(/LIBBPF_ERRNO__FORMAT|EINVAL/);
    const obj = closeLater(BpfObject.open(native("counter.bpf.o")));
    expect(caught(() => obj.map("pcpu_stats")).message).toMatch(/call load\(\)/);
    obj.load();
    const noMap = caught(() => obj.map("nope"));
    expect([noMap.kind, noMap.errno]).toEqual(["not-found", undefined]);
    expect(noMap.message).toMatch(/has no map "nope".*it has: pcpu_stats, shared_stats/);
    expect(caught(() => obj.program("nope")).message).toMatch(/it has: count_egress, count_ingress/);
  });

  test("attach: non-cgroup attach types and mismatched types are explained", () => {
    const obj = closeLater(BpfObject.open(native("counter.bpf.o")).load());
    const cg = testCgroup();
    expect(caught(() => obj.program("count_egress").attachCgroup(cg, { attachType: 37 })).message).toMatch(/not a cgroup attach point/);
    const e = caught(() => obj.program("count_egress").attachCgroup(cg, { attachType: AttachType.CGROUP_INET_SOCK_CREATE }));
    expect(e.op).toBe("attach");
    expect(e.code).toBe("EINVAL");
  });

  test("programs die with their object: a clear error, not a use-after-free", () => {
    const obj = BpfObject.open(native("counter.bpf.o")).load();
    const prog = obj.program("count_egress");
    obj.close();
    expect(caught(() => prog.fd).message).toMatch(/is closed/);
    expect(caught(() => prog.fd).kind).toBe("closed");
    expect(caught(() => prog.attachCgroup(testCgroup())).message).toMatch(/is closed/);
  });

  test("map handles outlive their object", () => {
    const obj = BpfObject.open(native("counter.bpf.o")).load();
    const m = closeLater(PerCpuCgroupStorageMap.from(obj.map("pcpu_stats")));
    obj.close();
    expect(m.lookup({ cgroupId: 1, attachType: 1 })).toBeNull();
  });
});

/**
 * Values that read themselves: layouts from the kernel's BTF, decoded, must equal what bpftool
 * prints for the same maps (bpftool decodes with its own BTF dumper), for every kind of field.
 */
import { afterEach, describe, expect, test } from "bun:test";
import { spawnSync } from "node:child_process";
import {
  AttachType, BpfObject, CgroupStorageMap, Layout, PerCpuCgroupStorageMap, createMap, type Decoded,
} from "../../src/index.ts";
import { bpf, native } from "../helpers/env.ts";
import { cleanup, closeLater, sendUdp, testCgroup, testPinPath, track } from "../helpers/fixture.ts";

const hasBpftool = spawnSync("bpftool", ["version"]).status === 0;

/** bpftool's JSON dump of a pinned map (64-bit numbers here stay below 2^53). */
function bpftoolDump(pin: string): Array<{ formatted: { key: unknown; value?: Record<string, unknown>; values?: Array<{ cpu: number; value: unknown }> } }> {
  const r = spawnSync("bpftool", ["-j", "map", "dump", "pinned", pin], { encoding: "utf8" });
  if (r.status !== 0) throw new Error(`bpftool: ${r.stderr}`);
  return JSON.parse(r.stdout);
}

function setup() {
  const obj = closeLater(BpfObject.open(native("types.bpf.o")).load());
  const shared = closeLater(obj.map("rich_shared")) as CgroupStorageMap;
  const pcpu = closeLater(obj.map("rich_pcpu")) as PerCpuCgroupStorageMap;
  const cg = testCgroup("types");
  track(obj.program("fill_rich").attachCgroup(cg));
  sendUdp(cg, 0, 0); // two sockets: n = 2 in the shared value
  return { shared, pcpu, cg };
}

describe.skipIf(!bpf.ok)("layouts from BTF", () => {
  afterEach(cleanup);

  test("fields, offsets and kinds come from the kernel's BTF", () => {
    const { shared, pcpu } = setup();
    const rich = pcpu.layout!;
    expect(rich.size).toBe(pcpu.valueSize);
    expect(rich.offset("u64v")).toBe(16);
    expect(rich.offset("inner.b[2]")).toBe(rich.offset("inner") + 4 + 2 * 2);
    expect(rich.field("hist[3]").offset).toBe(rich.offset("hist") + 24);
    expect(rich.field("level")).toMatchObject({ bitSize: 3 });
    expect(rich.field("color").type).toMatchObject({ kind: "enum", signed: true });
    expect(() => rich.offset("nope")).toThrow(/no field "nope" .*fields: u8v, s8v/);
    expect(shared.layout!.hasSpinLock).toBe(true);
    expect(rich.hasSpinLock).toBe(false);
    expect(shared.layout!.offset("r.hist")).toBe(8 + rich.offset("hist"));
  });

  test("decoded shared value: every field as the program wrote it, spin lock left out", () => {
    const { shared, cg } = setup();
    const v = shared.decode(shared.lookupLocked(cg.id, AttachType.CGROUP_INET_SOCK_CREATE)!);
    const n = 2n;
    expect(v).toEqual({
      r: {
        u8v: 202, s8v: -2, u16v: 60002, s16v: -2000, u32v: 4000000002, s32v: -1999999998,
        u64v: (n << 40n) | 0xabcdn, s64v: -(n << 40n), color: "GREEN",
        flag: 0, level: 2, code: 4002, delta: -2, name: "cgstore",
        inner: { a: 14, b: [2, 4, 6], c: -5 }, hist: [2n, 4n, 0n, 1n << 50n],
        u: { word: 0x04030201, bytes: [1, 2, 3, 4] }, n: 2n,
      },
    });
  });

  test.skipIf(!hasBpftool)("decode equals bpftool's dump: shared, 16-byte key", () => {
    const { shared, cg } = setup();
    const pin = testPinPath();
    shared.pin(pin);
    const [entry] = bpftoolDump(pin);
    expect(shared.decodeKey({ cgroupId: cg.id, attachType: AttachType.CGROUP_INET_SOCK_CREATE }, { int64: "number" }))
      .toEqual(entry!.formatted.key as Decoded);
    const { lock: _, ...value } = entry!.formatted.value!;
    expect(shared.decode(shared.lookup(cg.id, AttachType.CGROUP_INET_SOCK_CREATE)!, { int64: "number" })).toEqual(value as Decoded);
  });

  test.skipIf(!hasBpftool)("decode equals bpftool's dump: per-CPU, 8-byte key, totals are per-field sums", () => {
    const { pcpu, cg } = setup();
    const pin = testPinPath();
    pcpu.pin(pin);
    const [entry] = bpftoolDump(pin);
    expect(pcpu.decodeKey({ cgroupId: cg.id, attachType: undefined }, { int64: "number" })).toEqual(entry!.formatted.key as Decoded);
    const decoded = pcpu.decode(pcpu.lookup(cg.id)!, { int64: "number" });
    expect(decoded.cpus).toEqual(entry!.formatted.values!.map((v) => v.value) as Decoded[]);
    const total = decoded.total as { n: number; hist: number[]; name: string };
    expect(total.n).toBe(2); // two sockets, whichever CPUs they were made on
    expect(total.name).toBe("cgstore");
    expect(total.hist[1]).toBe((decoded.cpus as { hist: number[] }[]).reduce((a, c) => a + c.hist[1]!, 0));
  });
});

describe.skipIf(!bpf.ok)("hand-declared layouts", () => {
  afterEach(cleanup);

  test("a map without BTF: declare a schema, get the same decoding", () => {
    const m = closeLater(createMap({ perCpu: true, valueSize: 16 })) as PerCpuCgroupStorageMap;
    expect(m.layout).toBeNull();
    expect(() => m.decode(m.newValues())).toThrow(/no BTF .* useLayout/);
    expect(() => m.useLayout({ packets: "u64" })).toThrow(/8 bytes but the map's values are 16/);
    m.useLayout({ packets: "u64", bytes: "u64" });
    const v = m.newValues();
    new DataView(v.buffer).setBigUint64(8, 99n, true);
    expect(m.decode(v, { int64: "number" })).toEqual({ total: { packets: 0, bytes: 99 }, cpus: expect.any(Array) });
    expect(m.layout!.offset("bytes")).toBe(8);
    expect(m.decodeKey({ cgroupId: 5, attachType: 1 })).toEqual({ cgroup_inode_id: 5n, attach_type: 1 });
  });

  test("schema layout follows C alignment and matches the BTF of the same struct", () => {
    const schema = Layout.fromSchema({ lock: "spin_lock", packets: "u64", bytes: "u64" });
    const { shared } = (() => {
      const obj = closeLater(BpfObject.open(native("counter.bpf.o")).load());
      return { shared: closeLater(obj.map("shared_stats")) as CgroupStorageMap };
    })();
    const btf = shared.layout!;
    expect(schema.size).toBe(btf.size);
    for (const f of ["packets", "bytes"]) expect(schema.offset(f)).toBe(btf.offset(f));
  });
});

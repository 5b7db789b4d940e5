/**
 * Values that read themselves: layouts from the kernel's BTF, decoded, must equal what bpftool
 * prints for the same maps (bpftool decodes with its own BTF dumper), for every kind of field.
 */
import { afterEach, describe, expect, test } from "../helpers/harness.ts";
import { spawnSync } from "node:child_process";
import {
  AttachType, BpfObject, CgroupStorageMap, ElemFlags, Layout, PerCpuCgroupStorageMap, createMap, type Decoded,
  type DecodedStruct,
} from "../../src/index.ts";
import { bpf, native } from "../helpers/env.ts";
import { cleanup, closeLater, sendUdp, testCgroup, testPinPath, track } from "../helpers/fixture.ts";

/** bpftool (installed by `npm test`'s setup); /usr/sbin may be missing from a CI PATH. */
const BPFTOOL = ["bpftool", "/usr/sbin/bpftool"].find((b) => spawnSync(b, ["version"]).status === 0);
const hasBpftool = BPFTOOL !== undefined;
if (!hasBpftool && bpf.ok) {
  if (process.env.CI === "true") throw new Error("bpftool is missing: scripts/setup.sh installs it (apt-get install bpftool)");
  console.warn("[cgstore] bpftool comparisons skipped: bpftool not installed (apt-get install bpftool)");
}

/** bpftool's JSON dump of a pinned map (64-bit numbers here stay below 2^53). */
function bpftoolDump(pin: string): Array<{ formatted: { key: unknown; value?: Record<string, unknown>; values?: Array<{ cpu: number; value: unknown }> } }> {
  const r = spawnSync(BPFTOOL!, ["-j", "map", "dump", "pinned", pin], { encoding: "utf8" });
  if (r.status !== 0) throw new Error(`bpftool: ${r.stderr}`);
  return JSON.parse(r.stdout);
}

/**
 * bpftool prints bitfields as hex strings of their raw bits ("0x1e" for a 5-bit -2); turn ours
 * into the same form so the rest compares as is.
 */
function bitfieldsAsHex(value: Decoded, layout: Layout): Decoded {
  const out = { ...(value as Record<string, Decoded>) };
  for (const leaf of layout.leaves()) {
    if (leaf.bitSize === undefined || !(leaf.path in out)) continue;
    out[leaf.path] = "0x" + BigInt.asUintN(leaf.bitSize, BigInt(out[leaf.path] as number)).toString(16);
  }
  return out;
}

function setup() {
  const obj = closeLater(BpfObject.open(native("types.bpf.o")).load());
  const shared = closeLater(CgroupStorageMap.from(obj.map("rich_shared")));
  const pcpu = closeLater(PerCpuCgroupStorageMap.from(obj.map("rich_pcpu")));
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
    expect(rich.field("color").type).toMatchObject({ kind: "enum" }); // clang 14 leaves it unsigned
    expect(() => rich.offset("nope")).toThrow(/no field "nope" .*fields are u8v, s8v/);
    expect(shared.layout!.hasSpinLock).toBe(true);
    expect(rich.hasSpinLock).toBe(false);
    expect(shared.layout!.offset("s8v")).toBe(4); // right after the 4-byte lock
    expect(shared.layout!.offset("u64v")).toBe(16);
  });

  test("decoded values: every field as the program wrote it, spin lock left out", () => {
    const { shared, pcpu, cg } = setup();
    const n = 2n; // two sockets
    expect(shared.decode(shared.lookup({ cgroupId: cg.id, attachType: AttachType.CGROUP_INET_SOCK_CREATE }, ElemFlags.F_LOCK)!)).toEqual({
      s8v: -2, u16v: 60002, s32v: -1999999998, u64v: (n << 40n) | 0xabcdn, s64v: -(n << 40n),
      color: "GREEN", name: "locked", inner: { a: 14, b: [2, 4, 6], c: -5 }, hist: [2n, 4n], n: 2n,
    });
    // Per-CPU: each CPU's copy counts its own sockets; find one that saw k ≥ 1.
    const { cpus } = pcpu.decode(pcpu.lookup(cg.id)!);
    const seen = cpus.filter((c) => (c as { n: bigint }).n > 0n) as Array<{ n: bigint } & Record<string, Decoded>>;
    expect(seen.reduce((a, c) => a + c.n, 0n)).toBe(2n);
    for (const row of seen) {
      const k = row.n;
      expect(row).toEqual({
        u8v: 200 + Number(k), s8v: -Number(k), u16v: 60000 + Number(k), s16v: -1000 * Number(k),
        u32v: 4000000000 + Number(k), s32v: -2000000000 + Number(k),
        u64v: (k << 40n) | 0xabcdn, s64v: -(k << 40n), color: k % 2n ? "BLUE" : "GREEN",
        flag: Number(k & 1n), level: Number(k & 7n), code: 4000 + Number(k), delta: -Number(k & 15n),
        name: "cgstore", inner: { a: 7 * Number(k), b: [1, 2, 3].map((m) => m * Number(k)), c: -5 },
        hist: [k, k * k, 0n, 1n << 50n], u: { word: 0x04030201, bytes: [1, 2, 3, 4] }, n: k,
      });
    }
  });

  test.skipIf(!hasBpftool)("decode equals bpftool's dump: shared, 16-byte key", () => {
    const { shared, cg } = setup();
    const pin = testPinPath();
    shared.pin(pin);
    const [entry] = bpftoolDump(pin);
    expect(shared.decodeKey({ cgroupId: cg.id, attachType: AttachType.CGROUP_INET_SOCK_CREATE }, { int64: "number" }))
      .toEqual(entry!.formatted.key as Decoded);
    const { lock: _, ...value } = entry!.formatted.value!;
    expect(shared.decode(shared.lookup({ cgroupId: cg.id, attachType: AttachType.CGROUP_INET_SOCK_CREATE })!, { int64: "number" }) as unknown).toEqual(value);
  });

  test.skipIf(!hasBpftool)("decode equals bpftool's dump: per-CPU, 8-byte key, totals are per-field sums", () => {
    const { pcpu, cg } = setup();
    const pin = testPinPath();
    pcpu.pin(pin);
    const [entry] = bpftoolDump(pin);
    expect(pcpu.decodeKey({ cgroupId: cg.id, attachType: undefined }, { int64: "number" })).toEqual(entry!.formatted.key as Decoded);
    const decoded = pcpu.decode(pcpu.lookup(cg.id)!, { int64: "number" });
    expect(decoded.cpus.map((c) => bitfieldsAsHex(c, pcpu.layout!))).toEqual(entry!.formatted.values!.map((v) => v.value) as Decoded[]);
    const total = decoded.total as { n: number; hist: number[]; name: string };
    expect(total.n).toBe(2); // two sockets, whichever CPUs they were made on
    expect(total.name).toBe("cgstore");
    expect(total.hist[1]).toBe((decoded.cpus as { hist: number[] }[]).reduce((a, c) => a + c.hist[1]!, 0));
  });
});

describe.skipIf(!bpf.ok)("hand-declared layouts", () => {
  afterEach(cleanup);

  test("a map without BTF: declare a schema, get the same decoding", () => {
    const raw = closeLater(createMap({ type: "percpu", valueSize: 16 }));
    expect(raw.layout).toBeNull();
    expect(() => raw.decode(raw.newValues())).toThrow(/no BTF.*useLayout/);
    expect(() => raw.field("packets")).toThrow(/no BTF.*useLayout/);
    expect(() => raw.useLayout({ packets: "u64" })).toThrow(/8 bytes but the map's values are 16/);
    const m = raw.useLayout({ packets: "u64", bytes: "u64" });
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
      return { shared: closeLater(CgroupStorageMap.from(obj.map("shared_stats"))) };
    })();
    const btf = shared.layout!;
    expect(schema.size).toBe(btf.size);
    for (const f of ["packets", "bytes"]) expect(schema.offset(f)).toBe(btf.offset(f));
  });

  test("typed values: a schema types decode and fields; a type parameter types a BTF map; rules change totals", () => {
    const m = closeLater(createMap({ type: "percpu", schema: { packets: "u64", last_len: "u32:max", seen: "bool" } }));
    const v = m.newValues();
    const dv = new DataView(v.buffer);
    for (let c = 0; c < v.cpus; c++) {
      dv.setBigUint64(c * v.stride, 3n, true);
      dv.setUint32(c * v.stride + 8, 50 + c, true);
    }
    const d = m.decode(v);
    const packets: bigint = d.total.packets; // a bigint by the schema: no cast
    const last: number = d.total.last_len;
    expect([packets, last, d.total.seen]).toEqual([3n * BigInt(v.cpus), 50 + v.cpus - 1, false]); // a gauge: max, not a sum
    const asNumbers = m.decode(v, { int64: "number" });
    const n: number = asNumbers.total.packets;
    expect(n).toBe(3 * v.cpus);
    // @ts-expect-error a misspelt field is a compile error
    void d.total.pakets;
    // @ts-expect-error so is a misspelt field path
    expect(() => m.field("pakets")).toThrow(/no field "pakets"/);
    expect(m.field("last_len").total(v)).toBe(50 + v.cpus - 1);

    // A BTF-described map typed by a parameter, its rules declared afterwards.
    const obj = closeLater(BpfObject.open(native("counter.bpf.o")).load());
    const pin = testPinPath();
    obj.map("pcpu_stats").pin(pin);
    const typed = closeLater(PerCpuCgroupStorageMap.open<{ packets: bigint; bytes: bigint }>(pin));
    const zero = typed.decode(typed.newValues());
    const p2: bigint = zero.total.packets;
    expect(p2).toBe(0n);
    typed.aggregate({ bytes: "max" });
    expect(typed.field("bytes").rule).toBe("max");
    expect(typed.field("packets").rule).toBe("sum");
    // @ts-expect-error rules name fields of the value type
    expect(() => typed.aggregate({ nope: "max" })).toThrow(/no field "nope"/);
  });

  test("the shared map's F_LOCK read and typed field accessors agree with decode", () => {
    const { shared, cg } = setup();
    const key = shared.key(cg.id, AttachType.CGROUP_INET_SOCK_CREATE);
    const v = shared.lookup(key, ElemFlags.F_LOCK)!;
    const decoded = shared.decode(v);
    expect(shared.field("u64v").getBigInt(v)).toBe(decoded.u64v as bigint);
    expect(shared.field("s32v").get(v)).toBe(decoded.s32v as number);
    expect(shared.field("u16v").get(v)).toBe(decoded.u16v as number);
    expect(() => shared.field("inner")).toThrow(/is a struct, not a scalar/);
  });
});

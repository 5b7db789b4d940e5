/**
 * `ElemFlags.cpu(n)` and `ElemFlags.ALL_CPUS` on per-CPU cgroup storage: the kernel's
 * `BPF_F_CPU`/`BPF_F_ALL_CPUS` on 7.0+, the full per-CPU buffer before, with the same results.
 * The fallback runs on every kernel (forced on 7.0+); the kernel path where the kernel has it.
 */
import { afterAll, afterEach, describe, expect, test } from "../helpers/harness.ts";
import { caught } from "../helpers/caught.ts";
import {
  AttachType, BpfObject, BpfRuleError, CgroupStorageMap, ElemFlags, PerCpuCgroupStorageMap, perCpuElemFlags,
} from "../../src/index.ts";
import { overridePerCpuElemFlags } from "../../src/features.ts";
import { libbpf } from "../../src/ffi/index.ts";
import { bpf, native } from "../helpers/env.ts";
import { cleanup, closeLater, testCgroup, track } from "../helpers/fixture.ts";
import { kernel, needsKernel, titled } from "../helpers/kernel.ts";

const EINVAL = -22, ENOENT = -2, ERANGE = -34;
const EGRESS = AttachType.CGROUP_INET_EGRESS;
const noCpuFlags = needsKernel("BPF_F_CPU");

/** A loaded counter.bpf.o with count_egress attached to a new cgroup: one entry, all zero. */
function setup() {
  const obj = closeLater(BpfObject.open(native("counter.bpf.o")).load());
  const pcpu = PerCpuCgroupStorageMap.from(obj.map("pcpu_stats"));
  const shared = CgroupStorageMap.from(obj.map("shared_stats"));
  const cg = testCgroup("cpuflags");
  track(obj.program("count_egress").attachCgroup(cg));
  return { pcpu, shared, key: { cgroupId: cg.id, attachType: EGRESS } };
}

/** `valueSize` bytes, each `byte`. */
const filled = (size: number, byte: number) => new Uint8Array(size).fill(byte);

describe.skipIf(!bpf.ok)(`BPF_F_CPU / BPF_F_ALL_CPUS on ${kernel.major}.${kernel.minor}`, () => {
  afterEach(cleanup);
  afterAll(() => overridePerCpuElemFlags(undefined));

  test("the probe finds the flags from 7.0 (ENOENT for a missing key) and not before (EINVAL); maps say which path they take", () => {
    overridePerCpuElemFlags(undefined);
    const probe = perCpuElemFlags();
    expect(probe.supported).toBe(noCpuFlags === null);
    expect(probe.how).toMatch(noCpuFlags === null ? /ENOENT/ : /EINVAL/);
    const { pcpu } = setup();
    expect(pcpu.cpuFlags).toBe(noCpuFlags === null ? "kernel" : "emulated");
  });

  test("the kernel's own answers, per version: what the probe and the rules rest on", () => {
    const { pcpu, key } = setup();
    const k = new Uint8Array(new ArrayBuffer(16)), v = new Uint8Array(new ArrayBuffer(16 * pcpu.cpus));
    const look = (flags: number) => libbpf.mapLookupElemFlags(pcpu.fd, libbpf.pointer(k), libbpf.pointer(v), flags);
    expect(look(ElemFlags.cpu(0))).toBe(noCpuFlags === null ? ENOENT : EINVAL); // key {0, 0}: no such cgroup
    new DataView(k.buffer).setBigUint64(0, BigInt(key.cgroupId), true);
    new DataView(k.buffer).setUint32(8, EGRESS, true);
    expect(look(ElemFlags.cpu(pcpu.cpus))).toBe(noCpuFlags === null ? ERANGE : EINVAL);
    expect(look(2 ** 32)).toBe(EINVAL); // a CPU number without BPF_F_CPU
    expect(look(ElemFlags.ALL_CPUS)).toBe(EINVAL); // update only
    expect(look(ElemFlags.cpu(pcpu.cpus - 1))).toBe(noCpuFlags === null ? 0 : EINVAL);
  });

  const paths: Array<["kernel" | "emulated", string | null]> = [["emulated", null], ["kernel", noCpuFlags]];
  for (const [path, skip] of paths) {
    test.skipIf(skip !== null)(titled(`${path}: cpu(n) reads and writes one CPU's value, ALL_CPUS writes every CPU`, skip), () => {
      overridePerCpuElemFlags(path === "kernel");
      const { pcpu, key } = setup();
      expect(pcpu.cpuFlags).toBe(path);
      const all = pcpu.newValues();
      for (let c = 0; c < pcpu.cpus; c++) all.cpu(c).fill(0x10 + c);
      pcpu.update(key, all);
      for (let c = 0; c < pcpu.cpus; c++) {
        const one = pcpu.lookup(key, ElemFlags.cpu(c))!;
        expect(one.byteLength).toBe(pcpu.valueSize);
        expect([...one]).toEqual([...filled(pcpu.valueSize, 0x10 + c)]);
      }
      // The view belongs to the map: the same object, overwritten by the next cpu(n) lookup.
      const again = pcpu.lookup(key, ElemFlags.cpu(0));
      if (path === "kernel") expect(pcpu.lookup(key, ElemFlags.cpu(pcpu.cpus - 1))).toBe(again);
      expect(pcpu.lookup({ cgroupId: key.cgroupId + 1_000_000, attachType: EGRESS }, ElemFlags.cpu(0))).toBeNull();

      pcpu.update(key, filled(pcpu.valueSize, 0x7a), ElemFlags.ALL_CPUS);
      for (let c = 0; c < pcpu.cpus; c++) expect([...pcpu.lookup(key)!.cpu(c)]).toEqual([...filled(pcpu.valueSize, 0x7a)]);

      const last = pcpu.cpus - 1;
      pcpu.update(key, filled(pcpu.valueSize, 0x33), ElemFlags.cpu(last) + ElemFlags.EXIST);
      for (let c = 0; c < pcpu.cpus; c++) {
        expect([...pcpu.lookup(key)!.cpu(c)]).toEqual([...filled(pcpu.valueSize, c === last ? 0x33 : 0x7a)]);
      }
      pcpu.updateAll(key, filled(pcpu.valueSize, 0x01));
      expect(pcpu.lookup(key)!.sumU64(0)).toBe(0x0101010101010101 * pcpu.cpus);

      // A missing entry: update never creates, on either path.
      const missing = caught(() => pcpu.update({ cgroupId: key.cgroupId + 1_000_000, attachType: EGRESS }, filled(pcpu.valueSize, 1), ElemFlags.cpu(0)));
      expect([missing.code, missing.kind]).toEqual(["ENOENT", "not-found"]);
    });
  }

  test("rules are checked first, each named", () => {
    const { pcpu, shared, key } = setup();
    const rule = (f: () => unknown, re: RegExp) => {
      const e = caught(f);
      expect(e).toBeInstanceOf(BpfRuleError);
      expect(e.message).toMatch(re);
    };
    const v = filled(pcpu.valueSize, 1);
    rule(() => pcpu.lookup(key, ElemFlags.cpu(pcpu.cpus)), /possible CPUs/);
    rule(() => pcpu.update(key, v, ElemFlags.cpu(pcpu.cpus)), /possible CPUs/);
    rule(() => ElemFlags.cpu(-1), /whole number/);
    rule(() => ElemFlags.cpu(1.5), /whole number/);
    // @ts-expect-error ALL_CPUS is not a lookup flag, for the compiler too
    rule(() => pcpu.lookup(key, ElemFlags.ALL_CPUS), /update only/);
    rule(() => pcpu.update(key, v, ElemFlags.cpu(0) + ElemFlags.ALL_CPUS), /together/);
    rule(() => pcpu.update(key, v, 2 ** 32), /only with BPF_F_CPU/);
    rule(() => pcpu.update(key, v, ElemFlags.cpu(0) + ElemFlags.NOEXIST), /BPF_NOEXIST/);
    rule(() => pcpu.update(key, pcpu.newValues(), ElemFlags.ALL_CPUS), /one CPU's value/);
    rule(() => pcpu.update(key, new Uint8Array(pcpu.valueSize + 1), ElemFlags.cpu(0)), /exactly 16 bytes/);
    rule(() => pcpu.updateAll(key, v, ElemFlags.ALL_CPUS), /updateAll writes every CPU/);
    // @ts-expect-error lookupInto and scans take every CPU's value: no CPU flags
    rule(() => pcpu.lookupInto(key, pcpu.newValues(), ElemFlags.cpu(0)), /lookupInto take no flags/);
    // @ts-expect-error as above
    rule(() => pcpu.cursor(ElemFlags.cpu(0)), /scans and lookupInto take no flags/);
    // @ts-expect-error a shared map has one value: no CPU flags, for the compiler too
    rule(() => shared.lookup(key, ElemFlags.cpu(0)), /only to per-CPU maps/);
    rule(() => shared.update(key, new Uint8Array(shared.valueSize), ElemFlags.ALL_CPUS), /only to per-CPU maps/);
    rule(() => shared.update(key, new Uint8Array(shared.valueSize), 2 ** 32), /only to per-CPU maps/);
  });

  test("types: cpu(n) is a lookup flag of per-CPU maps, a bare number (an attach type) is not", () => {
    const { pcpu, key } = setup();
    const one: Uint8Array | null = pcpu.lookup(key, ElemFlags.cpu(0));
    const every = pcpu.lookup(key);
    expect(one).toBeInstanceOf(Uint8Array);
    expect(every?.cpus).toBe(pcpu.cpus);
    // @ts-expect-error an attach type where the key's belongs is not a flag
    expect(caught(() => pcpu.lookup(key.cgroupId, EGRESS))).toBeInstanceOf(BpfRuleError);
  });
});

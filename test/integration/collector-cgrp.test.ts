/**
 * The Collector over a CGRP_STORAGE map: a poll is one scan (the bundled iterator) matched to
 * slots by cgroup id, not a syscall per cgroup; refresh discovers cgroups with one scan; key
 * forms are cgroups; removed cgroups and deleted values retire their slots; a subtree root;
 * the spin-locked form; the rules that do not apply to this map refused with the rule named.
 */
import { afterEach, describe, expect, test } from "../helpers/harness.ts";
import { Cgroup, Collector, createMap, ElemFlags, type CgrpStorageMap, type Schema } from "../../src/index.ts";
import { bpf } from "../helpers/env.ts";
import { needsKernel, titled } from "../helpers/kernel.ts";
import { cleanup, closeLater, testCgroup } from "../helpers/fixture.ts";
import { thrown } from "../helpers/caught.ts";
import { libbpf } from "../../src/ffi/index.ts";

const skip = !bpf.ok ? "needs BPF" : needsKernel("CGRP_STORAGE");

/** A map with `n` child cgroups of a parent, child i holding { packets: i, bytes: 10 i }. */
function setup(n: number, withLock = false) {
  const m: CgrpStorageMap = closeLater(withLock
    ? createMap<Schema>({ type: "cgrp", schema: { packets: "u64", bytes: "u64", lock: "spin_lock" } })
    : createMap<Schema>({ type: "cgrp", schema: { packets: "u64", bytes: "u64" } }));
  const parent = testCgroup("ccol");
  const cgs = Array.from({ length: n }, (_, i) => Cgroup.create(`${parent.path}/c${i}`));
  const v = m.newValue(), dv = new DataView(v.buffer);
  const set = (cg: Cgroup, i: number) => {
    dv.setBigUint64(0, BigInt(i), true);
    dv.setBigUint64(8, BigInt(10 * i), true);
    m.update(cg, v);
  };
  cgs.forEach((cg, i) => set(cg, i + 1));
  return { m, parent, cgs, set };
}

describe.skipIf(skip !== null)(titled("Collector over a CGRP_STORAGE map", skip), () => {
  afterEach(() => {
    cleanup();
  });

  test("refresh finds every cgroup with a value, a poll reads them all in one iterator run, rates follow", async () => {
    const { m, parent, cgs, set } = setup(50);
    await using c = await Collector.create(m, { root: parent });
    expect(c.fields).toEqual(["packets", "bytes"]);
    expect(c.refresh()).toEqual({ added: 50, retired: 0 });
    const r = await c.poll();
    expect([r.looked, r.retired]).toEqual([50, 0]);
    expect(m.lastScan.method).toBe("iterator");
    const out = new Float64Array(2);
    for (const [i, cg] of cgs.entries()) {
      const slot = c.slotOf(cg)!;
      expect(c.slotOf(cg.id)).toBe(slot);
      expect(c.slotOf(cg.path)).toBe(slot);
      expect(c.read(slot, out)).toBe(r.poll);
      expect([...out]).toEqual([i + 1, 10 * (i + 1)]);
    }
    set(cgs[0]!, 1001);
    await sleep(20);
    await c.poll();
    const rates = c.rates(c.slotOf(cgs[0]!)!, new Float64Array(2));
    expect(rates[0]).toBeGreaterThan(0);
    expect(c.rates(c.slotOf(cgs[1]!)!, new Float64Array(2))[0]).toBe(0);
  });

  test("a poll costs one iterator run, not a lookup per cgroup", async () => {
    const { m, parent } = setup(200);
    await using c = await Collector.create(m, { root: parent });
    c.refresh();
    await c.poll(); // warm: the iterator is loaded once
    let lookups = 0;
    const { mapLookupElem, mapLookupElemFlags } = libbpf;
    libbpf.mapLookupElem = (...a) => (lookups++, mapLookupElem(...a));
    libbpf.mapLookupElemFlags = (...a) => (lookups++, mapLookupElemFlags(...a));
    try {
      for (let i = 0; i < 5; i++) expect((await c.poll()).looked).toBe(200);
      expect(m.lastScan).toMatchObject({ method: "iterator", entries: 200 });
    } finally {
      libbpf.mapLookupElem = mapLookupElem;
      libbpf.mapLookupElemFlags = mapLookupElemFlags;
    }
    expect(lookups).toBe(0);
  });

  test("removed cgroups and deleted values retire their slots; new cgroups come with refresh; track takes every cgroup form", async () => {
    const { m, parent, cgs, set } = setup(6);
    await using c = await Collector.create(m, { root: parent.path });
    c.refresh();
    const s0 = c.slotOf(cgs[0]!)!;
    m.delete(cgs[0]!);
    cgs[1]!.remove();
    const r = await c.poll();
    expect(r.retired).toBe(2);
    expect(c.slotOf(cgs[0]!)).toBeUndefined();
    expect(c.slots()).not.toContain(s0);

    const late = Cgroup.create(`${parent.path}/late`);
    set(late, 77);
    expect(c.refresh()).toEqual({ added: 1, retired: 0 });
    await c.poll();
    const out = new Float64Array(2);
    c.read(c.slotOf(late)!, out);
    expect([...out]).toEqual([77, 770]);

    // A poll sees every cgroup: one that got a value since is tracked by the poll itself.
    const later = Cgroup.create(`${parent.path}/later`);
    set(later, 8);
    const p = await c.poll();
    expect([p.added, p.looked]).toEqual([1, c.slots().length - 1]);
    c.read(c.slotOf(later)!, out);
    expect([...out]).toEqual([8, 80]);

    // track(): a Cgroup, a path, an id, { fd } — one slot per cgroup.
    const other = Cgroup.create(`${parent.path}/other`);
    set(other, 5);
    const slot = c.track(other);
    expect(c.track(other.path)).toBe(slot);
    expect(c.track(other.id)).toBe(slot);
    expect(c.track(BigInt(other.id))).toBe(slot);
    await c.poll();
    expect([...(c.read(slot, out), out)]).toEqual([5, 50]);
    expect(thrown(() => c.track(`${parent.path}/nope`))).toMatchObject({ kind: "not-found" });
    expect(thrown(() => c.track(m.newValue() as never))).toMatchObject({ kind: "type" });
  });

  test("a spin-locked value: the default reads the iterator's copy; locked: true looks each cgroup up under the lock", async () => {
    const { m, parent, cgs } = setup(4, true);
    for (const locked of [undefined, true]) {
      await using c = await Collector.create(m, { root: parent, locked });
      c.refresh();
      const r = await c.poll();
      expect(r.looked).toBe(4);
      const out = new Float64Array(2);
      c.read(c.slotOf(cgs[3]!)!, out);
      expect([...out]).toEqual([4, 40]);
    }
    expect(m.lookup(cgs[0]!, ElemFlags.F_LOCK)).not.toBeNull();
  });

  test("a poll that finds more cgroups than free slots tracks what fits and fails nothing", async () => {
    const { m, parent } = setup(5);
    await using c = await Collector.create(m, { root: parent, capacity: 3 });
    const r = await c.poll();
    expect([r.added, c.slots().length]).toEqual([3, 3]);
    expect((await c.poll()).added).toBe(0);
  });

  test("misuse is refused with the rule named", async () => {
    const { m, parent } = setup(1);
    expect((await Collector.create(m, { workers: 2 }).catch((e: unknown) => e)) as Error).toMatchObject({
      kind: "rule", message: expect.stringContaining("one iterator run"),
    });
    expect((await Collector.create(m, { locked: true }).catch((e: unknown) => e)) as Error).toMatchObject({
      kind: "rule", message: expect.stringContaining("no bpf_spin_lock"),
    });
    expect((await Collector.create(m, { root: `${parent.path}/missing` }).catch((e: unknown) => e)) as Error).toMatchObject({ kind: "not-found" });
    expect((await Collector.create(m, { method: "sideways" as never }).catch((e: unknown) => e)) as Error).toMatchObject({ kind: "rule" });
    const legacy = closeLater(createMap({ type: "shared", schema: { packets: "u64" } }));
    expect((await Collector.create(legacy, { root: parent }).catch((e: unknown) => e)) as Error).toMatchObject({
      kind: "rule", message: expect.stringContaining("cgrp_storage"),
    });
  });
});

const sleep = (ms: number) => new Promise<void>((ok) => setTimeout(ok, ms));

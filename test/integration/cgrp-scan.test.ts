/**
 * Scans of CGRP_STORAGE maps over hundreds of real cgroups: the bundled iterator (records read
 * in place through an mmap) and the tree walk give exactly what per-cgroup lookups give; growth
 * past the first records array; a subtree root; cgroups removed during a scan; nested scans.
 */
import { afterEach, describe, expect, test } from "../helpers/harness.ts";
import { Cgroup, createMap, ElemFlags, type CgrpStorageMap } from "../../src/index.ts";
import { bpf } from "../helpers/env.ts";
import { kernelAtLeast } from "../helpers/kernel.ts";
import { cleanup, closeLater, testCgroup, waitFor } from "../helpers/fixture.ts";

const N = 300;

/** N cgroups in two levels (a parent with N-1 children), each with value [id, i]. */
function setup() {
  const m = closeLater(createMap({ type: "cgrp", schema: { id: "u64", i: "u32", lock: "spin_lock" } }));
  const parent = testCgroup("scan");
  const cgs = [parent, ...Array.from({ length: N - 1 }, (_, i) => Cgroup.create(`${parent.path}/c${i}`))];
  const v = m.newValue(), dv = new DataView(v.buffer);
  for (const [i, cg] of cgs.entries()) {
    dv.setBigUint64(0, BigInt(cg.id), true);
    dv.setUint32(8, i, true);
    m.update(cg, v);
  }
  return { m, parent, cgs };
}

/** What a scan saw: id → [stored id, i]; fails on a duplicate. */
function scan(m: CgrpStorageMap, options?: Parameters<CgrpStorageMap["forEach"]>[1]): Map<number, [number, number]> {
  const out = new Map<number, [number, number]>();
  const n = m.forEach((id, at, v) => {
    expect(at).toBeUndefined();
    expect(out.has(id)).toBe(false);
    const dv = new DataView(v.buffer, v.byteOffset, v.byteLength);
    out.set(id, [Number(dv.getBigUint64(0, true)), dv.getUint32(8, true)]);
    expect(dv.getUint32(12, true)).toBe(0); // the spin lock reads as 0, as lookup shows it
  }, options);
  expect(n).toBe(out.size);
  return out;
}

function byLookup(m: CgrpStorageMap, cgs: Cgroup[]): Map<number, [number, number]> {
  const out = new Map<number, [number, number]>();
  for (const cg of cgs) {
    const v = m.lookup(cg, ElemFlags.F_LOCK);
    if (v === null) continue;
    const dv = new DataView(v.buffer, v.byteOffset, v.byteLength);
    out.set(cg.id, [Number(dv.getBigUint64(0, true)), dv.getUint32(8, true)]);
  }
  return out;
}

describe.skipIf(!bpf.ok || !kernelAtLeast(6, 2))(`CGRP_STORAGE scans over ${N} cgroups`, () => {
  afterEach(() => {
    cleanup();
  });

  test("iterator scan = walk scan = per-cgroup lookups; cursor, keys and entries agree; growth past the first array", () => {
    const { m, cgs } = setup();
    const expected = byLookup(m, cgs);
    expect(expected.size).toBe(N);
    for (const [id, [stored]] of expected) expect(stored).toBe(id);

    const small = scan(m, { slots: 16 }); // 16 slots: the array grows, the walk runs again
    expect(small).toEqual(expected);
    expect(m.lastScan).toMatchObject({ method: "iterator", entries: N, reruns: 1, reason: undefined });
    expect(m.lastScan.cgroups).toBeGreaterThanOrEqual(N);
    expect(scan(m)).toEqual(expected); // the grown array is kept: no rerun now
    expect(m.lastScan.reruns).toBe(0);

    expect(scan(m, { method: "walk" })).toEqual(expected);
    expect(m.lastScan).toMatchObject({ method: "walk", entries: N });

    const c = m.cursor();
    let n = 0;
    while (c.next()) {
      expect(expected.get(c.cgroupId)![1]).toBe(new DataView(c.value.buffer, c.value.byteOffset).getUint32(8, true));
      n++;
    }
    expect([n, c.count]).toEqual([N, N]);
    expect(c.reset().next()).toBe(true);
    expect(new Set(m.keys())).toEqual(new Set(expected.keys()));
    const entries = [...m.entries({ method: "walk" })];
    expect(entries.map(([id]) => id).sort()).toEqual([...expected.keys()].sort());
  }, 60_000);

  test("a subtree root (Cgroup, path, id): that cgroup and its descendants only, both methods", () => {
    const { m, parent, cgs } = setup();
    const leaf = cgs[5]!;
    for (const method of ["iterator", "walk"] as const) {
      expect(scan(m, { root: leaf, method })).toEqual(new Map([[leaf.id, [leaf.id, 5]]]));
      expect(scan(m, { root: leaf.path, method }).size).toBe(1);
      expect(scan(m, { root: parent.id, method }).size).toBe(N);
      expect(m.lastScan.method).toBe(method);
    }
    const outside = closeLater(createMap({ type: "cgrp", valueSize: 8 }));
    outside.update(testCgroup("other"), new Uint8Array(8));
    expect(outside.forEach(() => {}, { root: parent })).toBe(0);
    expect(outside.forEach(() => {})).toBe(1);
  }, 60_000);

  test("cgroups removed during a scan: no duplicates, the snapshot stays readable, the next scan drops them", () => {
    const { m, cgs } = setup();
    const doomed = cgs.slice(100, 130);
    const gone = new Set(doomed.map((c) => c.id));
    for (const method of ["iterator", "walk"] as const) {
      const seen = new Set<number>();
      let k = 0;
      m.forEach((id) => {
        expect(seen.has(id)).toBe(false);
        seen.add(id);
        if (k++ === 50 && method === "iterator") for (const cg of doomed) cg.remove();
      }, { method });
      if (method === "iterator") expect(seen.size).toBe(N);
      else expect([...gone].filter((id) => seen.has(id))).toEqual([]);
    }
    expect(waitFor(() => [...m.keys()].every((id) => !gone.has(id)), 5000)).toBe(true);
    expect(m.forEach(() => {})).toBe(N - doomed.length);
  }, 60_000);

  test("a scan inside a forEach callback gets its own records; the outer one finishes with its snapshot", () => {
    const { m } = setup();
    const outer: number[] = [];
    let inner = 0;
    m.forEach((id) => {
      outer.push(id);
      if (outer.length === 10) inner = m.forEach(() => {});
    });
    expect([outer.length, new Set(outer).size, inner]).toEqual([N, N, N]);
  }, 60_000);
});

/** Full scans over hundreds of real cgroups, including cgroups removed while a scan runs. */
import { afterEach, describe, expect, test } from "../helpers/harness.ts";
import {
  AttachType, BpfObject, CgroupStorageMap, resolveCgroupPath, type Cgroup, type CgroupAttachment,
} from "../../src/index.ts";
import { libbpf } from "../../src/ffi/index.ts";
import { bpf, native } from "../helpers/env.ts";
import { cleanup, closeLater, sendUdp, testCgroup, track, waitFor } from "../helpers/fixture.ts";
import { u64 } from "../helpers/values.ts";
import { boundedForEach, boundedKeys, boundedSteps } from "../helpers/bounded-scan.ts";

const N = 220;
const SOCK_CREATE = AttachType.CGROUP_INET_SOCK_CREATE;

/** A fresh sock_create counter map attached to N new cgroups (oldest first). */
function setup() {
  const obj = closeLater(BpfObject.open(native("sock_create.bpf.o")).load());
  const map = closeLater(CgroupStorageMap.from(obj.map("sock_count")));
  const prog = obj.program("count_sock_create");
  const cgs: Cgroup[] = [];
  const links = new Map<number, CgroupAttachment>();
  for (let i = 0; i < N; i++) {
    const cg = testCgroup("scan");
    cgs.push(cg);
    links.set(cg.id, track(prog.attachCgroup(cg)));
  }
  return { map, cgs, links };
}

describe.skipIf(!bpf.ok)(`scans over ${N} cgroups`, () => {
  afterEach(cleanup);

  test("keys, forEach and a cursor see exactly what was attached, newest first", () => {
    const { map, cgs } = setup();
    for (const cg of cgs.slice(0, 5)) sendUdp(cg, 0, 0); // two sockets each
    const keys = boundedKeys(map.keys());
    expect(keys).toHaveLength(N);
    expect(new Set(keys.map((k) => k.cgroupId))).toEqual(new Set(cgs.map((c) => c.id)));
    expect(keys.every((k) => k.attachType === SOCK_CREATE)).toBe(true);
    expect(keys[0]!.cgroupId).toBe(cgs[N - 1]!.id); // the kernel's order: newest first

    const counts = new Map<number, number>();
    expect(boundedForEach(map, (id, at, v) => { expect(at).toBe(SOCK_CREATE); counts.set(id, u64(v, 0)); })).toBe(N);
    for (const [i, cg] of cgs.entries()) expect(counts.get(cg.id)).toBe(i < 5 ? 2 : 0);

    // A forEach inside a forEach's callback does not cut the outer scan short.
    let outer = 0, inner = 0;
    boundedForEach(map, () => {
      if (outer++ === 3) inner = boundedForEach(map, () => {});
    });
    expect([outer, inner]).toEqual([N, N]);

    const c = map.cursor();
    const n = boundedSteps(c);
    expect([n, c.count]).toEqual([N, N]);
    expect(resolveCgroupPath(cgs[7]!.id)).toBe(cgs[7]!.path);
  });

  /** Scans the map with `scan`, calling `each` with every id it yields. */
  type Scan = (map: CgroupStorageMap, each: (id: number) => void) => void;
  const viaForEach: Scan = (map, each) => void boundedForEach(map, (id) => each(id));
  const viaKeys: Scan = (map, each) => {
    let n = 0;
    for (const k of map.keys()) {
      if (++n > 20_000) throw new Error("keys() is not advancing");
      each(k.cgroupId);
    }
  };

  test("keys(): kept keys stay distinct and correct; a stable map's next scan yields the same frozen objects; nested and cut-short walks", () => {
    const { map, cgs, links } = setup();
    for (const cg of cgs.slice(100, 105)) sendUdp(cg, 0, 0); // two sockets each
    // lookup(k) of the key keys() just yielded (passed as the cursor holds it) reads that entry.
    const counts = new Map<number, number>();
    boundedForEach(map, (id, _at, v) => counts.set(id, u64(v, 0)));
    let checked = 0;
    for (const k of map.keys()) {
      if (checked++ > 2 * N) throw new Error("keys() is not advancing");
      expect([k.cgroupId, u64(map.lookup(k)!, 0)]).toEqual([k.cgroupId, counts.get(k.cgroupId)!]);
    }
    expect([checked, [...counts.values()].filter((n) => n === 2).length]).toEqual([N, 5]);
    const first = boundedKeys(map.keys()), again = boundedKeys(map.keys());
    expect(new Set(first).size).toBe(N);
    expect(again.every((k, i) => k === first[i])).toBe(true);
    expect(first.every((k) => Object.isFrozen(k))).toBe(true);
    const ids = first.map((k) => k.cgroupId);
    // A keys() walk inside another (the map's own cursor is taken: the inner gets a new one),
    // and a walk cut short by break, which hands the cursor back to the next walk.
    let outer = 0, inner = 0;
    for (const k of map.keys()) {
      if (outer++ > 2 * N) throw new Error("keys() is not advancing");
      if (k.cgroupId === ids[3]) inner = boundedKeys(map.keys()).length;
    }
    for (const k of map.keys()) if (k.cgroupId === ids[1]) break;
    expect([outer, inner, boundedKeys(map.keys()).length]).toEqual([N, N, N]);
    // Entries gone (the newest ten: every survivor moves up ten places): the next scan has the
    // survivors, each key right; the keys kept from before still say what they said.
    const removed = cgs.slice(N - 10);
    for (const cg of removed) {
      links.get(cg.id)!.detach();
      cg.remove();
    }
    const gone = new Set(removed.map((c) => c.id));
    expect(waitFor(() => boundedKeys(map.keys()).length === N - 10, 5000)).toBe(true);
    const after = boundedKeys(map.keys());
    expect(after.map((k) => k.cgroupId)).toEqual(ids.filter((id) => !gone.has(id)));
    expect(after.every((k) => k.attachType === SOCK_CREATE && map.lookup(k) !== null)).toBe(true);
    expect(first.map((k) => k.cgroupId)).toEqual(ids);
  });

  test("keys(): one get_next_key per key and one lookup in all; entries(): two calls per entry, as forEach", () => {
    const { map } = setup();
    const counts = { next: 0, lookup: 0 };
    const { mapGetNextKey, mapLookupElem } = libbpf;
    libbpf.mapGetNextKey = (...a) => (counts.next++, mapGetNextKey(...a));
    libbpf.mapLookupElem = (...a) => (counts.lookup++, mapLookupElem(...a));
    // Kernels before the end-of-list fix (5.10, 6.1 before 6.1.175) answer the last key's
    // get_next_key with a bogus key (cgroup id 0) instead of ENOENT: the walk ends on it with no
    // lookup, where a fixed kernel's ENOENT costs one (is the last key still there?).
    const keys = [...map.keys()];
    const last = new Uint32Array(new ArrayBuffer(16)), after = new Uint32Array(new ArrayBuffer(16));
    last[0] = keys.at(-1)!.cgroupId >>> 0;
    last[1] = Math.floor(keys.at(-1)!.cgroupId / 2 ** 32);
    last[2] = keys.at(-1)!.attachType ?? 0;
    const endLookups = mapGetNextKey(map.fd, libbpf.pointer(last), libbpf.pointer(after)) === 0 ? 0 : 1;
    counts.next = counts.lookup = 0;
    try {
      expect(boundedKeys(map.keys())).toHaveLength(N);
      expect(counts).toEqual({ next: N + 1, lookup: endLookups });
      counts.next = counts.lookup = 0;
      expect(boundedKeys(map.entries())).toHaveLength(N);
      expect(counts).toEqual({ next: N + 1, lookup: N + endLookups });
      counts.next = counts.lookup = 0;
      boundedForEach(map, () => {});
      expect(counts).toEqual({ next: N + 1, lookup: N + endLookups });
    } finally {
      libbpf.mapGetNextKey = mapGetNextKey;
      libbpf.mapLookupElem = mapLookupElem;
    }
  });

  for (const [how, scan] of [["forEach", viaForEach], ["keys()", viaKeys]] as const) {
    test(`cgroups removed mid-scan (${how}): nothing yielded twice, no survivor missed`, () => removedMidScan(scan), 30_000);
  }

  function removedMidScan(scan: Scan) {
    const { map, cgs, links } = setup();
    // Newest first: cgs[N-1] is visited first. At the 50th entry we remove the current
    // cgroup, ten visited before it and thirty not visited yet, and wait until the kernel has
    // dropped their entries, so the scan must resume from an older survivor.
    const visitedEarlier = cgs.slice(N - 30, N - 20);
    const unvisited = cgs.slice(60, 90);
    const gone = new Set<number>();
    const seen: number[] = [];
    const remove = (cg: Cgroup) => {
      links.get(cg.id)!.detach();
      cg.remove();
      gone.add(cg.id);
    };
    scan(map, (id) => {
      seen.push(id);
      if (seen.length !== 50) return;
      const current = cgs.find((c) => c.id === id)!;
      for (const cg of [current, ...visitedEarlier, ...unvisited]) remove(cg);
      const vanished = waitFor(() => [...gone].every((g) => map.lookup({ cgroupId: g, attachType: SOCK_CREATE }) === null), 5000);
      expect(vanished).toBe(true);
    });
    expect(new Set(seen).size).toBe(seen.length);
    const survivors = cgs.filter((c) => !gone.has(c.id)).map((c) => c.id);
    const seenSet = new Set(seen);
    expect(survivors.filter((id) => !seenSet.has(id))).toEqual([]);
    expect(unvisited.filter((c) => seenSet.has(c.id))).toEqual([]);
    expect(seen).toHaveLength(N - unvisited.length);
    expect(resolveCgroupPath(unvisited[0]!.id, { fresh: true })).toBeNull();
  }
});

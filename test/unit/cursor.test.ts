/**
 * The scan cursor against a fake kernel that behaves like cgroup_storage_get_next_key():
 * a newest-first list; ENOENT for a key not in the list; optionally the pre-2026 bug that
 * returns 0 and a bogus key after the last entry. Hooks let a test remove or add entries at
 * exact moments of the walk, which a real kernel cannot be made to do deterministically.
 */
import { afterAll, describe, expect, test } from "../helpers/harness.ts";
import { ScanCursor, type CursorSource, type ScanSyscalls } from "../../src/maps/cursor.ts";
import { libbpf, type NativePointer } from "../../src/ffi/index.ts";
import { boundedSteps, UnboundedScanError } from "../helpers/bounded-scan.ts";

type K = [id: number, attachType: number];
const ENOENT = -2;

// The fake kernel reads and writes through the pointers the cursor passes; what a pointer is
// depends on the runtime (the view itself under Bun, a Deno.PointerObject under Deno), so
// remember which view each pointer was made from.
const views = new Map<NativePointer, ArrayBufferView>();
const realPointer = libbpf.pointer;
libbpf.pointer = (view) => {
  const p = realPointer(view);
  views.set(p, view);
  return p;
};
afterAll(() => {
  libbpf.pointer = realPointer;
});
const viewOf = (p: NativePointer) => views.get(p) ?? (p as unknown as ArrayBufferView);

/** Far above any walk here: past it the fake refuses, so a cursor looping inside next() fails. */
const FAKE_CALL_BOUND = 100_000;

class FakeKernel implements ScanSyscalls {
  /** Newest first, like map->list. */
  list: K[];
  /** Pre-fix kernels: what get_next_key answers (with 0) for the last entry. */
  bogusEnd: K | null = null;
  /**
   * Whether a lookup of `bogusEnd` succeeds. A real pre-fix kernel's bogus key is map internals
   * read as a key: its lookup fails today, but nothing promises it; the cursor must end the walk
   * on the key's shape (id 0, attach type > 255) without asking.
   */
  bogusLookupSucceeds = false;
  onGetNextKey: (prev: K | null) => void = () => {};
  onLookup: (key: K) => void = () => {};
  getNextKeyCalls = 0;
  /** Every key looked up, in order. */
  readonly lookups: K[] = [];
  readonly keySize: 8 | 16;

  constructor(keys: K[], keySize: 8 | 16 = 16) {
    this.list = keys.slice();
    this.keySize = keySize;
  }
  private words(p: NativePointer): Uint32Array {
    const v = viewOf(p);
    return new Uint32Array(v.buffer, v.byteOffset, v.byteLength >> 2);
  }
  /** Like the kernel, reads (and writes) only key_size bytes: an 8-byte key has no attach type. */
  private read(p: NativePointer): K {
    const w = this.words(p);
    return [w[0]! + w[1]! * 2 ** 32, this.keySize === 16 ? w[2]! : 0];
  }
  private index(k: K) {
    return this.list.findIndex(([id, at]) => id === k[0] && at === k[1]);
  }
  remove(...ids: number[]) {
    this.list = this.list.filter(([id]) => !ids.includes(id));
  }
  mapGetNextKey = (_fd: number, key: NativePointer | null, next: NativePointer) => {
    if (++this.getNextKeyCalls > FAKE_CALL_BOUND) throw new UnboundedScanError("fake get_next_key", FAKE_CALL_BOUND);
    const prev = key === null ? null : this.read(key);
    this.onGetNextKey(prev);
    let out: K | undefined;
    if (prev === null) out = this.list[0];
    else {
      const i = this.index(prev);
      if (i < 0) return ENOENT;
      out = this.list[i + 1];
      if (out === undefined && this.bogusEnd) out = this.bogusEnd;
    }
    if (out === undefined) return ENOENT;
    const w = this.words(next);
    w[0] = out[0] >>> 0;
    w[1] = Math.floor(out[0] / 2 ** 32);
    if (this.keySize === 16) {
      w[2] = out[1];
      w[3] = 0;
    }
    return 0;
  };
  mapLookupElem = (_fd: number, key: NativePointer, value: NativePointer) => {
    const k = this.read(key);
    this.lookups.push(k);
    this.onLookup(k);
    const bogus = this.bogusEnd !== null && this.bogusLookupSucceeds && k[0] === this.bogusEnd[0] &&
      k[1] === (this.keySize === 16 ? this.bogusEnd[1] : 0);
    if (this.index(k) < 0 && !bogus) return ENOENT;
    new Uint32Array(viewOf(value).buffer)[0] = k[0]; // value = id
    return 0;
  };
  mapLookupElemFlags = (fd: number, key: NativePointer, value: NativePointer) => this.mapLookupElem(fd, key, value);
}

function source(keySize: 8 | 16 = 16): CursorSource<Uint8Array> {
  return {
    fd: 3,
    keySize,
    newValueTarget() {
      const value = new Uint8Array(new ArrayBuffer(8));
      return { value, pointer: libbpf.pointer(value) };
    },
  };
}

/** The ids a full scan yields (bounded: a cursor that never advances throws, not hangs). */
function scan(k: FakeKernel, keySize: 8 | 16 = 16, each?: (id: number, n: number) => void): number[] {
  return scanKeys(k, keySize, each).map(([id]) => id);
}

/** The [id, attach type] keys a full scan yields, bounded. */
function scanKeys(k: FakeKernel, keySize: 8 | 16 = 16, each?: (id: number, n: number) => void): [number, number | undefined][] {
  const c = new ScanCursor(source(keySize), 0, k);
  const seen: [number, number | undefined][] = [];
  boundedSteps(c, () => {
    expect(new Uint32Array(c.value.buffer)[0]).toBe(c.cgroupId); // value belongs to this key
    seen.push([c.cgroupId, c.attachType]);
    each?.(c.cgroupId, seen.length);
  });
  expect(c.next()).toBe(false); // stays done
  return seen;
}

const keys = (n: number, at = 1): K[] => Array.from({ length: n }, (_, i) => [100 + i, at] as K);

describe("ScanCursor", () => {
  test("the fake sees every buffer the cursor hands to the kernel", () => {
    const v = new Uint8Array(new ArrayBuffer(4));
    expect(viewOf(libbpf.pointer(v))).toBe(v);
  });

  test("walks every entry in kernel order; empty map yields nothing", () => {
    expect(scan(new FakeKernel(keys(5)))).toEqual([100, 101, 102, 103, 104]);
    expect(scan(new FakeKernel([]))).toEqual([]);
  });

  test("current entry vanishes before the next step: resumes from the previous survivor", () => {
    const k = new FakeKernel(keys(6));
    const seen = scan(k, 16, (id) => { if (id === 102) k.remove(102); });
    expect(seen).toEqual([100, 101, 102, 103, 104, 105]);
  });

  test("several visited entries vanish, including the current one", () => {
    const k = new FakeKernel(keys(8));
    const seen = scan(k, 16, (id) => { if (id === 104) k.remove(102, 103, 104); });
    expect(seen).toEqual([100, 101, 102, 103, 104, 105, 106, 107]);
  });

  test("every visited entry vanishes: restarts from the head without repeating", () => {
    const k = new FakeKernel(keys(6));
    const seen = scan(k, 16, (id) => { if (id === 102) k.remove(100, 101, 102); });
    expect(seen).toEqual([100, 101, 102, 103, 104, 105]);
  });

  test("unvisited entries removed mid-scan are simply not yielded", () => {
    const k = new FakeKernel(keys(6));
    expect(scan(k, 16, (id) => { if (id === 101) k.remove(101, 103); })).toEqual([100, 101, 102, 104, 105]);
  });

  test("the next entry vanishes between get_next_key and lookup: skipped, walk goes on", () => {
    const k = new FakeKernel(keys(5));
    k.onLookup = ([id]) => { if (id === 102) k.remove(102); };
    expect(scan(k)).toEqual([100, 101, 103, 104]);
  });

  test("entries created during the scan land at the head: old ones all come once", () => {
    const k = new FakeKernel(keys(5));
    const seen = scan(k, 16, (id) => {
      if (id === 101) k.list.unshift([900, 1], [901, 1]);
      if (id === 103) k.remove(103); // and force a resume with new heads present
    });
    expect(seen).toEqual([100, 101, 102, 103, 104]);
  });

  test("pre-fix kernels: a bogus key (id 0, attach type > 255) ends the walk at once, unread", () => {
    // [key size, bogus key]: cgroup id 0 (ids start at 1) in either key size; for 16-byte keys
    // also a plausible id with an attach type no enum has.
    const cases: [8 | 16, K][] = [
      [16, [0, 0]], [16, [0, 1]], [16, [0, 0xffff8881]], [16, [555, 0xffff8881]], [16, [555, 256]], [8, [0, 0]],
    ];
    for (const lookupSucceeds of [false, true]) {
      for (const [size, bogus] of cases) {
        const k = new FakeKernel(keys(3, size === 16 ? 2 : 0), size);
        k.bogusEnd = bogus;
        k.bogusLookupSucceeds = lookupSucceeds;
        const at = size === 16 ? 2 : undefined;
        const what = { size, bogus, lookupSucceeds };
        expect({ ...what, seen: scanKeys(k, size) }).toEqual({ ...what, seen: [[100, at], [101, at], [102, at]] });
        // Recognised by its shape: one get_next_key per entry plus the one that met it, and
        // no lookup of it (whose answer nothing guarantees).
        expect({ ...what, calls: k.getNextKeyCalls }).toEqual({ ...what, calls: 4 });
        expect({ ...what, lookups: k.lookups.map(([id]) => id) }).toEqual({ ...what, lookups: [100, 101, 102] });
      }
    }
  });

  test("pre-fix kernels: a plausible-looking bogus key whose lookup fails twice ends the walk", () => {
    const k = new FakeKernel(keys(3));
    k.bogusEnd = [555, 3];
    expect(scan(k)).toEqual([100, 101, 102]);
    expect(k.getNextKeyCalls).toBe(5); // met, looked up, asked again, same key failing again: done
  });

  test("a scan that never advances fails (bounded) instead of hanging", () => {
    // A kernel that answers the first key for every prev: the cursor would walk forever.
    const k = new FakeKernel(keys(2));
    k.mapGetNextKey = ((orig) => (fd: number, _key: NativePointer | null, next: NativePointer) => orig(fd, null, next))(k.mapGetNextKey);
    expect(() => scan(k)).toThrow(UnboundedScanError);
  });

  test("8-byte keys, and reset() scans again with the same buffers", () => {
    const k = new FakeKernel(keys(3, 0), 8);
    const c = new ScanCursor(source(8), 0, k);
    const ids = () => { const out: [number, number | undefined][] = []; boundedSteps(c, () => out.push([c.cgroupId, c.attachType])); return out; };
    expect(ids()).toEqual([[100, undefined], [101, undefined], [102, undefined]]);
    expect(c.count).toBe(3);
    const value = c.value;
    c.reset();
    expect(ids().length).toBe(3);
    expect(c.value).toBe(value);
  });

  test("history grows past its first capacity", () => {
    const k = new FakeKernel(keys(1000));
    const seen = scan(k, 16, (id) => { if (id === 800) k.remove(799, 800); });
    expect(seen.length).toBe(1000);
    expect(new Set(seen).size).toBe(1000);
  });
});

/** The [id, attach type] keys a keys-only walk (what `map.keys()` runs) yields, bounded. */
function walkKeys(k: FakeKernel, keySize: 8 | 16 = 16, each?: (id: number, n: number) => void): [number, number | undefined][] {
  const c = new ScanCursor(source(keySize), 0, k, true);
  const seen: [number, number | undefined][] = [];
  boundedSteps(c, () => {
    seen.push([c.cgroupId, c.attachType]);
    each?.(c.cgroupId, seen.length);
  });
  expect(c.next()).toBe(false);
  return seen;
}
const walk = (k: FakeKernel, each?: (id: number, n: number) => void) => walkKeys(k, 16, each).map(([id]) => id);

describe("ScanCursor, keys only (keys())", () => {
  test("one get_next_key per key, and one lookup at the end (is the last key the last?)", () => {
    const k = new FakeKernel(keys(50));
    expect(walk(k)).toEqual(keys(50).map(([id]) => id));
    expect(k.getNextKeyCalls).toBe(51);
    expect(k.lookups.map(([id]) => id)).toEqual([149]);
    const empty = new FakeKernel([]);
    expect(walk(empty)).toEqual([]);
    expect([empty.getNextKeyCalls, empty.lookups.length]).toEqual([1, 0]);
  });

  test("the key just yielded vanishes: its successor was already named, nothing missing or twice", () => {
    const k = new FakeKernel(keys(6));
    expect(walk(k, (id) => { if (id === 102) k.remove(102); })).toEqual([100, 101, 102, 103, 104, 105]);
  });

  test("the pending key vanishes before it is proven: asks the current key again", () => {
    const k = new FakeKernel(keys(6));
    expect(walk(k, (id) => { if (id === 101) k.remove(102); })).toEqual([100, 101, 103, 104, 105]);
  });

  test("the pending key and the current one vanish: resumes from an older survivor", () => {
    const k = new FakeKernel(keys(8));
    expect(walk(k, (id) => { if (id === 104) k.remove(102, 103, 104, 105); })).toEqual([100, 101, 102, 103, 104, 106, 107]);
  });

  test("every visited key and the pending one vanish: restarts at the head without repeating", () => {
    const k = new FakeKernel(keys(6));
    expect(walk(k, (id) => { if (id === 102) k.remove(100, 101, 102, 103); })).toEqual([100, 101, 102, 104, 105]);
  });

  test("the first key vanishes before it is proven", () => {
    const k = new FakeKernel(keys(4));
    k.onGetNextKey = (prev) => { if (prev?.[0] === 100) k.remove(100); };
    expect(walk(k)).toEqual([101, 102, 103]);
  });

  test("the last key vanishes at the end: ENOENT, its lookup fails, the walk ends", () => {
    const k = new FakeKernel(keys(4));
    expect(walk(k, (id) => { if (id === 102) k.remove(103); })).toEqual([100, 101, 102]);
  });

  test("entries created during the walk land at the head; removals force resumes; old keys all come once", () => {
    const k = new FakeKernel(keys(5));
    const seen = walk(k, (id) => {
      if (id === 101) k.list.unshift([900, 1], [901, 1]);
      if (id === 102) k.remove(101, 102, 103);
    });
    expect(seen).toEqual([100, 101, 102, 104]);
  });

  test("pre-fix kernels: a bogus key by its shape ends the walk, never yielded, never looked up", () => {
    for (const [size, bogus] of [[16, [0, 0]], [16, [555, 256]], [16, [0, 0xffff8881]], [8, [0, 0]]] as [8 | 16, K][]) {
      for (const lookupSucceeds of [false, true]) {
        const k = new FakeKernel(keys(3, size === 16 ? 2 : 0), size);
        k.bogusEnd = bogus;
        k.bogusLookupSucceeds = lookupSucceeds;
        const at = size === 16 ? 2 : undefined;
        const what = { size, bogus, lookupSucceeds };
        expect({ ...what, seen: walkKeys(k, size) }).toEqual({ ...what, seen: [[100, at], [101, at], [102, at]] });
        expect({ ...what, calls: k.getNextKeyCalls, lookups: k.lookups.length }).toEqual({ ...what, calls: 4, lookups: 0 });
      }
    }
  });

  test("pre-fix kernels: a plausible bogus key is held back, fails, comes again and ends the walk", () => {
    const k = new FakeKernel(keys(3));
    k.bogusEnd = [555, 3];
    expect(walk(k)).toEqual([100, 101, 102]);
    // 4 to name 100…bogus, 1 for the bogus key's ENOENT, 1 asking 102 again (the same key).
    expect(k.getNextKeyCalls).toBe(6);
    expect(k.lookups.map(([id]) => id)).toEqual([555]);
  });

  test("a walk that never advances fails (bounded) instead of hanging", () => {
    const k = new FakeKernel(keys(2));
    k.mapGetNextKey = ((orig) => (fd: number, _key: NativePointer | null, next: NativePointer) => orig(fd, null, next))(k.mapGetNextKey);
    expect(() => walk(k)).toThrow(UnboundedScanError);
  });

  test("8-byte keys; reset() walks again; history grows under churn", () => {
    const k8 = new FakeKernel(keys(3, 0), 8);
    const c = new ScanCursor(source(8), 0, k8, true);
    for (let pass = 0; pass < 2; pass++) {
      const out: [number, number | undefined][] = [];
      boundedSteps(c, () => out.push([c.cgroupId, c.attachType]));
      expect(out).toEqual([[100, undefined], [101, undefined], [102, undefined]]);
      c.reset();
    }
    const k = new FakeKernel(keys(1000));
    const seen = walk(k, (id) => { if (id === 800) k.remove(798, 799, 800, 801); });
    expect(seen.length).toBe(999);
    expect(new Set(seen).size).toBe(999);
    expect(seen.includes(801)).toBe(false);
  });
});

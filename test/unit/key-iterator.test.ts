/**
 * `KeyIterator` (what `keys()` returns) over a scripted cursor: the keys it hands out are
 * frozen, distinct and correct, reused by position across scans of a stable map (so such scans
 * allocate nothing per key), replaced where the map changed, and the map's key list follows the
 * last full scan.
 */
import { describe, expect, test } from "../helpers/harness.ts";
import { KeyIterator, type KeyCursor, type KeyIteratorOwner } from "../../src/maps/key-iterator.ts";
import type { StorageKey } from "../../src/maps/key.ts";
import type { NativePointer } from "../../src/ffi/index.ts";

/** A cursor walking `keys` ([id, attachType]), like a keys-only ScanCursor. */
function cursor(keys: [number, number | undefined][]): KeyCursor & { steps: number } {
  let i = -1;
  return {
    steps: 0,
    next() {
      this.steps++;
      return ++i < keys.length;
    },
    get cgroupId() {
      return keys[i]![0];
    },
    get attachType() {
      return keys[i]![1];
    },
    /** A token for "the buffer holding key i". */
    get keyPointer() {
      return { at: i } as unknown as NativePointer;
    },
  };
}

function owner(): KeyIteratorOwner & { released: KeyCursor[] } {
  const released: KeyCursor[] = [];
  return { keyList: [] as StorageKey[], released, releaseKeyCursor: (c) => void released.push(c), hotKey: null, hotKeyPointer: null };
}

describe("KeyIterator", () => {
  test("yields every key as a frozen object, distinct, then done; the cursor is handed back once", () => {
    const o = owner(), c = cursor([[7, 2], [5, 2], [5, 1]]);
    const keys = [...new KeyIterator(c, o)];
    expect(keys).toEqual([{ cgroupId: 7, attachType: 2 }, { cgroupId: 5, attachType: 2 }, { cgroupId: 5, attachType: 1 }]);
    expect(new Set(keys).size).toBe(3);
    expect(keys.every((k) => Object.isFrozen(k))).toBe(true);
    expect(() => {
      (keys[0] as { cgroupId: number }).cgroupId = 9;
    }).toThrow(TypeError);
    expect(o.released).toEqual([c]);
    expect(o.keyList).toEqual(keys);
  });

  test("a second scan of a stable map yields the same objects; a changed place gets a new one", () => {
    const o = owner();
    const first = [...new KeyIterator(cursor([[3, 1], [2, 1], [1, 1]]), o)];
    const again = [...new KeyIterator(cursor([[3, 1], [2, 1], [1, 1]]), o)];
    expect(again.every((k, i) => k === first[i])).toBe(true);
    // An entry created at the head shifts the others: each place that changed gets a new key;
    // the keys handed out before keep their values.
    const shifted = [...new KeyIterator(cursor([[4, 1], [3, 1], [2, 1], [1, 1]]), o)];
    expect(shifted.map((k) => k.cgroupId)).toEqual([4, 3, 2, 1]);
    expect(first.map((k) => k.cgroupId)).toEqual([3, 2, 1]);
    expect(shifted.some((k) => first.includes(k))).toBe(false);
    // 8-byte keys (attachType undefined) match by id alone.
    const o8 = owner();
    const a = [...new KeyIterator(cursor([[9, undefined]]), o8)], b = [...new KeyIterator(cursor([[9, undefined]]), o8)];
    expect(a[0]).toBe(b[0]!);
    expect(a[0]).toEqual({ cgroupId: 9, attachType: undefined });
  });

  test("the key list is cut to a full scan's length; an early stop hands the cursor back and cuts nothing", () => {
    const o = owner();
    [...new KeyIterator(cursor([[5, 1], [4, 1], [3, 1], [2, 1]]), o)];
    expect(o.keyList).toHaveLength(4);
    const c = cursor([[5, 1], [4, 1], [3, 1], [2, 1]]);
    for (const k of new KeyIterator(c, o)) if (k.cgroupId === 4) break;
    expect([o.released.at(-1), o.keyList.length]).toEqual([c, 4]);
    [...new KeyIterator(cursor([[5, 1]]), o)];
    expect(o.keyList.map((k) => k.cgroupId)).toEqual([5]);
  });

  test("after the end, next() stays done without asking the cursor again; iterator helpers work", () => {
    const o = owner(), c = cursor([[1, 1]]);
    const it = new KeyIterator(c, o);
    expect(it.next()).toEqual({ done: false, value: { cgroupId: 1, attachType: 1 } });
    expect(it.next()).toEqual({ done: true, value: undefined });
    expect(it.next()).toEqual({ done: true, value: undefined });
    expect([c.steps, o.released.length]).toEqual([2, 1]);
    const helpers = new KeyIterator(cursor([[2, 1], [1, 1]]), owner()) as unknown as { map?: (f: (k: StorageKey) => number) => { toArray(): number[] } };
    if (typeof helpers.map === "function") expect(helpers.map((k) => k.cgroupId).toArray()).toEqual([2, 1]);
  });

  test("the key just yielded is the owner's hot key, with its cursor's buffer, until the cursor moves or is handed back", () => {
    const o = owner();
    const it = new KeyIterator(cursor([[3, 1], [2, 1]]), o);
    const a = it.next().value!;
    expect([o.hotKey, o.hotKeyPointer]).toEqual([a, { at: 0 } as unknown as NativePointer]);
    const b = it.next().value!;
    expect([o.hotKey === b, o.hotKeyPointer]).toEqual([true, { at: 1 } as unknown as NativePointer]);
    expect(it.next().done).toBe(true);
    expect(o.hotKey).toBeNull();
    const cut = new KeyIterator(cursor([[3, 1], [2, 1]]), o);
    cut.next();
    cut.return();
    expect(o.hotKey).toBeNull();
  });
});

/**
 * Scans with a hard bound. A cursor bug that never advances (yields the same entry forever, or
 * loops inside `next()`) would hang the suite: the loop is synchronous, so no test timeout
 * interrupts it. Bounded, it throws `UnboundedScanError` instead and the test fails in a moment.
 *
 * Two layers:
 * - helpers for scans a test writes itself: `boundedKeys`, `boundedForEach`, `boundedSteps`;
 * - `guardScans()`, installed for every test file by ./file-hooks.ts, for scans the library makes
 *   on a test's behalf (`Collector.refresh()`, `keys()` inside a helper …): it wraps
 *   `ScanCursor.prototype.next` and the libbpf `mapGetNextKey` it calls.
 */
import { ScanCursor } from "../../src/maps/cursor.ts";
import { libbpf } from "../../src/ffi/index.ts";

/** Far above any scan a test makes (hundreds of entries; 1000 in the cursor's history test). */
export const SCAN_BOUND = 20_000;

/** A scan went past its bound: the cursor is not advancing (or the map is far larger than expected). */
export class UnboundedScanError extends Error {
  override readonly name = "UnboundedScanError";
  constructor(what: string, bound: number) {
    super(`${what}: more than ${bound} steps; the scan is not advancing (a cursor bug), or raise the bound`);
  }
}

/** Every item of an iterable (e.g. `map.keys()`), throwing past `bound` items. */
export function boundedKeys<T>(items: Iterable<T>, bound = SCAN_BOUND): T[] {
  const out: T[] = [];
  for (const item of items) {
    if (out.length === bound) throw new UnboundedScanError("keys()", bound);
    out.push(item);
  }
  return out;
}

/**
 * `map.forEach(fn)` whose callback throws past `bound` calls (the throw ends the scan: forEach
 * lets callback errors through). Returns what forEach returns.
 */
export function boundedForEach<A extends unknown[]>(
  map: { forEach(fn: (...args: A) => void): number },
  fn: (...args: A) => void,
  bound = SCAN_BOUND,
): number {
  let calls = 0;
  return map.forEach((...args: A) => {
    if (++calls > bound) throw new UnboundedScanError("forEach()", bound);
    fn(...args);
  });
}

/**
 * Calls `cursor.next()` until it returns false, calling `each` after every true; throws past
 * `bound` entries. Returns the number of entries.
 */
export function boundedSteps(cursor: { next(): boolean }, each?: (n: number) => void, bound = SCAN_BOUND): number {
  let n = 0;
  while (cursor.next()) {
    if (++n > bound) throw new UnboundedScanError("cursor.next()", bound);
    each?.(n);
  }
  return n;
}

let installed: (() => void) | null = null;

/**
 * Bounds every `ScanCursor` scan in this module instance: `next()` throws once a cursor has
 * yielded more than `bound` entries since its last reset, and libbpf's `mapGetNextKey` throws
 * past `bound` calls within one `next()` (a loop inside it). Idempotent; returns the uninstaller.
 */
export function guardScans(bound = SCAN_BOUND): () => void {
  if (installed) return installed;
  const proto = ScanCursor.prototype as unknown as { next(this: ScanCursor<unknown>): boolean };
  const next = proto.next;
  const getNextKey = libbpf.mapGetNextKey;
  let calls = 0;
  libbpf.mapGetNextKey = (fd, key, out) => {
    if (++calls > bound) throw new UnboundedScanError(`get_next_key within one next() (map fd ${fd})`, bound);
    return getNextKey(fd, key, out);
  };
  proto.next = function (this: ScanCursor<unknown>): boolean {
    calls = 0;
    const more = next.call(this);
    if (more && this.count > bound) throw new UnboundedScanError("ScanCursor.next()", bound);
    return more;
  };
  installed = () => {
    proto.next = next;
    libbpf.mapGetNextKey = getNextKey;
    installed = null;
  };
  return installed;
}

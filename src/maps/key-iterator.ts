/**
 * `KeyIterator`: what `keys()` returns, a hand-written iterator over a keys-only cursor that
 * allocates nothing per key once a map's keys are known.
 *
 * `for (const k of map.keys()) map.lookup(k)` is the scan a user writes first. As a generator
 * yielding a new object per key it cost 1.26–1.30× the C get_next_key + lookup loop where
 * `forEach` cost 1.14× (bench/RESULTS.md), and under Bun it collected garbage (18 GCs in 400k
 * keys). So:
 * - a plain `next()`, with one result object per iterator, reused (for-of and spread read
 *   `value` at once; a caller holding results across `next()` calls sees the latest);
 * - every key object a map hands out is frozen and kept in the map's key list, by position in
 *   the kernel's order: the next scan yields the same object where the same key comes at the
 *   same place (a stable map: every key), a new one elsewhere. Keys a caller keeps stay
 *   distinct and correct (`[...map.keys()]`); the list is cut to the last full scan's length.
 */
import type { StorageKey } from "./key.ts";
import type { NativePointer } from "../ffi/index.ts";
import { ScanCursor, type CursorSource } from "./cursor.ts";

/** The slice of a keys-only `ScanCursor` a `KeyIterator` reads. @internal */
export type KeyCursor = Pick<ScanCursor<unknown>, "next" | "cgroupId" | "attachType" | "keyPointer">;

/** What a `KeyIterator` needs from its map. @internal */
export interface KeyIteratorOwner {
  /** The key objects handed out, by position in the last scan. */
  readonly keyList: StorageKey[];
  /** Called once when an iterator is done with `cursor` (the map may reuse it). */
  releaseKeyCursor(cursor: KeyCursor): void;
  /**
   * The key yielded last and where its bytes are (its cursor's key buffer), so that `lookup(key)`
   * passes them as they are; null when no buffer is known to hold it. Set at every yield, and
   * cleared before the cursor that holds the bytes moves (or is handed back).
   */
  hotKey: StorageKey | null;
  hotKeyPointer: NativePointer | null;
}

/**
 * A map's keys() state, kept off the map's public surface: the key list, the hot key, and the
 * keys-only cursor walks reuse unless another walk holds it (nested walks get their own). @internal
 */
export class KeyWalks implements KeyIteratorOwner {
  readonly keyList: StorageKey[] = [];
  hotKey: StorageKey | null = null;
  hotKeyPointer: NativePointer | null = null;
  private readonly source: CursorSource<unknown>;
  private cursor: ScanCursor<unknown> | undefined;
  private busy = false;

  constructor(source: CursorSource<unknown>) {
    this.source = source;
  }

  /** A new walk over every key: what `keys()` returns. */
  walk(): KeyIterator {
    let c = this.cursor;
    if (c === undefined || this.busy) c = new ScanCursor(this.source, 0, undefined, true);
    else c.reset();
    this.cursor ??= c;
    if (c === this.cursor) this.busy = true;
    return new KeyIterator(c, this);
  }

  releaseKeyCursor(cursor: KeyCursor): void {
    if (cursor === this.cursor) this.busy = false;
  }
}

/** A result object for one iterator's `next()` calls. */
interface Step {
  done: boolean;
  value: StorageKey | undefined;
}

/** The iterator `keys()` returns (see the module comment). @internal */
export class KeyIterator implements IterableIterator<StorageKey> {
  private cursor: KeyCursor | null;
  private readonly owner: KeyIteratorOwner;
  /** Keys yielded so far: the position in the owner's key list. */
  private at = 0;
  private readonly step: Step = { done: false, value: undefined };

  constructor(cursor: KeyCursor, owner: KeyIteratorOwner) {
    this.cursor = cursor;
    this.owner = owner;
  }

  next(): IteratorResult<StorageKey, undefined> {
    const c = this.cursor, step = this.step, owner = this.owner;
    owner.hotKey = null; // the cursor is about to move: its buffer no longer holds that key
    if (c !== null && c.next()) {
      const list = this.owner.keyList, i = this.at++;
      const id = c.cgroupId, attachType = c.attachType;
      let key = list[i];
      if (key === undefined || key.cgroupId !== id || key.attachType !== attachType) {
        key = Object.freeze({ cgroupId: id, attachType });
        list[i] = key;
      }
      step.value = key;
      owner.hotKey = key;
      owner.hotKeyPointer = c.keyPointer;
      return step as IteratorResult<StorageKey, undefined>;
    }
    if (c !== null) {
      // A full scan: keys past its length belong to entries that are gone.
      this.owner.keyList.length = this.at;
      this.release();
    }
    step.done = true;
    step.value = undefined;
    return step as IteratorResult<StorageKey, undefined>;
  }

  /** Ends the walk early (for-of calls it on `break`), handing the cursor back. */
  return(): IteratorResult<StorageKey, undefined> {
    this.release();
    return { done: true, value: undefined };
  }

  [Symbol.iterator](): this {
    return this;
  }

  private release(): void {
    const c = this.cursor;
    if (c === null) return;
    this.cursor = null;
    this.owner.hotKey = null;
    this.owner.releaseKeyCursor(c);
  }
}

// Inherit the iterator helpers (`map.keys().filter(...)`, `.toArray()`) a generator had, where
// the runtime has them (ES2025 Iterator.prototype: Bun and Deno both do).
const IteratorPrototype = (globalThis as { Iterator?: { prototype: object } }).Iterator?.prototype;
if (IteratorPrototype) Object.setPrototypeOf(KeyIterator.prototype, IteratorPrototype);

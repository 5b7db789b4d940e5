/**
 * `ScanCursor`: walks every entry of a cgroup storage map with get_next_key + lookup, reusing
 * its buffers, so a full scan allocates nothing per entry.
 *
 * The kernel keeps these entries on a list, newest first, and entries come and go while we walk
 * (cgroups are removed, programs attached). Three kernel behaviours shape the walk:
 * 1. get_next_key(prev) answers ENOENT both at the end of the list and when `prev` itself has
 *    vanished. We tell them apart with a lookup of `prev`; if it vanished we resume from the
 *    most recent key we visited that still exists. New entries are only ever added at the head,
 *    so that key's successor is the first entry we have not visited: nothing is skipped and
 *    nothing is yielded twice.
 * 2. A key can vanish between get_next_key and our lookup of it: we ask for prev's successor
 *    again.
 * 3. Kernels before the 2026 fix ("bpf: fix end-of-list detection in
 *    cgroup_storage_get_next_key()") return 0 and a bogus key after the last entry. Such a key
 *    has cgroup id 0 (ids start at 1) or a garbage attach type, or fails its lookup twice in a
 *    row for the same prev; either way it ends the walk.
 *
 * A keys-only walk (`keys()`) makes one syscall per key: get_next_key(k) answering 0 proves `k`
 * was in the map (the kernel found it to find its successor), so a key is yielded once its
 * successor has been asked for, and looked up only when that answer is ambiguous: ENOENT (the
 * last key, or one that vanished, or a pre-fix kernel's bogus key), resolved as above.
 */
import { libbpf, type Libbpf, type NativePointer } from "../ffi/index.ts";
import { bpfError, ENOENT } from "../errors.ts";
import { KeyBuffer, U32, type KeySize } from "./key.ts";

/** What asking for a successor came to (see `successor()`). */
const GOT = 0, END = 1, AGAIN = 2;

/** Attach types are small enum values; a larger one can only be map internals (see 3. above). */
const MAX_PLAUSIBLE_ATTACH_TYPE = 255;

/** What a cursor needs from its map. @internal */
export interface CursorSource<V> {
  readonly fd: number;
  readonly keySize: KeySize;
  /** A fresh value buffer for this cursor, and its pointer. */
  newValueTarget(): { value: V; pointer: NativePointer };
}

/** The three calls a scan makes; unit tests pass a fake kernel here. @internal */
export type ScanSyscalls = Pick<Libbpf, "mapLookupElem" | "mapLookupElemFlags" | "mapGetNextKey">;

/**
 * A reusable position in a map scan. `next()` moves to the next entry and fills `value`;
 * `cgroupId`, `attachType` and `value` describe the current entry until the next call.
 * ```ts
 * const c = map.cursor();
 * while (c.next()) total += packets.total(c.value); // packets = map.field("packets")
 * c.reset(); // scan again with the same buffers
 * ```
 */
export class ScanCursor<V> {
  /** The current entry's value. Owned by the cursor and overwritten by `next()`. */
  readonly value: V;
  private readonly valuePointer: NativePointer;
  /** The current entry's key; swapped with `nextKey` on every step instead of copied. */
  private prev: KeyBuffer;
  private nextKey: KeyBuffer;
  private readonly failed: KeyBuffer;
  private readonly probe: KeyBuffer;
  /** Keys-only walks: `nextKey` holds a key not yet proven to exist; `spare` takes its successor. */
  private readonly keysOnly: boolean;
  private spare: KeyBuffer | null = null;
  private pending = false;
  /** Keys-only walks: the key yielded last was the map's last; the next call ends the walk. */
  private last = false;
  private started = false;
  private done = false;
  private hasFailed = false;
  /** Keys visited this scan, in order, for resuming after a vanished key. Grows, never shrinks. */
  private historyIds = new Float64Array(256);
  private historyTypes = new Uint32Array(256);
  private visited = 0;
  private readonly source: CursorSource<V>;
  /** Lookup flags (BPF_F_LOCK for spin-locked shared values). */
  private readonly flags: number;
  private readonly sys: ScanSyscalls;

  /** @internal use `map.cursor()` */
  constructor(source: CursorSource<V>, flags = 0, sys: ScanSyscalls = libbpf, keysOnly = false) {
    this.source = source;
    this.flags = flags;
    this.sys = sys;
    this.keysOnly = keysOnly;
    if (keysOnly) this.spare = new KeyBuffer(source.keySize);
    const t = source.newValueTarget();
    this.value = t.value;
    this.valuePointer = t.pointer;
    this.prev = new KeyBuffer(source.keySize);
    this.nextKey = new KeyBuffer(source.keySize);
    this.failed = new KeyBuffer(source.keySize);
    this.probe = new KeyBuffer(source.keySize);
  }

  /** Current entry's cgroup id. */
  get cgroupId(): number {
    return this.prev.cgroupId;
  }

  /** Current entry's attach type (undefined for 8-byte keys). */
  get attachType(): number | undefined {
    return this.prev.attachType;
  }

  /** Where the current entry's key is, for the kernel; valid until the next `next()`/`reset()`. @internal */
  get keyPointer(): NativePointer {
    return this.prev.pointer;
  }

  /** Entries returned since the last `reset()`. */
  get count(): number {
    return this.visited;
  }

  /** Starts over from the first (newest) entry. */
  reset(): this {
    this.started = false;
    this.done = false;
    this.hasFailed = false;
    this.pending = false;
    this.last = false;
    this.visited = 0;
    return this;
  }

  /**
   * Moves to the next entry. False once the map has no more entries. A keys-only cursor
   * (internal, for `keys()`) moves to the next key and leaves `value` undefined.
   */
  next(): boolean {
    if (this.done) return false;
    if (this.keysOnly) return this.nextKeyOnly();
    const fd = this.source.fd;
    for (;;) {
      const step = this.successor(fd);
      if (step === END) return this.finish();
      if (step === AGAIN) continue;
      if (this.isBogus(this.nextKey)) return this.finish();

      const lr = this.lookupValue(this.nextKey);
      if (lr === 0) {
        const current = this.nextKey;
        this.nextKey = this.prev;
        this.prev = current;
        this.started = true;
        this.hasFailed = false;
        this.remember(this.prev);
        return true;
      }
      if (lr !== -ENOENT) throw bpfError("lookup", lr, `scan of map fd ${fd} at ${this.nextKey.describe()}`);
      // The successor vanished between the two calls, or it is a pre-fix kernel's bogus key.
      if (this.hasFailed && this.failed.equals(this.nextKey)) return this.finish();
      this.failed.copyFrom(this.nextKey);
      this.hasFailed = true;
    }
  }

  /** One get_next_key per key; see the module comment. */
  private nextKeyOnly(): boolean {
    if (this.last) return this.finish();
    const fd = this.source.fd;
    for (;;) {
      if (!this.pending) {
        // The successor of the current key (or the first key) becomes the pending key.
        const step = this.successor(fd);
        if (step === END) return this.finish();
        if (step === AGAIN) continue;
        this.pending = true;
      }
      const key = this.nextKey;
      if (this.isBogus(key) || (this.hasFailed && this.failed.equals(key))) return this.finish();
      // Its successor proves it exists; ENOENT leaves it ambiguous: the last key, or gone.
      const spare = this.spare!;
      const rc = this.sys.mapGetNextKey(fd, key.pointer, spare.pointer);
      if (rc === 0 || (rc === -ENOENT && this.exists(key))) {
        this.last = rc !== 0;
        this.nextKey = spare; // the successor is the new pending key
        this.spare = this.prev;
        this.prev = key;
        this.started = true;
        this.hasFailed = false;
        this.remember(key);
        return true;
      }
      if (rc !== -ENOENT) throw bpfError("get_next_key", rc, `scan of map fd ${fd} at ${key.describe()}`);
      // Gone since get_next_key named it, or a pre-fix kernel's bogus key: ask again.
      this.failed.copyFrom(key);
      this.hasFailed = true;
      this.pending = false;
    }
  }

  /**
   * get_next_key of the current key (or of none: the first key) into `nextKey`: GOT; END of
   * the map; or AGAIN after the current key vanished and the walk moved back to the most recent
   * survivor (or to the start).
   */
  private successor(fd: number): typeof GOT | typeof END | typeof AGAIN {
    const rc = this.sys.mapGetNextKey(fd, this.started ? this.prev.pointer : null, this.nextKey.pointer);
    if (rc === 0) return GOT;
    if (rc !== -ENOENT) throw bpfError("get_next_key", rc, `scan of map fd ${fd}`);
    if (!this.started || this.exists(this.prev)) return END;
    if (!this.resumeFromSurvivor()) this.started = false;
    return AGAIN;
  }

  private finish(): false {
    this.done = true;
    return false;
  }

  private lookupValue(key: KeyBuffer): number {
    return this.flags === 0
      ? this.sys.mapLookupElem(this.source.fd, key.pointer, this.valuePointer)
      : this.sys.mapLookupElemFlags(this.source.fd, key.pointer, this.valuePointer, this.flags);
  }

  private exists(key: KeyBuffer): boolean {
    const rc = this.lookupValue(key);
    if (rc === 0) return true;
    if (rc === -ENOENT) return false;
    throw bpfError("lookup", rc, `scan of map fd ${this.source.fd} at ${key.describe()}`);
  }

  private isBogus(key: KeyBuffer): boolean {
    const w = key.words;
    return (w[0] === 0 && w[1] === 0) || (this.source.keySize === 16 && w[2]! > MAX_PLAUSIBLE_ATTACH_TYPE);
  }

  private remember(key: KeyBuffer): void {
    if (this.visited === this.historyIds.length) {
      const ids = new Float64Array(this.visited * 2);
      const types = new Uint32Array(this.visited * 2);
      ids.set(this.historyIds);
      types.set(this.historyTypes);
      this.historyIds = ids;
      this.historyTypes = types;
    }
    this.historyIds[this.visited] = key.cgroupId;
    this.historyTypes[this.visited] = key.words[2]!;
    this.visited++;
  }

  /** `prev` vanished: continue after the most recent visited key that still exists. */
  private resumeFromSurvivor(): boolean {
    const probe = this.probe;
    for (let i = this.visited - 2; i >= 0; i--) {
      const id = this.historyIds[i]!;
      probe.words[0] = id >>> 0;
      probe.words[1] = (id - probe.words[0]!) / U32;
      probe.words[2] = this.historyTypes[i]!;
      probe.words[3] = 0;
      if (this.exists(probe)) {
        this.prev.copyFrom(probe);
        return true;
      }
    }
    return false;
  }
}

/**
 * `StorageMap`: the element operations and get_next_key iteration both legacy cgroup storage
 * maps share (keys `{cgroup id, attach type}` or a bare cgroup id). The handle itself (fd, info,
 * layout, pin, close) is `MapHandle`.
 */
import { libbpf, type NativePointer } from "../ffi/index.ts";
import { BpfRuleError, ENOENT, EINVAL, EPERM, type BpfError, type BpfOp } from "../errors.ts";
import { ElemFlags } from "../constants.ts";
import { decode, type Decoded, type DecodeOptions } from "../btf/decode.ts";
import { Layout } from "../btf/layout.ts";
import type { DecodedStruct } from "../btf/schema.ts";
import { EncodedKey, KeyBuffer, encodeKey, type KeySize, type MapKey, type StorageKey } from "./key.ts";
import { ScanCursor, type CursorSource } from "./cursor.ts";
import { KeyWalks } from "./key-iterator.ts";
import { MapHandle } from "./handle.ts";
import type { MapInfo } from "./info.ts";

/** A map's reusable value buffer and its native pointer. @internal */
export interface ValueTarget<V> {
  value: V;
  pointer: NativePointer;
}

/**
 * Flags of a lookup or scan: 0, or `ElemFlags.F_LOCK` to copy a shared value under its
 * `bpf_spin_lock`. (A literal type, so that an attach type passed where the key's belongs,
 * `lookup(id, AttachType.CGROUP_INET_EGRESS)`, is a compile error.)
 */
export type LookupFlags = typeof ElemFlags.ANY | typeof ElemFlags.F_LOCK;

/** Called with every entry of a scan; `value` belongs to the map and is overwritten next. */
export type EntryCallback<V> = (cgroupId: number, attachType: number | undefined, value: V) => void;

/**
 * Base of `CgroupStorageMap` and `PerCpuCgroupStorageMap`. `V` is what a lookup returns (bytes,
 * or every CPU's values), `T` the decoded value's type.
 */
export abstract class StorageMap<V, T = DecodedStruct> extends MapHandle<T> implements CursorSource<V> {
  /** The map's key size: 16 (`{cgroup id, attach type}`) or 8 (cgroup id only). */
  readonly keySize: KeySize;
  /** The key buffer every element operation writes into. */
  private readonly keyBuffer: KeyBuffer;
  private readonly target: ValueTarget<V>;
  private readonly lookupElem = libbpf.mapLookupElem;
  private readonly lookupElemFlags = libbpf.mapLookupElemFlags;
  private ownCursor: ScanCursor<V> | undefined;
  private scanning = false;
  /** keys(): the reusable cursor, the key objects handed out, the key just yielded. */
  private readonly keyWalks: KeyWalks = new KeyWalks(this);
  private keyLayoutCache: Layout | null | undefined;

  /** @internal */
  constructor(fd: number, info: MapInfo, target: ValueTarget<V>) {
    super(fd, info);
    this.keySize = info.keySize as KeySize;
    this.keyBuffer = new KeyBuffer(this.keySize);
    this.target = target;
  }

  /** A fresh value buffer for a cursor. @internal */
  abstract newValueTarget(): ValueTarget<V>;

  /** Throws unless `flags` are valid lookup flags for this map type. @internal */
  protected abstract checkLookupFlags(flags: number): void;

  /** Copies a lookup result into a caller's `target`, checked first by `checkTarget`. @internal */
  protected abstract copyValue(from: V, to: V | ArrayBufferView): void;

  /** Throws unless `target` can take a value of this map. @internal */
  protected abstract checkTarget(target: unknown): void;

  /** A copy of a value, for keeping. @internal */
  protected abstract cloneValue(value: V): V;

  /**
   * A key encoded once, for hot loops (`lookup(k)` then passes its bytes as they are). Checked
   * now: `attachType` is required for 16-byte keys and refused for 8-byte ones.
   */
  key(cgroupId: number | bigint, attachType?: number): EncodedKey {
    return new EncodedKey(this.keySize, cgroupId, attachType);
  }

  /** Where the key of the last element operation points, for messages. */
  private where(): string {
    return this.keyBuffer.describe();
  }

  /** The pointer for `key` (see `MapKey`). @internal */
  protected keyPointer(op: BpfOp, key: MapKey): NativePointer {
    return this.keyBuffer.pointerFor(op, key);
  }

  /**
   * The value for `key`, or null if the map has no such entry. The result belongs to the map and
   * is overwritten by the next lookup: copy it (`lookupInto`, `.slice()`/`clone()`) to keep it.
   * `flags`: `ElemFlags.F_LOCK` reads a shared value under its `bpf_spin_lock`. Allocates
   * nothing for a number id, a reused key object or an `EncodedKey`.
   */
  lookup(key: MapKey, flags: LookupFlags = 0): V | null {
    // The key keys() just yielded is still in its cursor's buffer: pass those bytes as they are.
    const walks = this.keyWalks;
    const kp = key === walks.hotKey ? walks.hotKeyPointer! : this.keyBuffer.pointerFor("lookup", key);
    let rc: number;
    if (flags === 0) rc = this.lookupElem(this.fd, kp, this.target.pointer);
    else {
      this.checkLookupFlags(flags);
      rc = this.lookupElemFlags(this.fd, kp, this.target.pointer, flags);
    }
    if (rc === 0) return this.target.value;
    if (rc === -ENOENT) return null;
    throw this.elementError("lookup", rc, key, flags);
  }

  /**
   * Looks `key` up into `target` (a value of this map's shape) for keeping. Returns false,
   * leaving `target` alone, if the entry does not exist.
   */
  lookupInto(key: MapKey, target: V, flags: LookupFlags = 0): boolean {
    this.checkTarget(target);
    const v = this.lookup(key, flags);
    if (v === null) return false;
    this.copyValue(v, target);
    return true;
  }

  /**
   * Asks the kernel to delete `key`'s entry. Cgroup storage never allows it: the kernel answers
   * EINVAL, reported as kind "unsupported". An entry lives until its cgroup is removed or the
   * map is freed; zero it with `update()` instead.
   */
  delete(key: MapKey): void {
    this.checkWritable("delete");
    const kp = this.keyBuffer.pointerFor("delete", key);
    const rc = libbpf.mapDeleteElem(this.fd, kp);
    if (rc === 0) return;
    throw this.elemError("delete", rc, this.where(), rc === -EINVAL
      ? "cgroup storage entries cannot be deleted: each lives as long as its cgroup (or the map). Remove the cgroup to drop it, or zero its value with update()"
      : undefined, rc === -EINVAL ? "unsupported" : undefined);
  }

  /** The error for a failed update, with what the errno means for cgroup storage. @internal */
  protected updateError(rc: number, key: MapKey, flags: number, lockHint?: string): BpfError {
    return this.elementError("update", rc, key, flags, lockHint);
  }

  /** @internal */
  protected elementError(op: "lookup" | "update", rc: number, key: MapKey, flags: number, lockHint?: string): BpfError {
    let hint: string | undefined;
    if (op === "update" && rc === -ENOENT) {
      hint = "update never creates entries in cgroup storage: an entry appears when a program using this map is " +
        "attached to that cgroup (with that attach type, for 16-byte keys)";
    } else if (rc === -EPERM) {
      hint = op === "update"
        ? "this map fd is read-only (created or opened with BPF_F_RDONLY), or the process lacks CAP_BPF"
        : "this map fd is write-only (created or opened with BPF_F_WRONLY), or the process lacks CAP_BPF";
    } else if (rc === -EINVAL && (flags & ElemFlags.F_LOCK) !== 0) hint = lockHint ?? LOCK_HINT;
    const where = key instanceof EncodedKey ? key.describe() : this.where();
    return this.elemError(op, rc, where, hint);
  }

  /**
   * A key as the kernel's type describes it: `{ cgroup_inode_id, attach_type }` for 16-byte
   * keys, the bare id for 8-byte ones (field names from BTF when the map has it).
   */
  decodeKey(key: StorageKey, options?: DecodeOptions): Decoded {
    const words = new Uint32Array(4);
    encodeKey(words, this.keySize, "lookup", key.cgroupId, key.attachType);
    const layout = this.keyLayout ?? (this.keySize === 16
      ? Layout.fromSchema({ cgroup_inode_id: "u64", attach_type: "u32" }, "bpf_cgroup_storage_key")
      : new Layout({ kind: "int", name: "__u64", size: 8, signed: false, bool: false, char: false }));
    return decode(layout, new Uint8Array(words.buffer), options);
  }

  /** The key's layout from BTF (`struct bpf_cgroup_storage_key` or `__u64`), or null. */
  get keyLayout(): Layout | null {
    if (this.keyLayoutCache === undefined) this.keyLayoutCache = this.btfLayout(this.info.btfKeyTypeId);
    return this.keyLayoutCache;
  }

  /**
   * A new cursor for a zero-allocation scan of every entry (see {@link ScanCursor}). `flags`:
   * `ElemFlags.F_LOCK` reads each shared value under its spin lock.
   */
  cursor(flags: LookupFlags = 0): ScanCursor<V> {
    if (flags !== 0) this.checkLookupFlags(flags);
    return new ScanCursor(this, flags);
  }

  /**
   * Calls `fn` for every entry with a value owned by the map (overwritten by the next entry).
   * Allocates nothing per entry. Returns the number of entries visited.
   */
  forEach(fn: EntryCallback<V>, flags: LookupFlags = 0): number {
    // A forEach inside a forEach's callback (or with other flags) gets its own cursor.
    if (this.scanning || flags !== 0) {
      const inner = this.cursor(flags);
      while (inner.next()) fn(inner.cgroupId, inner.attachType, inner.value);
      return inner.count;
    }
    const c = (this.ownCursor ??= this.cursor()).reset();
    this.scanning = true;
    try {
      while (c.next()) fn(c.cgroupId, c.attachType, c.value);
    } finally {
      this.scanning = false;
    }
    return c.count;
  }

  /**
   * Every key, newest entry first (the kernel's order). One get_next_key per key (a lookup only
   * where its answer is ambiguous). Keys are frozen objects, distinct per key and safe to keep;
   * a later scan yields the same object for a key it finds at the same place, so scans of a
   * stable map allocate nothing per key.
   */
  keys(): IterableIterator<StorageKey> {
    return this.keyWalks.walk();
  }

  /**
   * Every entry with a copy of its value, newest first: get_next_key + lookup per entry, as
   * `forEach`. For keeping; scans use `forEach` (no copies).
   */
  *entries(flags: LookupFlags = 0): IterableIterator<[StorageKey, V]> {
    const c = this.cursor(flags);
    while (c.next()) yield [{ cgroupId: c.cgroupId, attachType: c.attachType }, this.cloneValue(c.value)];
  }
}

/** What an EINVAL under BPF_F_LOCK means. */
export const LOCK_HINT =
  "BPF_F_LOCK needs a struct bpf_spin_lock in the map's value type, and the map must carry BTF " +
  "(maps loaded by libbpf from a .bpf.o do)";

/** Throws a `BpfRuleError` when `flags` is not a whole number. @internal */
export function checkFlagsType(op: BpfOp, flags: unknown): asserts flags is number {
  if (typeof flags !== "number" || !Number.isInteger(flags) || flags < 0) {
    throw new BpfRuleError(op, `flags must be a whole number made of ElemFlags (got ${String(flags)})`);
  }
}

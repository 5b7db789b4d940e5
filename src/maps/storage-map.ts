/** What both cgroup storage map handles share: fd ownership, keys, iteration, pinning. */
import { libbpf, type NativePointer } from "../ffi/index.ts";
import { BpfError, BpfRuleError, bpfError, type BpfOp } from "../errors.ts";
import { KeyBuffer, encodeKey, type KeyInput, type KeySize, type StorageKey } from "./key.ts";
import { decode, type Decoded, type DecodeOptions } from "../btf/decode.ts";
import { ScanCursor, type CursorSource } from "./cursor.ts";
import type { MapInfo } from "./info.ts";
import { Layout, type Schema } from "../btf/layout.ts";
import { kernelBtf } from "../btf/kernel.ts";

import { ENOENT } from "../errors.ts";
export { ENOENT };
const EBADF = 9;

/** Base of `CgroupStorageMap` and `PerCpuCgroupStorageMap`. */
export abstract class StorageMap<V> implements CursorSource<V>, Disposable {
  /** The map's key size: 16 (`{cgroup id, attach type}`) or 8 (cgroup id only). */
  readonly keySize: KeySize;
  /** Bytes of one value (one CPU's value for per-CPU maps). */
  readonly valueSize: number;
  /** The key buffer every lookup writes into. @internal */
  protected readonly key: KeyBuffer;
  private ownCursor: ScanCursor<V> | undefined;
  private scanning = false;
  /** -1 once closed: lookups then fail with EBADF instead of reaching whatever map reuses the number. */
  private fdNumber: number;
  private valueLayout: Layout | null | undefined;
  private keyLayoutCache: Layout | null | undefined;

  /** @internal use `openMap`, `createMap` or `BpfObject.map` */
  constructor(
    fd: number,
    /** What the kernel reported when the map was opened. */
    readonly info: MapInfo,
  ) {
    this.fdNumber = fd;
    this.keySize = info.keySize as KeySize;
    this.valueSize = info.valueSize;
    this.key = new KeyBuffer(this.keySize);
  }

  /** The fd this handle owns (closed by `close()`; -1 after). */
  get fd(): number {
    return this.fdNumber;
  }

  /** @internal */
  abstract newValueTarget(): { value: V; pointer: NativePointer };

  /**
   * The value's layout: from the map's BTF (maps libbpf loads from a `.bpf.o` carry it), or
   * what `useLayout` declared; null if neither. Read from the kernel once, then cached.
   * Take offsets from it for the hot path: `map.layout.offset("bytes")`.
   */
  get layout(): Layout | null {
    if (this.valueLayout === undefined) this.valueLayout = this.btfLayout(this.info.btfValueTypeId);
    return this.valueLayout;
  }

  /** The key's layout from BTF (`struct bpf_cgroup_storage_key` or `__u64`), or null. */
  get keyLayout(): Layout | null {
    if (this.keyLayoutCache === undefined) this.keyLayoutCache = this.btfLayout(this.info.btfKeyTypeId);
    return this.keyLayoutCache;
  }

  /** The layout of BTF type `typeId` of this map's BTF object; null when it has none. */
  private btfLayout(typeId: number): Layout | null {
    return typeId ? Layout.fromBtf(kernelBtf(this.info.btfId), typeId) : null;
  }

  /**
   * Declares the value layout of a map without BTF (or overrides it): a `Layout` or a schema
   * such as `{ packets: "u64", bytes: "u64" }` (C alignment). Its size must be `valueSize`.
   */
  useLayout(layout: Layout | Schema): this {
    const l = layout instanceof Layout ? layout : Layout.fromSchema(layout);
    if (l.size !== this.valueSize) {
      throw new BpfRuleError("info", `layout is ${l.size} bytes but the map's values are ${this.valueSize}`,
        "declare every field, padding included, so the sizes match");
    }
    this.valueLayout = l;
    return this;
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

  /** The layout, or an error telling how to get one. @internal */
  protected requireLayout(): Layout {
    const l = this.layout;
    if (l === null) {
      throw new BpfError("info", `map "${this.info.name}" has no BTF to describe its values`,
        { kind: "not-found", hint: 'declare one: map.useLayout({ packets: "u64", bytes: "u64" })' });
    }
    return l;
  }

  /** A new cursor for a zero-allocation scan of every entry (see {@link ScanCursor}). */
  cursor(): ScanCursor<V> {
    return new ScanCursor(this, 0);
  }

  /** @internal */
  protected cursorWithFlags(flags: number): ScanCursor<V> {
    return new ScanCursor(this, flags);
  }

  /**
   * Calls `fn` for every entry with a value owned by the map (overwritten by the next entry).
   * Allocates nothing per entry. Returns the number of entries visited.
   */
  forEach(fn: (cgroupId: number, attachType: number | undefined, value: V) => void): number {
    // A forEach inside a forEach's callback gets its own cursor, not the running one.
    if (this.scanning) {
      const inner = this.cursor();
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

  /** Every key, newest entry first (the kernel's order). Allocates one object per key. */
  *keys(): IterableIterator<StorageKey> {
    const c = this.cursor();
    while (c.next()) yield { cgroupId: c.cgroupId, attachType: c.attachType };
  }

  /** Every entry with a copy of its value, newest first. For keeping; scans use `forEach`. */
  *entries(): IterableIterator<[StorageKey, V]> {
    const c = this.cursor();
    while (c.next()) yield [{ cgroupId: c.cgroupId, attachType: c.attachType }, this.copyValue(c.value)];
  }

  /** @internal */
  protected abstract copyValue(value: V): V;

  /**
   * Always throws: the kernel cannot delete cgroup storage entries (BPF_MAP_DELETE_ELEM answers
   * EINVAL). An entry lives until its cgroup is removed or the map is freed.
   */
  delete(_key?: KeyInput): never {
    throw new BpfError(
      "delete",
      "cgroup storage entries cannot be deleted",
      { kind: "unsupported", hint: "Each entry lives as long as its cgroup (or the map): remove the cgroup to drop it, or " +
        "zero its value with update(); detaching the program does not remove it either" },
    );
  }

  /** Pins the map at `path` on a bpf filesystem (e.g. `/sys/fs/bpf/my_map`). */
  pin(path: string): void {
    const rc = libbpf.objPin(this.fd, path);
    if (rc < 0) {
      throw bpfError("pin", rc, `bpf_obj_pin(${path})`,
        rc === -17 ? `${path} already exists` : rc === -1 || rc === -22
          ? `${path} must be inside a mounted bpf filesystem (mount -t bpf bpf /sys/fs/bpf)`
          : undefined);
    }
  }

  /** Closes the fd. Idempotent. The map lives on while programs, pins or other fds hold it. */
  close(): void {
    if (this.fdNumber < 0) return;
    libbpf.close(this.fdNumber);
    this.fdNumber = -1;
  }

  [Symbol.dispose](): void {
    this.close();
  }

  /** The error for a failed element operation, with what the kernel's errno means here. @internal */
  protected elemError(op: BpfOp, rc: number, flagsHint?: string): BpfError {
    const where = this.key.describe();
    const errno = -rc;
    let hint: string | undefined;
    if (this.fdNumber < 0 || errno === EBADF) hint = "this map handle is closed";
    else if (op === "update" && errno === ENOENT) {
      hint = "update never creates entries in cgroup storage: an entry appears when a program " +
        "using this map is attached to that cgroup (with that attach type, for 16-byte keys)";
    } else if (op === "update" && errno === 1) {
      hint = "this map fd is read-only (created or opened with BPF_F_RDONLY), or the process lacks CAP_BPF";
    } else if (op === "lookup" && errno === 1) {
      hint = "this map fd is write-only (created or opened with BPF_F_WRONLY), or the process lacks CAP_BPF";
    } else if (errno === 22 && flagsHint) hint = flagsHint;
    return bpfError(op, rc, `${this.info.typeName} map "${this.info.name}" (id ${this.info.id}), ${where}`, hint);
  }
}

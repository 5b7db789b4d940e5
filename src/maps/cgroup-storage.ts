/** `CgroupStorageMap`: BPF_MAP_TYPE_CGROUP_STORAGE, one value per cgroup (and attach type). */
import { libbpf, type NativePointer } from "../ffi/index.ts";
import { BpfRuleError } from "../errors.ts";
import { ElemFlags } from "../constants.ts";
import { ENOENT, StorageMap } from "./storage-map.ts";
import { asBytes } from "./percpu-values.ts";
import type { KeyInput } from "./key.ts";
import type { MapInfo } from "./info.ts";
import type { ScanCursor } from "./cursor.ts";
import { decode, type Decoded, type DecodeOptions } from "../btf/decode.ts";

const lookupElem = (fd: number, key: NativePointer, value: NativePointer) => libbpf.mapLookupElem(fd, key, value);
const lookupElemFlags = (fd: number, key: NativePointer, value: NativePointer, flags: number) => libbpf.mapLookupElemFlags(fd, key, value, flags);
const updateElem = (fd: number, key: NativePointer, value: NativePointer, flags: number) => libbpf.mapUpdateElem(fd, key, value, flags);

const LOCK_HINT =
  "BPF_F_LOCK needs a struct bpf_spin_lock in the map's value type, and the map must carry BTF " +
  "(maps loaded by libbpf from a .bpf.o do)";

/** Allocates a value buffer on an explicit ArrayBuffer (its address never moves). */
function valueBuffer(size: number): Uint8Array {
  return new Uint8Array(new ArrayBuffer((size + 7) & ~7), 0, size);
}

/**
 * A shared cgroup storage map: BPF programs on every CPU update one value per cgroup, so values
 * that must be consistent hold a `bpf_spin_lock` (read them with `lookupLocked`).
 */
export class CgroupStorageMap extends StorageMap<Uint8Array> {
  private readonly value: Uint8Array;
  private readonly valuePointer: NativePointer;
  private readonly staging: Uint8Array;
  private readonly stagingPointer: NativePointer;

  /** @internal use `openMap`, `createMap` or `BpfObject.map` */
  constructor(fd: number, info: MapInfo) {
    super(fd, info);
    this.value = valueBuffer(this.valueSize);
    this.valuePointer = libbpf.pointer(this.value);
    this.staging = valueBuffer(this.valueSize);
    this.stagingPointer = libbpf.pointer(this.staging);
  }

  /** Always false: one value per entry, shared by all CPUs. */
  get perCpu(): false {
    return false;
  }

  /**
   * The value for `cgroupId` (and `attachType`, required for 16-byte keys, forbidden for 8-byte
   * ones), or null if the map has no such entry. The returned bytes belong to the map and are
   * overwritten by the next lookup: copy them (`lookupInto`, `.slice()`) to keep them.
   * Allocates nothing for a number id.
   */
  lookup(cgroupId: number | bigint, attachType?: number): Uint8Array | null {
    this.key.set("lookup", cgroupId, attachType);
    const rc = lookupElem(this.fd, this.key.pointer, this.valuePointer);
    if (rc === 0) return this.value;
    if (rc === -ENOENT) return null;
    throw this.elemError("lookup", rc);
  }

  /**
   * Like `lookup`, but the kernel copies the value while holding its `bpf_spin_lock`
   * (BPF_F_LOCK), so fields updated together under the lock are read together. The lock's own
   * bytes read as zero.
   */
  lookupLocked(cgroupId: number | bigint, attachType?: number): Uint8Array | null {
    this.key.set("lookup", cgroupId, attachType);
    const rc = lookupElemFlags(this.fd, this.key.pointer, this.valuePointer, ElemFlags.F_LOCK);
    if (rc === 0) return this.value;
    if (rc === -ENOENT) return null;
    throw this.elemError("lookup", rc, LOCK_HINT);
  }

  /**
   * Looks up into `target` (at least `valueSize` bytes) for keeping. Returns false, leaving
   * `target` alone, if the entry does not exist.
   */
  lookupInto(
    target: ArrayBufferView,
    cgroupId: number | bigint,
    attachType?: number,
    options: { locked?: boolean } = {},
  ): boolean {
    const dst = asBytes(target);
    if (dst.byteLength < this.valueSize) {
      throw new RangeError(`target is ${dst.byteLength} bytes; this map's values are ${this.valueSize}`);
    }
    const v = options.locked ? this.lookupLocked(cgroupId, attachType) : this.lookup(cgroupId, attachType);
    if (v === null) return false;
    dst.set(v);
    return true;
  }

  /**
   * Replaces an existing entry's value (`valueSize` bytes). Entries are never created from user
   * space, so the key must come from an attachment. `flags`: `ElemFlags.ANY` (default) or
   * `EXIST` (the same here), optionally `| F_LOCK` to write under the value's spin lock.
   * Without F_LOCK the kernel swaps in a new buffer, and a program running at that moment may
   * add to the old one: that increment is lost.
   */
  update(key: KeyInput, value: ArrayBufferView, flags: number = ElemFlags.ANY): void {
    const src = asBytes(value);
    if (src.byteLength !== this.valueSize) {
      throw new BpfRuleError(
        "update",
        `value is ${src.byteLength} bytes; this map's values are exactly ${this.valueSize} bytes`,
      );
    }
    if ((flags & ElemFlags.NOEXIST) !== 0) {
      throw new BpfRuleError(
        "update",
        "BPF_NOEXIST cannot succeed on cgroup storage: entries are created only when a program " +
          "using the map is attached to the cgroup; update existing entries with BPF_ANY or BPF_EXIST",
      );
    }
    if ((flags & ~(ElemFlags.EXIST | ElemFlags.F_LOCK)) !== 0 || !Number.isInteger(flags)) {
      throw new BpfRuleError("update", `flags ${flags}: shared cgroup storage accepts only BPF_ANY, BPF_EXIST and BPF_F_LOCK`);
    }
    this.key.setInput("update", key);
    this.staging.set(src);
    const rc = updateElem(this.fd, this.key.pointer, this.stagingPointer, flags);
    if (rc !== 0) throw this.elemError("update", rc, LOCK_HINT);
  }

  /**
   * A value as a plain object by the map's layout (`layout`): `{ packets: 3n, bytes: 114n }`.
   * Spin locks are left out. Allocates: for reading, not for the hot path.
   */
  decode(value: Uint8Array, options?: DecodeOptions): Decoded {
    return decode(this.requireLayout(), value, options);
  }

  /** @internal */
  newValueTarget(): { value: Uint8Array; pointer: NativePointer } {
    const value = valueBuffer(this.valueSize);
    return { value, pointer: libbpf.pointer(value) };
  }

  /** A cursor whose lookups take the value's spin lock (BPF_F_LOCK). */
  lockedCursor(): ScanCursor<Uint8Array> {
    return this.cursorWithFlags(ElemFlags.F_LOCK);
  }

  /** @internal */
  protected copyValue(value: Uint8Array): Uint8Array {
    return value.slice();
  }
}

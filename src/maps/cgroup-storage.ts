/** `CgroupStorageMap`: BPF_MAP_TYPE_CGROUP_STORAGE, one value per cgroup (and attach type). */
import { libbpf } from "../ffi/index.ts";
import { BpfRuleError, typeMismatch } from "../errors.ts";
import { ElemFlags, MapType } from "../constants.ts";
import { decode, type DecodeOptions } from "../btf/decode.ts";
import type { Layout } from "../btf/layout.ts";
import type { AggregateRules, DecodedStruct, Int64AsNumber, Schema, SchemaValue } from "../btf/schema.ts";
import { LOCK_HINT, StorageMap, checkFlagsType, type ValueTarget } from "./storage-map.ts";
import { MapHandle } from "./handle.ts";
import { asBytes } from "./percpu-values.ts";
import { notAHandle, openAs, wrongType, type MapSource, type OpenMapOptions } from "./source.ts";
import type { MapKey } from "./key.ts";
import type { MapInfo } from "./info.ts";
import { refuseCpuFlags } from "./percpu-flags.ts";

/** A value buffer on an explicit ArrayBuffer (its address never moves). @internal */
export function valueTarget(size: number): ValueTarget<Uint8Array> {
  const value = new Uint8Array(new ArrayBuffer((size + 7) & ~7), 0, size);
  return { value, pointer: libbpf.pointer(value) };
}

const UPDATE_FLAGS = ElemFlags.EXIST | ElemFlags.F_LOCK;

/**
 * A shared cgroup storage map: BPF programs on every CPU update one value per cgroup, so values
 * that must be consistent hold a `bpf_spin_lock` (read and write them with `ElemFlags.F_LOCK`).
 * `T` is the decoded value's type: from `useLayout(schema)`, or declared with
 * `CgroupStorageMap.open<MyValue>(pin)` for a map whose BTF describes it.
 */
export class CgroupStorageMap<T = DecodedStruct> extends StorageMap<Uint8Array, T> {
  private readonly staging: ValueTarget<Uint8Array>;
  private readonly updateElem = libbpf.mapUpdateElem;

  /** @internal use `CgroupStorageMap.open`, `openMap`, `createMap` or `BpfObject.map` */
  constructor(fd: number, info: MapInfo) {
    super(fd, info, valueTarget(info.valueSize));
    this.staging = valueTarget(info.valueSize);
  }

  /**
   * Opens a shared cgroup storage map (a pin path, `{ id }` or `{ fd }`, which is duplicated).
   * Any other map type is refused with a `BpfRuleError` naming the type found. `{ access:
   * "read" }` opens it read-only (see `OpenMapOptions`).
   */
  static open<T = DecodedStruct>(source: MapSource, options?: OpenMapOptions): CgroupStorageMap<T> {
    return openAs(source, MapType.CGROUP_STORAGE, "CgroupStorageMap", (fd, info) => new CgroupStorageMap<T>(fd, info), options);
  }

  /** `handle` as a `CgroupStorageMap` (the same object), or a `BpfRuleError` naming its type. */
  static from<T = DecodedStruct>(handle: MapHandle<unknown>): CgroupStorageMap<T> {
    if (handle instanceof CgroupStorageMap) return handle as CgroupStorageMap<T>;
    if (handle instanceof MapHandle) throw wrongType(`map "${handle.info.name}"`, handle.info, MapType.CGROUP_STORAGE, "CgroupStorageMap");
    return notAHandle("CgroupStorageMap", handle);
  }

  /** Always false: one value per entry, shared by all CPUs. */
  get perCpu(): false {
    return false;
  }

  /**
   * Declares the value layout of a map without BTF (or overrides it): a schema such as
   * `{ packets: "u64", bytes: "u64" }` (C alignment; its size must be `valueSize`) or a
   * `Layout`. Returns this map, typed by the schema: `decode(v).packets` is then a `bigint`.
   */
  useLayout<const S extends Schema>(schema: S, rules?: AggregateRules<SchemaValue<S>>): CgroupStorageMap<SchemaValue<S>>;
  useLayout<V = T>(layout: Layout, rules?: AggregateRules<V>): CgroupStorageMap<V>;
  useLayout(layout: Schema | Layout, rules?: { readonly [path: string]: string | undefined }): CgroupStorageMap<unknown> {
    this.setLayout(layout, rules);
    return this as CgroupStorageMap<unknown>;
  }

  /**
   * Replaces an existing entry's value (`valueSize` bytes). Entries are never created from user
   * space, so the key must come from an attachment. `flags`: `ElemFlags.ANY` (default) or
   * `EXIST` (the same here), optionally `| F_LOCK` to write under the value's spin lock.
   * Without F_LOCK the kernel swaps in a new buffer, and a program running at that moment may
   * add to the old one: that increment is lost.
   */
  update(key: MapKey, value: ArrayBufferView, flags: number = ElemFlags.ANY): void {
    this.checkWritable("update");
    const src = asBytes("update", value, `a Uint8Array (or other ArrayBufferView) of ${this.valueSize} bytes`);
    if (src.byteLength !== this.valueSize) {
      throw new BpfRuleError("update", `value is ${src.byteLength} bytes; this map's values are exactly ${this.valueSize} bytes`);
    }
    checkFlagsType("update", flags);
    refuseCpuFlags("update", flags);
    if ((flags & ElemFlags.NOEXIST) !== 0) {
      throw new BpfRuleError("update",
        "BPF_NOEXIST cannot succeed on cgroup storage: entries are created only when a program using the map is attached to the cgroup",
        "update existing entries with ElemFlags.ANY or ElemFlags.EXIST");
    }
    if ((flags & ~UPDATE_FLAGS) !== 0) {
      throw new BpfRuleError("update", `flags ${flags}: shared cgroup storage accepts only ElemFlags.ANY, EXIST and F_LOCK`);
    }
    const kp = this.keyPointer("update", key);
    this.staging.value.set(src);
    const rc = this.updateElem(this.fd, kp, this.staging.pointer, flags);
    if (rc !== 0) throw this.updateError(rc, key, flags);
  }

  /**
   * A value as a plain object by the map's layout: `{ packets: 3n, bytes: 114n }` (typed `T`).
   * Spin locks are left out. Allocates: for reading, not for the hot path (there, use
   * `map.field(path).get(value)`).
   */
  decode(value: Uint8Array, options: { int64: "number" }): Int64AsNumber<T>;
  decode(value: Uint8Array, options?: DecodeOptions): T;
  decode(value: Uint8Array, options?: DecodeOptions): unknown {
    if (!(value instanceof Uint8Array)) typeMismatch("lookup", "the value", "a Uint8Array from lookup()", value);
    return decode(this.requireLayout(), value, options);
  }

  /** A zeroed value of this map's size, e.g. a `lookupInto` target or an `update` value. */
  newValue(): Uint8Array {
    return new Uint8Array(this.valueSize);
  }

  /** @internal */
  newValueTarget(): ValueTarget<Uint8Array> {
    return valueTarget(this.valueSize);
  }

  /** @internal */
  protected checkLookupFlags(flags: number): void {
    checkFlagsType("lookup", flags);
    refuseCpuFlags("lookup", flags);
    if (flags !== ElemFlags.F_LOCK) {
      throw new BpfRuleError("lookup", `flags ${flags}: a shared map's lookup takes 0 or ElemFlags.F_LOCK`, LOCK_HINT);
    }
  }

  /** @internal */
  protected checkTarget(target: unknown): void {
    const dst = asBytes("lookup", target, `a Uint8Array (or other ArrayBufferView) of at least ${this.valueSize} bytes`);
    if (dst.byteLength < this.valueSize) {
      throw new BpfRuleError("lookup", `target is ${dst.byteLength} bytes; this map's values are ${this.valueSize}`,
        "make one with map.newValue()");
    }
  }

  /** @internal */
  protected copyValue(from: Uint8Array, to: ArrayBufferView): void {
    asBytes("lookup", to, "").set(from);
  }

  /** @internal */
  protected cloneValue(value: Uint8Array): Uint8Array {
    return value.slice();
  }
}

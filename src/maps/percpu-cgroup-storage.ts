/** `PerCpuCgroupStorageMap`: BPF_MAP_TYPE_PERCPU_CGROUP_STORAGE, one value per cgroup per CPU. */
import { libbpf } from "../ffi/index.ts";
import { BpfRuleError, typeMismatch } from "../errors.ts";
import { ElemFlags, MapType } from "../constants.ts";
import { possibleCpus } from "../cpus.ts";
import { aggregateDecoded, decode, type DecodeOptions } from "../btf/decode.ts";
import type { Layout } from "../btf/layout.ts";
import type { AggregateRules, DecodedStruct, Int64AsNumber, Schema, SchemaValue } from "../btf/schema.ts";
import { StorageMap, checkFlagsType, type ValueTarget } from "./storage-map.ts";
import { MapHandle } from "./handle.ts";
import { asBytes, PerCpuValues } from "./percpu-values.ts";
import { notAHandle, openAs, wrongType, type MapSource } from "./source.ts";
import type { MapKey } from "./key.ts";
import type { MapInfo } from "./info.ts";

/** A per-CPU value decoded: each field's total over CPUs (by its rule), and each CPU's value. */
export interface DecodedPerCpu<T = DecodedStruct> {
  total: T;
  cpus: T[];
}

function valuesTarget(valueSize: number, cpus: number): ValueTarget<PerCpuValues> {
  const value = PerCpuValues.inWasmMemory(valueSize, cpus); // summed by WebAssembly, zero-copy
  return { value, pointer: libbpf.pointer(value.bytes) };
}

function checkUpdateFlags(flags: unknown): asserts flags is number {
  checkFlagsType("update", flags);
  if (flags === ElemFlags.ANY || flags === ElemFlags.EXIST) return;
  throw new BpfRuleError("update",
    flags === ElemFlags.NOEXIST
      ? "BPF_NOEXIST cannot succeed on cgroup storage: entries are created only when a program using the map is attached to the cgroup"
      : `flags ${flags}: per-CPU cgroup storage accepts only ElemFlags.ANY and EXIST (no F_LOCK: per-CPU values hold no spin lock)`,
    flags === ElemFlags.NOEXIST ? "update existing entries with ElemFlags.ANY or ElemFlags.EXIST" : undefined);
}

/**
 * A per-CPU cgroup storage map: each CPU has its own copy of the value, so programs count
 * without locks and readers combine the slots. Lookups land in one `PerCpuValues` sized
 * `round_up(valueSize, 8) × possible CPUs`, exactly what the kernel writes. `T` is the decoded
 * value's type (see `CgroupStorageMap`).
 */
export class PerCpuCgroupStorageMap<T = DecodedStruct> extends StorageMap<PerCpuValues, T> {
  /** Possible CPUs: slots per value. */
  readonly cpus: number;
  private readonly staging: ValueTarget<PerCpuValues>;
  private readonly updateElem = libbpf.mapUpdateElem;

  /** @internal use `PerCpuCgroupStorageMap.open`, `openMap`, `createMap` or `BpfObject.map` */
  constructor(fd: number, info: MapInfo) {
    const cpus = possibleCpus();
    super(fd, info, valuesTarget(info.valueSize, cpus));
    this.cpus = cpus;
    this.staging = valuesTarget(info.valueSize, cpus);
  }

  /**
   * Opens a per-CPU cgroup storage map (a pin path, `{ id }` or `{ fd }`, which is duplicated).
   * Any other map type is refused with a `BpfRuleError` naming the type found.
   */
  static open<T = DecodedStruct>(source: MapSource): PerCpuCgroupStorageMap<T> {
    return openAs(source, MapType.PERCPU_CGROUP_STORAGE, "PerCpuCgroupStorageMap",
      (fd, info) => new PerCpuCgroupStorageMap<T>(fd, info));
  }

  /** `handle` as a `PerCpuCgroupStorageMap` (the same object), or a `BpfRuleError` naming its type. */
  static from<T = DecodedStruct>(handle: MapHandle<unknown>): PerCpuCgroupStorageMap<T> {
    if (handle instanceof PerCpuCgroupStorageMap) return handle as PerCpuCgroupStorageMap<T>;
    if (handle instanceof MapHandle) {
      throw wrongType(`map "${handle.info.name}"`, handle.info, MapType.PERCPU_CGROUP_STORAGE, "PerCpuCgroupStorageMap");
    }
    return notAHandle("PerCpuCgroupStorageMap", handle);
  }

  /** Always true. */
  get perCpu(): true {
    return true;
  }

  /** See `CgroupStorageMap.useLayout`; rules may also follow a type after a colon (`"u32:max"`). */
  useLayout<const S extends Schema>(schema: S, rules?: AggregateRules<SchemaValue<S>>): PerCpuCgroupStorageMap<SchemaValue<S>>;
  useLayout<V = T>(layout: Layout, rules?: AggregateRules<V>): PerCpuCgroupStorageMap<V>;
  useLayout(layout: Schema | Layout, rules?: { readonly [path: string]: string | undefined }): PerCpuCgroupStorageMap<unknown> {
    this.setLayout(layout, rules);
    return this as PerCpuCgroupStorageMap<unknown>;
  }

  /** An empty `PerCpuValues` shaped for this map, to fill for `update` or keep with `lookupInto`. */
  newValues(): PerCpuValues {
    return new PerCpuValues(this.valueSize, this.cpus);
  }

  /**
   * Replaces every CPU's value of an existing entry. `values` is a `PerCpuValues` of this map's
   * shape, or raw bytes of exactly `round_up(valueSize, 8) × cpus`. Entries are never created
   * from user space. `flags`: `ElemFlags.ANY` (default) or `EXIST`. Per-CPU writes are not
   * atomic across CPUs and race with running programs.
   */
  update(key: MapKey, values: PerCpuValues | ArrayBufferView, flags: number = ElemFlags.ANY): void {
    checkUpdateFlags(flags);
    if (values instanceof PerCpuValues) {
      this.checkShape(values, "update");
      this.staging.value.copyFrom(values);
    } else {
      const src = asBytes("update", values, "a PerCpuValues (map.newValues()) or an ArrayBufferView of every CPU's value");
      const want = this.staging.value.bytes.byteLength;
      if (src.byteLength !== want) {
        throw new BpfRuleError("update",
          `per-CPU value buffer is ${src.byteLength} bytes; this map needs exactly ${want} ` +
            `(round_up(valueSize ${this.valueSize}, 8) = ${this.staging.value.stride} × ${this.cpus} possible CPUs)`,
          "fill map.newValues(), or write one value to every CPU with updateAll(key, value)");
      }
      this.staging.value.bytes.set(src);
    }
    this.write(key, flags);
  }

  /** Writes the same `value` (`valueSize` bytes) to every CPU's slot of an existing entry. */
  updateAll(key: MapKey, value: ArrayBufferView, flags: number = ElemFlags.ANY): void {
    checkUpdateFlags(flags);
    this.staging.value.fill(value);
    this.write(key, flags);
  }

  private write(key: MapKey, flags: number): void {
    const kp = this.keyPointer("update", key);
    const rc = this.updateElem(this.fd, kp, this.staging.pointer, flags);
    if (rc !== 0) throw this.updateError(rc, key, flags);
  }

  private checkShape(v: PerCpuValues, op: "lookup" | "update"): void {
    if (v.cpus !== this.cpus || v.valueSize !== this.valueSize) {
      throw new BpfRuleError(op,
        `PerCpuValues has ${v.cpus} CPUs × ${v.valueSize} B; this map needs ${this.cpus} × ${this.valueSize} B`,
        "make one with map.newValues()");
    }
  }

  /**
   * A per-CPU value decoded by the map's layout: `total` combines each field over CPUs by its
   * aggregation rule (integers summed unless declared otherwise: `useLayout({ n: "u32:max" })`
   * or `aggregate({ n: "max" })`), `cpus[i]` is CPU i's value. Allocates: for reading, not for
   * the hot path (there, use `map.field(path).total(values)`).
   */
  decode(values: PerCpuValues, options: { int64: "number" }): DecodedPerCpu<Int64AsNumber<T>>;
  decode(values: PerCpuValues, options?: DecodeOptions): DecodedPerCpu<T>;
  decode(values: PerCpuValues, options?: DecodeOptions): DecodedPerCpu<unknown> {
    const layout = this.requireLayout();
    this.checkTarget(values);
    const cpus = Array.from({ length: values.cpus }, (_, i) => decode(layout, values.cpu(i), options));
    return { total: aggregateDecoded(layout, cpus), cpus };
  }

  /** @internal */
  newValueTarget(): ValueTarget<PerCpuValues> {
    return valuesTarget(this.valueSize, this.cpus);
  }

  /** @internal */
  protected checkLookupFlags(flags: number): void {
    checkFlagsType("lookup", flags);
    throw new BpfRuleError("lookup", `flags ${flags}: a per-CPU map's lookup takes no flags (per-CPU values hold no spin lock)`);
  }

  /** @internal */
  protected checkTarget(target: unknown): void {
    if (!(target instanceof PerCpuValues)) typeMismatch("lookup", "the target", "a PerCpuValues (make one with map.newValues())", target);
    this.checkShape(target, "lookup");
  }

  /** @internal */
  protected copyValue(from: PerCpuValues, to: PerCpuValues): void {
    to.copyFrom(from);
  }

  /** @internal */
  protected cloneValue(value: PerCpuValues): PerCpuValues {
    return value.clone();
  }
}

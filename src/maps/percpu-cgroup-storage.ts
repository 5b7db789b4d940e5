/** `PerCpuCgroupStorageMap`: BPF_MAP_TYPE_PERCPU_CGROUP_STORAGE, one value per cgroup per CPU. */
import { libbpf } from "../ffi/index.ts";
import { BpfRuleError, ENOENT, typeMismatch } from "../errors.ts";
import { ElemFlags, MapType, cpuOfFlags, lowFlags, type CpuFlags } from "../constants.ts";
import { possibleCpus } from "../cpus.ts";
import { perCpuElemFlags } from "../features.ts";
import { aggregateDecoded, decode, type DecodeOptions } from "../btf/decode.ts";
import type { Layout } from "../btf/layout.ts";
import type { AggregateRules, DecodedStruct, Int64AsNumber, Schema, SchemaValue } from "../btf/schema.ts";
import { StorageMap, checkFlagsType, type LookupFlags, type ValueTarget } from "./storage-map.ts";
import { CPU_BITS, OneCpuValue, checkPerCpuLookupFlags, checkPerCpuUpdateFlags, hasCpuBits } from "./percpu-flags.ts";
import { MapHandle } from "./handle.ts";
import { asBytes, PerCpuValues } from "./percpu-values.ts";
import { notAHandle, openAs, wrongType, type MapSource, type OpenMapOptions } from "./source.ts";
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
  private readonly rawLookup = libbpf.mapLookupElem;
  private readonly rawLookupFlags = libbpf.mapLookupElemFlags;
  /** `cpu(n)` lookups land here: one value (kernel ≥ 7.0), or every CPU's (the fallback). Made on first use. */
  private one: OneCpuValue | undefined;
  private all: ValueTarget<PerCpuValues> | undefined;

  /** @internal use `PerCpuCgroupStorageMap.open`, `openMap`, `createMap` or `BpfObject.map` */
  constructor(fd: number, info: MapInfo) {
    const cpus = possibleCpus();
    super(fd, info, valuesTarget(info.valueSize, cpus));
    this.cpus = cpus;
    this.staging = valuesTarget(info.valueSize, cpus);
  }

  /**
   * Opens a per-CPU cgroup storage map (a pin path, `{ id }` or `{ fd }`, which is duplicated).
   * Any other map type is refused with a `BpfRuleError` naming the type found. `{ access:
   * "read" }` opens it read-only (see `OpenMapOptions`).
   */
  static open<T = DecodedStruct>(source: MapSource, options?: OpenMapOptions): PerCpuCgroupStorageMap<T> {
    return openAs(source, MapType.PERCPU_CGROUP_STORAGE, "PerCpuCgroupStorageMap",
      (fd, info) => new PerCpuCgroupStorageMap<T>(fd, info), options);
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

  /**
   * How `ElemFlags.cpu(n)` and `ElemFlags.ALL_CPUS` are carried out here: `"kernel"` passes
   * `BPF_F_CPU`/`BPF_F_ALL_CPUS` (kernel ≥ 7.0, probed once per process), `"emulated"` goes
   * through the full per-CPU buffer with the same results.
   */
  get cpuFlags(): "kernel" | "emulated" {
    return perCpuElemFlags(this.fd).supported ? "kernel" : "emulated";
  }

  /**
   * Every CPU's value of `key` (see `StorageMap.lookup`), or with `ElemFlags.cpu(n)` CPU n's
   * value alone: a `Uint8Array` of `valueSize` bytes that belongs to the map and is overwritten
   * by the next such lookup. On kernel ≥ 7.0 the kernel copies just that value (`BPF_F_CPU`);
   * before, the whole per-CPU value is read and the view is CPU n's slot of it. Null when the
   * entry does not exist. Allocates nothing (after the first call).
   */
  override lookup(key: MapKey, flags: CpuFlags): Uint8Array | null;
  override lookup(key: MapKey, flags?: LookupFlags): PerCpuValues | null;
  override lookup(key: MapKey, flags: LookupFlags | CpuFlags = 0): PerCpuValues | Uint8Array | null {
    if (flags === 0) return super.lookup(key);
    checkPerCpuLookupFlags(flags, this.cpus);
    const kp = this.keyPointer("lookup", key);
    let rc: number, result: Uint8Array;
    if (perCpuElemFlags(this.fd).supported) {
      const one = (this.one ??= new OneCpuValue(this.valueSize));
      rc = this.rawLookupFlags(this.fd, kp, one.pointer, flags);
      result = one.view;
    } else {
      const all = (this.all ??= valuesTarget(this.valueSize, this.cpus));
      rc = this.rawLookup(this.fd, kp, all.pointer);
      result = all.value.cpu(cpuOfFlags(flags));
    }
    if (rc === 0) return result;
    if (rc === -ENOENT) return null;
    throw this.elementError("lookup", rc, key, flags);
  }

  /** See `StorageMap.lookupInto`: every CPU's value into `target`; a per-CPU map takes no flags here. */
  override lookupInto(key: MapKey, target: PerCpuValues, flags: LookupFlags = 0): boolean {
    if (flags !== 0) this.checkLookupFlags(flags);
    return super.lookupInto(key, target, flags);
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
   *
   * With `ElemFlags.ALL_CPUS` (+ `EXIST` if wanted), `values` is one value (`valueSize` bytes)
   * written to every CPU; with `ElemFlags.cpu(n)`, one value written to CPU n alone. Kernel ≥ 7.0
   * does either in one call (`BPF_F_ALL_CPUS`/`BPF_F_CPU`). Before 7.0 `ALL_CPUS` fills the full
   * buffer (also one call), and `cpu(n)` reads the entry, changes CPU n's slot and writes all
   * slots back: **not atomic** against other writers (a program's increments on other CPUs
   * between the read and the write are lost). `map.cpuFlags` says which path this process takes.
   */
  update(key: MapKey, values: PerCpuValues | ArrayBufferView, flags: number = ElemFlags.ANY): void {
    this.checkWritable("update");
    checkPerCpuUpdateFlags(flags, this.cpus);
    if (hasCpuBits(flags)) return this.updateOne(key, values, flags);
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

  /**
   * Writes the same `value` (`valueSize` bytes) to every CPU's slot of an existing entry: the
   * same as `update(key, value, flags | ElemFlags.ALL_CPUS)`. `flags`: `ANY` (default) or `EXIST`.
   */
  updateAll(key: MapKey, value: ArrayBufferView, flags: number = ElemFlags.ANY): void {
    this.checkWritable("update");
    checkPerCpuUpdateFlags(flags, this.cpus);
    if (hasCpuBits(flags)) throw new BpfRuleError("update", "updateAll writes every CPU: it takes ElemFlags.ANY or EXIST, not cpu(n) or ALL_CPUS");
    this.updateOne(key, value, flags + ElemFlags.ALL_CPUS);
  }

  /** `update` of one value with `cpu(n)` or `ALL_CPUS` in `flags` (checked). */
  private updateOne(key: MapKey, value: PerCpuValues | ArrayBufferView, flags: number): void {
    if (value instanceof PerCpuValues) {
      throw new BpfRuleError("update", "with ElemFlags.cpu(n) or ALL_CPUS the value is one CPU's value (valueSize bytes), not a PerCpuValues",
        "pass a Uint8Array of map.valueSize bytes");
    }
    const src = asBytes("update", value, `a Uint8Array (or other ArrayBufferView) of ${this.valueSize} bytes`);
    if (src.byteLength !== this.valueSize) {
      throw new BpfRuleError("update", `value is ${src.byteLength} bytes; with ElemFlags.cpu(n) or ALL_CPUS it is one CPU's value, exactly ${this.valueSize} bytes`);
    }
    const low = lowFlags(flags), plain = low & ~CPU_BITS;
    const kp = this.keyPointer("update", key);
    let rc: number;
    if (perCpuElemFlags(this.fd).supported) {
      const one = (this.one ??= new OneCpuValue(this.valueSize));
      one.view.set(src);
      rc = this.updateElem(this.fd, kp, one.pointer, flags);
    } else if ((low & ElemFlags.ALL_CPUS) !== 0) {
      this.staging.value.fill(src);
      rc = this.updateElem(this.fd, kp, this.staging.pointer, plain);
    } else {
      // Read-modify-write of the whole per-CPU value (see update's note: not atomic).
      rc = this.rawLookup(this.fd, kp, this.staging.pointer);
      if (rc === 0) {
        this.staging.value.cpu(cpuOfFlags(flags)).set(src);
        rc = this.updateElem(this.fd, kp, this.staging.pointer, plain);
      }
    }
    if (rc !== 0) throw this.updateError(rc, key, flags);
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
    throw new BpfRuleError("lookup",
      `flags ${flags}: a per-CPU map's scans and lookupInto take no flags (per-CPU values hold no spin lock; ElemFlags.cpu(n) is for lookup and update)`);
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

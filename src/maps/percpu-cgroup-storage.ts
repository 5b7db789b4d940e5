/** `PerCpuCgroupStorageMap`: BPF_MAP_TYPE_PERCPU_CGROUP_STORAGE, one value per cgroup per CPU. */
import { libbpf, type NativePointer } from "../ffi/index.ts";
import { BpfRuleError } from "../errors.ts";
import { ElemFlags } from "../constants.ts";
import { possibleCpus } from "../cpus.ts";
import { ENOENT, StorageMap } from "./storage-map.ts";
import { asBytes, PerCpuValues } from "./percpu-values.ts";
import type { KeyInput } from "./key.ts";
import type { MapInfo } from "./info.ts";
import { decode, sumDecoded, type Decoded, type DecodeOptions } from "../btf/decode.ts";

/** A per-CPU value decoded: field sums over CPUs, and each CPU's own value. */
export interface DecodedPerCpu {
  total: Decoded;
  cpus: Decoded[];
}

const lookupElem = (fd: number, key: NativePointer, value: NativePointer) => libbpf.mapLookupElem(fd, key, value);
const updateElem = (fd: number, key: NativePointer, value: NativePointer, flags: number) => libbpf.mapUpdateElem(fd, key, value, flags);

function checkFlags(flags: number): void {
  if (flags === ElemFlags.ANY || flags === ElemFlags.EXIST) return;
  throw new BpfRuleError(
    "update",
    flags === ElemFlags.NOEXIST
      ? "BPF_NOEXIST cannot succeed on cgroup storage: entries are created only when a " +
          "program using the map is attached to the cgroup; use BPF_ANY or BPF_EXIST"
      : `flags ${flags}: per-CPU cgroup storage accepts only BPF_ANY and BPF_EXIST (no BPF_F_LOCK)`,
  );
}

/**
 * A per-CPU cgroup storage map: each CPU has its own copy of the value, so programs count
 * without locks and readers sum the slots. Lookups land in one `PerCpuValues` sized
 * `round_up(valueSize, 8) × possible CPUs`, exactly what the kernel writes.
 */
export class PerCpuCgroupStorageMap extends StorageMap<PerCpuValues> {
  /** Possible CPUs: slots per value. */
  readonly cpus: number;
  private readonly values: PerCpuValues;
  private readonly valuesPointer: NativePointer;
  private readonly staging: PerCpuValues;
  private readonly stagingPointer: NativePointer;

  /** @internal use `openMap`, `createMap` or `BpfObject.map` */
  constructor(fd: number, info: MapInfo) {
    super(fd, info);
    this.cpus = possibleCpus();
    this.values = new PerCpuValues(this.valueSize, this.cpus);
    this.valuesPointer = libbpf.pointer(this.values.bytes);
    this.staging = new PerCpuValues(this.valueSize, this.cpus);
    this.stagingPointer = libbpf.pointer(this.staging.bytes);
  }

  /** Always true. */
  get perCpu(): true {
    return true;
  }

  /**
   * Every CPU's value for `cgroupId` (and `attachType`, required for 16-byte keys, forbidden for
   * 8-byte ones), or null if the map has no such entry. Returns **the same `PerCpuValues` on
   * every call**, overwritten by the next lookup: no allocation, no copy beyond the kernel's.
   * Use `values.clone()` or `lookupInto` to keep a result.
   */
  lookup(cgroupId: number | bigint, attachType?: number): PerCpuValues | null {
    this.key.set("lookup", cgroupId, attachType);
    const rc = lookupElem(this.fd, this.key.pointer, this.valuesPointer);
    if (rc === 0) return this.values;
    if (rc === -ENOENT) return null;
    throw this.elemError("lookup", rc);
  }

  /** Looks up into `target` (same shape) for keeping. False, `target` untouched, if absent. */
  lookupInto(target: PerCpuValues, cgroupId: number | bigint, attachType?: number): boolean {
    this.checkShape(target, "lookup");
    const v = this.lookup(cgroupId, attachType);
    if (v === null) return false;
    target.copyFrom(v);
    return true;
  }

  /** An empty `PerCpuValues` shaped for this map, e.g. to fill and pass to `update`. */
  newValues(): PerCpuValues {
    return new PerCpuValues(this.valueSize, this.cpus);
  }

  /**
   * Replaces every CPU's value of an existing entry. `values` is a `PerCpuValues` of this map's
   * shape, or raw bytes of exactly `round_up(valueSize, 8) × cpus`. Entries are never created
   * from user space. `flags`: BPF_ANY (default) or BPF_EXIST. Per-CPU writes are not atomic
   * across CPUs and race with running programs.
   */
  update(key: KeyInput, values: PerCpuValues | ArrayBufferView, flags: number = ElemFlags.ANY): void {
    checkFlags(flags);
    if (values instanceof PerCpuValues) {
      this.checkShape(values, "update");
      this.staging.copyFrom(values);
    } else {
      const src = asBytes(values);
      const want = this.staging.bytes.byteLength;
      if (src.byteLength !== want) {
        throw new BpfRuleError(
          "update",
          `per-CPU value buffer is ${src.byteLength} bytes; this map needs exactly ${want} ` +
            `(round_up(valueSize ${this.valueSize}, 8) = ${this.staging.stride} × ${this.cpus} possible CPUs). ` +
            "Use map.newValues() or updateAll() for one value on every CPU",
        );
      }
      this.staging.bytes.set(src);
    }
    this.write(key, flags);
  }

  /** Writes the same `value` (`valueSize` bytes) to every CPU's slot of an existing entry. */
  updateAll(key: KeyInput, value: ArrayBufferView, flags: number = ElemFlags.ANY): void {
    if (asBytes(value).byteLength !== this.valueSize) {
      throw new BpfRuleError(
        "update",
        `value is ${value.byteLength} bytes; this map's per-CPU values are exactly ${this.valueSize} bytes`,
      );
    }
    checkFlags(flags);
    this.staging.fill(value);
    this.write(key, flags);
  }

  private write(key: KeyInput, flags: number): void {
    this.key.setInput("update", key);
    const rc = updateElem(this.fd, this.key.pointer, this.stagingPointer, flags);
    if (rc !== 0) throw this.elemError("update", rc);
  }

  private checkShape(v: PerCpuValues, op: "lookup" | "update"): void {
    if (v.cpus !== this.cpus || v.valueSize !== this.valueSize) {
      throw new BpfRuleError(
        op,
        `PerCpuValues has ${v.cpus} CPUs × ${v.valueSize} B; this map needs ${this.cpus} × ${this.valueSize} B (use map.newValues())`,
      );
    }
  }

  /**
   * A per-CPU value decoded by the map's layout: `total` sums every numeric field over CPUs,
   * `cpus[i]` is CPU i's value. Allocates: for reading, not for the hot path (there, use
   * `values.sum(map.layout.offset("field"))`).
   */
  decode(values: PerCpuValues, options?: DecodeOptions): DecodedPerCpu {
    const layout = this.requireLayout();
    const cpus = Array.from({ length: values.cpus }, (_, i) => decode(layout, values.cpu(i), options));
    return { total: sumDecoded(cpus), cpus };
  }

  /** @internal */
  newValueTarget(): { value: PerCpuValues; pointer: NativePointer } {
    const value = this.newValues();
    return { value, pointer: libbpf.pointer(value.bytes) };
  }

  /** @internal */
  protected copyValue(value: PerCpuValues): PerCpuValues {
    return value.clone();
  }
}

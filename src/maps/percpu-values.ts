/** `PerCpuValues`: one per-CPU map value, every possible CPU's slot in one SharedArrayBuffer. */
import { U32 } from "./key.ts";
import { BpfRuleError, typeMismatch } from "../errors.ts";
import { wasmBlock, type WasmSum, type WasmSumFields } from "./wasm-sum.ts";

/**
 * Sum over `cpus` slots (`step` u32 words apart) of the u64 whose low half is word `w`. Halves
 * are summed apart (exact, no BigInt), two CPUs per step into independent accumulators: float
 * adds have a 3–4 cycle latency, and one dependency chain was 20% slower at 256 CPUs.
 */
export function sumU64Words(words: Uint32Array, w: number, step: number, cpus: number): number {
  const step2 = step * 2;
  let lo0 = 0, hi0 = 0, lo1 = 0, hi1 = 0, c = 0;
  for (; c + 1 < cpus; c += 2, w += step2) {
    lo0 += words[w]!;
    hi0 += words[w + 1]!;
    lo1 += words[w + step]!;
    hi1 += words[w + step + 1]!;
  }
  if (c < cpus) {
    lo0 += words[w]!;
    hi0 += words[w + 1]!;
  }
  return lo0 + lo1 + (hi0 + hi1) * U32;
}

/** round_up(valueSize, 8): the kernel's per-CPU slot stride. */
export function perCpuStride(valueSize: number): number {
  return (valueSize + 7) & ~7;
}

/**
 * A per-CPU value as the kernel lays it out: `cpus` slots of `stride` (= round_up(valueSize, 8))
 * bytes, slot i for the i-th possible CPU. Backed by a `SharedArrayBuffer`, so Workers can read
 * it without a copy. Readers never allocate: `u64()` and field accessors read u64s as two u32
 * halves. The values a map's `lookup()` and scans return live in shared WebAssembly memory
 * (`buffer` is then that memory, the values at `byteOffset`), where sums over CPUs run as
 * WebAssembly i64 adds; values made with `new PerCpuValues` or `clone()` own an exact-size buffer.
 */
export class PerCpuValues {
  /** Size of one CPU's value (the map's `value_size`). */
  readonly valueSize: number;
  /** Possible CPUs: the number of slots. */
  readonly cpus: number;
  /** Bytes per CPU slot. */
  readonly stride: number;
  /**
   * The buffer holding the values: `stride × cpus` bytes from `byteOffset`, exactly what the
   * kernel reads and writes (`bytes` is that window). For `new PerCpuValues` and `clone()`
   * it is exactly that size; for lookup results it is a shared WebAssembly memory.
   */
  readonly buffer: SharedArrayBuffer;
  /** Where the values start in `buffer` (0 unless they live in WebAssembly memory). */
  readonly byteOffset: number;
  /** All slots as bytes. */
  readonly bytes: Uint8Array;
  /** The buffer as u32 words (u64s are read as two halves: no BigInt). @internal */
  readonly words: Uint32Array;
  /** The buffer for reads of other widths. @internal */
  readonly view: DataView;
  private readonly slots: Uint8Array[];
  /** The WebAssembly sum over this memory, or null (plain buffer: the JavaScript sum). */
  private readonly wsum: WasmSum | null;
  private readonly wsumFields: WasmSumFields | null;
  /** Whole u64s in one CPU's value: `sumU64Fields` from offset 0 may ask for this many unchecked. */
  private readonly u64Fields: number;
  /**
   * What `sumU64Fields()` returns: every whole u64 field's sum. In WebAssembly memory, where
   * WebAssembly writes its sums (just after the values); for plain buffers, made on first use.
   */
  private sums: Float64Array | null;
  /** Where `sums` starts in WebAssembly memory (read once: a view's byteOffset is a getter). */
  private readonly sumsAt: number;

  /**
   * Values in shared WebAssembly memory (summed by WebAssembly), or in a plain buffer where
   * that is unavailable. What maps use for the values their lookups and scans return. @internal
   */
  static inWasmMemory(valueSize: number, cpus: number): PerCpuValues {
    return new PerCpuValues(valueSize, cpus, true);
  }

  /** `wasm` is internal: use `PerCpuValues.inWasmMemory`. */
  constructor(valueSize: number, cpus: number, wasm = false) {
    if (!Number.isInteger(valueSize) || valueSize < 1 || !Number.isInteger(cpus) || cpus < 1) {
      throw new BpfRuleError("lookup", `PerCpuValues needs a value size ≥ 1 and a CPU count ≥ 1 (got ${valueSize} × ${cpus})`,
        "make one with map.newValues()");
    }
    this.valueSize = valueSize;
    this.cpus = cpus;
    this.stride = perCpuStride(valueSize);
    this.u64Fields = valueSize >> 3;
    const size = this.stride * cpus;
    const block = wasm ? wasmBlock(this, size + this.stride) : null;
    this.buffer = block?.buffer ?? new SharedArrayBuffer(size);
    this.byteOffset = block?.byteOffset ?? 0;
    this.wsum = block?.sum ?? null;
    this.wsumFields = block?.sumFields ?? null;
    this.sums = block ? new Float64Array(this.buffer, this.byteOffset + size, this.u64Fields) : null;
    this.sumsAt = this.byteOffset + size;
    this.bytes = new Uint8Array(this.buffer, this.byteOffset, size);
    this.words = new Uint32Array(this.buffer, this.byteOffset, size >> 2);
    this.view = new DataView(this.buffer, this.byteOffset, size);
    this.slots = Array.from(
      { length: cpus },
      (_, i) => new Uint8Array(this.buffer, this.byteOffset + i * this.stride, valueSize),
    );
  }

  /** True when sums run as WebAssembly over shared WebAssembly memory. */
  get wasm(): boolean {
    return this.wsum !== null;
  }

  /** CPU `i`'s value, `valueSize` bytes; the same view object on every call. */
  cpu(i: number): Uint8Array {
    const slot = this.slots[i];
    if (slot === undefined) throw new BpfRuleError("lookup", `cpu ${i} is not in 0..${this.cpus - 1} (the possible CPUs)`);
    return slot;
  }

  /**
   * The u64 at byte `offset` (a multiple of 8) of CPU `cpu`'s value, as a number (exact below
   * 2^53). For named fields of any width, use an accessor: `map.field("bytes").get(values, cpu)`.
   */
  u64(cpu: number, offset: number): number {
    this.checkCpu(cpu);
    const w = (cpu * this.stride + this.checkOffset(offset)) >> 2;
    return this.words[w]! + this.words[w + 1]! * U32;
  }

  /** The u64 at `offset` of CPU `cpu`'s value, exact. Allocates a BigInt. */
  u64BigInt(cpu: number, offset: number): bigint {
    this.checkCpu(cpu);
    const w = (cpu * this.stride + this.checkOffset(offset)) >> 2;
    return BigInt(this.words[w]!) | (BigInt(this.words[w + 1]!) << 32n);
  }

  /**
   * Sum over every CPU of the u64 at byte `offset` (a multiple of 8), as a number: exact while
   * the total stays below 2^53. Allocates nothing. The offset must hold a u64: for named fields
   * of any width, and their aggregation rules, use `map.field(path)`.
   */
  sumU64(offset: number): number {
    return this.sumAt(this.checkOffset(offset) >> 2);
  }

  /** Sum over CPUs of the u64 at u32 word `w` of each slot; no checks. @internal */
  sumAt(w: number): number {
    const wsum = this.wsum;
    // Even at 2 CPUs the call into WebAssembly beats the JavaScript sum of u32 halves: 12 vs 18 ns
    // (Bun), 11 vs 14 (Deno) for two fields of values that change from call to call. (A loop
    // over one constant value measured the opposite: the engines folded the typed array away.)
    return wsum !== null
      ? wsum(this.byteOffset + (w << 2), this.stride, this.cpus)
      : sumU64Words(this.words, w, this.stride >> 2, this.cpus);
  }

  /**
   * Sums consecutive u64 fields starting at byte `offset` (a multiple of 8) over every CPU, exact
   * while each total stays below 2^53, allocating nothing. With `out`: its `out.length` fields,
   * field i into `out[i]`. Without: every whole u64 field of the value (`valueSize >> 3`) into an
   * array this value owns, overwritten by the next call (copy it to keep it), as a lookup's value
   * belongs to its map; for values in WebAssembly memory the sums land there, without a copy (at
   * a few CPUs the copy costs as much as the sum).
   */
  sumU64Fields(out?: Float64Array, offset = 0): Float64Array {
    if (out === undefined) {
      const wsumFields = this.wsumFields;
      if (wsumFields === null) return this.sumAllFields();
      wsumFields(this.byteOffset, this.stride, this.cpus, this.u64Fields, this.sumsAt);
      return this.sums!;
    }
    const n = out.length;
    if (n === 0) return out;
    // The common call (every field from the start) is valid by construction: skip the checks,
    // which cost as much as the sum itself at a few CPUs.
    if (offset !== 0 || n > this.u64Fields) {
      this.checkOffset(offset);
      this.checkOffset(offset + (n - 1) * 8);
    }
    const wsumFields = this.wsumFields;
    if (wsumFields !== null) {
      // One call for the n fields (a checked offset keeps n within the value), their sums landing
      // where sumU64Fields() keeps its own, then n copies.
      const sums = this.sums!;
      wsumFields(this.byteOffset + offset, this.stride, this.cpus, n, this.sumsAt);
      for (let f = 0; f < n; f++) out[f] = sums[f]!;
    } else for (let f = 0; f < n; f++) out[f] = this.sumAt((offset >> 2) + 2 * f);
    return out;
  }

  /** `sumU64Fields()` of a value in a plain buffer: every whole u64 field, into its own sums. */
  private sumAllFields(): Float64Array {
    const sums = this.sums ??= new Float64Array(this.u64Fields);
    for (let f = 0; f < this.u64Fields; f++) sums[f] = this.sumAt(2 * f);
    return sums;
  }

  /** Exact sum over every CPU of the u64 at `offset`. Allocates BigInts. */
  sumU64BigInt(offset: number): bigint {
    let total = 0n;
    for (let c = 0; c < this.cpus; c++) total += this.u64BigInt(c, offset);
    return total;
  }

  /** Writes `value` (`valueSize` bytes) into every CPU's slot. */
  fill(value: ArrayBufferView): this {
    const src = asBytes("update", value, `a Uint8Array (or other ArrayBufferView) of ${this.valueSize} bytes`);
    if (src.byteLength !== this.valueSize) {
      throw new BpfRuleError("update", `value is ${src.byteLength} bytes; this map's per-CPU values are exactly ${this.valueSize} bytes`);
    }
    this.bytes.fill(0);
    for (const slot of this.slots) slot.set(src);
    return this;
  }

  /** Copies another `PerCpuValues` of the same shape into this one. */
  copyFrom(other: PerCpuValues): this {
    if (!(other instanceof PerCpuValues)) typeMismatch("lookup", "the source", "a PerCpuValues", other);
    if (other.stride !== this.stride || other.cpus !== this.cpus) {
      throw new BpfRuleError("lookup",
        `PerCpuValues shapes differ: ${other.cpus} CPUs × ${other.stride} B into ${this.cpus} CPUs × ${this.stride} B`,
        "make values for a map with map.newValues()");
    }
    this.bytes.set(other.bytes);
    return this;
  }

  /** A new `PerCpuValues` holding a copy of this one (for keeping past the next lookup). */
  clone(): PerCpuValues {
    return new PerCpuValues(this.valueSize, this.cpus).copyFrom(this);
  }

  private checkCpu(cpu: number): void {
    if (!(cpu >= 0 && cpu < this.cpus) || !Number.isInteger(cpu)) {
      throw new BpfRuleError("lookup", `cpu ${cpu} is not in 0..${this.cpus - 1} (the possible CPUs)`);
    }
  }

  /** A u64 is aligned to 8 bytes in C; any other offset reads a different field's bytes. */
  private checkOffset(offset: number): number {
    if (!(offset >= 0 && offset + 8 <= this.valueSize) || (offset & 7) !== 0 || !Number.isInteger(offset)) {
      throw new BpfRuleError("lookup",
        `u64 offset ${offset} must be a multiple of 8 with offset + 8 ≤ valueSize (${this.valueSize})`,
        'take offsets from the layout, or read fields of any width with map.field("name")');
    }
    return offset;
  }
}

/** The bytes of any ArrayBufferView, without copying; a `BpfTypeError` for anything else. */
export function asBytes(op: "lookup" | "update", view: unknown, expected: string): Uint8Array {
  if (view instanceof Uint8Array) return view;
  if (!ArrayBuffer.isView(view)) typeMismatch(op, "the value", expected, view);
  return new Uint8Array(view.buffer, view.byteOffset, view.byteLength);
}

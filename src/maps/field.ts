/**
 * `Field`: an allocation-free accessor for one scalar field of a map value, made once from the
 * map's layout (`map.field("bytes")`) and then used in hot loops. It knows the field's width,
 * sign and per-CPU aggregation rule, so a u32 is never read as a u64 and a gauge is never summed;
 * a field it cannot read correctly (a bitfield, a struct, a misaligned integer) is refused when
 * the accessor is made, not silently misread later.
 */
import { BpfRuleError, typeMismatch } from "../errors.ts";
import type { Layout } from "../btf/layout.ts";
import type { AggregateRule } from "../btf/schema.ts";
import { PerCpuValues } from "./percpu-values.ts";
import { U32 } from "./key.ts";

/** How a field's bytes are read. */
export type Width = "u8" | "i8" | "u16" | "i16" | "u32" | "i32" | "u64" | "i64" | "f32" | "f64";

/** What a field holds: its C type in one word. */
export type FieldKind = Width | "bool";

/** A field accessor as plain data. @internal */
export interface FieldSpec {
  path: string;
  offset: number;
  size: number;
  width: Width;
  bool: boolean;
  rule: AggregateRule;
  /** Size of the whole value the field belongs to. */
  layoutSize: number;
}

/**
 * A buffer of fixed-size values handed out as views made once per slot (a CGRP_STORAGE scan's
 * records): a `Field` that meets one of its views reads it through `words`/`view` after one
 * identity check against the slot after the one it read last (scans go in order), instead of
 * checking the view and fetching its `.buffer` and `.byteOffset` on every read: getter calls
 * that were most of a scan's per-entry cost (V8 does not inline `byteOffset` once any buffer of
 * the process was detached, and Deno detaches some). @internal
 */
export interface ValueSlots {
  /** Bytes of each value (every view is this long). */
  readonly valueSize: number;
  /** The view of slot `i`'s value (made once per slot), at byte `first + i * stride`. */
  readonly views: readonly Uint8Array[];
  readonly first: number;
  readonly stride: number;
  /** The whole buffer, as u32 words and as a DataView. */
  readonly words: Uint32Array;
  readonly view: DataView;
}

const slotsOfBuffer = new WeakMap<ArrayBufferLike, ValueSlots>();

/** Makes `slots` known to every `Field` by its buffer (held weakly). @internal */
export function registerValueSlots(buffer: ArrayBufferLike, slots: ValueSlots): void {
  slotsOfBuffer.set(buffer, slots);
}

/** A scalar field of a map value (see the module comment). */
export class Field {
  /** The field's path in the layout (`"bytes"`, `"inner.count"`, `"hist[3]"`). */
  readonly path: string;
  /** Byte offset from the start of the value. */
  readonly offset: number;
  /** Bytes it occupies: 1, 2, 4 or 8. */
  readonly size: number;
  readonly kind: FieldKind;
  /** How `total()` combines the CPUs of a per-CPU value. */
  readonly rule: AggregateRule;
  private readonly width: Width;
  private readonly layoutSize: number;
  /** Hot-path shortcuts, decided once: a u64 summed (the common counter) reads u32 words. */
  private readonly u64: boolean;
  private readonly word: number;
  private readonly sumRule: boolean;
  private lastBytes: Uint8Array | null = null;
  private lastView: DataView | null = null;
  private lastBuffer: ArrayBufferLike | null = null;
  /** The value slots the last slot view read belonged to (values at least `layoutSize` long). */
  private slots: ValueSlots | null = null;
  /** The slot expected next (the one after the last read). */
  private nextSlot = 0;

  /** @internal use `map.field(path)` (or `Field.of`) */
  constructor(spec: FieldSpec) {
    this.path = spec.path;
    this.offset = spec.offset;
    this.size = spec.size;
    this.width = spec.width;
    this.kind = spec.bool ? "bool" : spec.width;
    this.rule = spec.rule;
    this.layoutSize = spec.layoutSize;
    this.u64 = spec.width === "u64";
    this.word = spec.offset >> 2;
    this.sumRule = spec.rule === "sum";
  }

  /** The accessor for `path` of `layout`, or a `BpfRuleError` saying why it cannot read it correctly. */
  static of(layout: Layout, path: string): Field {
    const ref = layout.field(path);
    const t = ref.type;
    const refuse = (why: string, hint?: string): never => {
      throw new BpfRuleError("lookup", `field "${path}" ${why}`, hint);
    };
    if (ref.bitSize !== undefined) refuse(`is a ${ref.bitSize}-bit bitfield; accessors read whole bytes`, "decode() reads bitfields");
    let width: Width;
    if (t.kind === "int" || t.kind === "enum") {
      if (![1, 2, 4, 8].includes(t.size)) refuse(`is a ${t.size}-byte integer`, "decode() reads it");
      width = `${t.signed ? "i" : "u"}${t.size * 8}` as Width;
    } else if (t.kind === "float" && (t.size === 4 || t.size === 8)) width = t.size === 4 ? "f32" : "f64";
    else {
      const what = t.kind === "array" ? `an array (${t.name})` : t.kind === "struct" || t.kind === "union" ? `a ${t.kind}` : `a ${t.kind} (${t.name})`;
      refuse(`is ${what}, not a scalar`, t.kind === "array" ? `read one element: "${path}[0]"` : t.kind === "struct" || t.kind === "union" ? `name one of its fields: "${path}.<field>"` : undefined);
    }
    if (ref.offset % t.size !== 0) {
      refuse(`is a ${t.size}-byte ${t.kind} at offset ${ref.offset}, not aligned to ${t.size} bytes as C aligns it`,
        "a packed layout needs decode(), which reads any offset");
    }
    return new Field({
      path, offset: ref.offset, size: t.size, width: width!, bool: t.kind === "int" && t.bool,
      rule: layout.ruleOf(path), layoutSize: layout.size,
    });
  }

  /** Everything the accessor needs, as plain data (Workers rebuild it with `new Field(spec)`). */
  get spec(): FieldSpec {
    return { path: this.path, offset: this.offset, size: this.size, width: this.width, bool: this.kind === "bool", rule: this.rule, layoutSize: this.layoutSize };
  }

  /** True for integer fields (bools included), which the Collector and exporters can count. */
  get integer(): boolean {
    return this.width !== "f32" && this.width !== "f64";
  }

  /** True for signed integer fields. */
  get signed(): boolean {
    return this.width[0] === "i";
  }

  /**
   * The field of a shared value (`Uint8Array`), or of CPU `cpu` (default 0) of a per-CPU value,
   * as a number: 64-bit integers are exact below 2^53; bools are 0 or 1. Allocates nothing.
   */
  get(value: Uint8Array | PerCpuValues, cpu = 0): number {
    // A scan's record view first, before any type check: the per-entry path of a CGRP_STORAGE
    // forEach is one identity check against the slot after the last one read. A field never
    // given a slot view (every per-CPU one) pays one null check.
    const slots = this.slots;
    if (slots !== null) {
      const i = this.nextSlot;
      if (i < slots.views.length && slots.views[i] === value) return this.readSlot(slots, i);
    }
    if (value instanceof PerCpuValues) {
      if (!(cpu >= 0 && cpu < value.cpus)) throw new BpfRuleError("lookup", `cpu ${cpu} is not in 0..${value.cpus - 1}`);
      this.checkShape(value);
      return this.read(value.view, cpu * value.stride + this.offset, value.words);
    }
    if (slots !== null && value instanceof Uint8Array) {
      // Out of order: the slot its offset names, if it is that slot's own view.
      const i = ((value.byteOffset - slots.first) / slots.stride) | 0;
      if (slots.views[i] === value) return this.readSlot(slots, i);
    }
    return this.read(this.viewOf(value), value.byteOffset + this.offset, null);
  }

  private readSlot(slots: ValueSlots, i: number): number {
    this.nextSlot = i + 1;
    const at = slots.first + i * slots.stride + this.offset;
    return this.u64 ? slots.words[at >> 2]! + slots.words[(at >> 2) + 1]! * U32 : this.read(slots.view, at, null);
  }

  /** Like `get`, as an exact `bigint` for 64-bit integers (allocates). */
  getBigInt(value: Uint8Array | PerCpuValues, cpu = 0): bigint {
    if (this.width !== "u64" && this.width !== "i64") return BigInt(Math.trunc(this.get(value, cpu)));
    const at = value instanceof PerCpuValues ? (this.get(value, cpu), cpu * value.stride + this.offset) : value.byteOffset + this.offset;
    const view = value instanceof PerCpuValues ? value.view : this.viewOf(value);
    return this.width === "u64" ? view.getBigUint64(at, true) : view.getBigInt64(at, true);
  }

  /** Sum of the field over every CPU of a per-CPU value (exact below 2^53). Allocates nothing. */
  sum(values: PerCpuValues): number {
    // The full check only when the cheap one fails: this runs once per field per lookup.
    const words = values.words;
    if (words === undefined || values.valueSize < this.layoutSize) this.checkShape(values);
    if (this.u64) return values.sumAt(this.word);
    let total = 0;
    for (let c = 0, at = this.offset; c < values.cpus; c++, at += values.stride) total += this.read(values.view, at, values.words);
    return total;
  }

  /**
   * The field's per-CPU values combined by its rule (`rule`: sum, max, min, or, first), the
   * number `decode(v).total` shows for it. Allocates nothing.
   */
  total(values: PerCpuValues): number {
    if (this.sumRule) return this.sum(values);
    const rule = this.rule;
    this.checkShape(values);
    const stride = values.stride, view = values.view, words = values.words;
    let acc = this.read(view, this.offset, words);
    for (let c = 1, at = this.offset + stride; c < values.cpus; c++, at += stride) {
      const v = this.read(view, at, words);
      if (rule === "max") acc = v > acc ? v : acc;
      else if (rule === "min") acc = v < acc ? v : acc;
      else if (rule === "first") {
        if (acc !== 0) return acc;
        acc = v;
      } else acc = orNumbers(acc, v);
    }
    return acc;
  }

  private read(view: DataView, at: number, words: Uint32Array | null): number {
    switch (this.width) {
      case "u64":
        return words !== null ? words[at >> 2]! + words[(at >> 2) + 1]! * U32 : view.getUint32(at, true) + view.getUint32(at + 4, true) * U32;
      case "i64":
        return view.getUint32(at, true) + view.getInt32(at + 4, true) * U32;
      case "u32": return view.getUint32(at, true);
      case "i32": return view.getInt32(at, true);
      case "u16": return view.getUint16(at, true);
      case "i16": return view.getInt16(at, true);
      case "u8": return view.getUint8(at);
      case "i8": return view.getInt8(at);
      case "f32": return view.getFloat32(at, true);
      case "f64": return view.getFloat64(at, true);
    }
  }

  /**
   * A DataView of the whole buffer under a shared value (read at `byteOffset + offset`), made
   * once per distinct buffer: a map's lookup result is one array, and every value a
   * CGRP_STORAGE scan hands out is a view into one records buffer, so neither allocates.
   */
  private viewOf(bytes: Uint8Array): DataView {
    if (bytes === this.lastBytes) return this.lastView!;
    if (!(bytes instanceof Uint8Array)) typeMismatch("lookup", "the value", "a Uint8Array from lookup() or a PerCpuValues", bytes);
    if (bytes.byteLength < this.layoutSize) {
      throw new BpfRuleError("lookup", `value is ${bytes.byteLength} bytes; field "${this.path}" belongs to a ${this.layoutSize}-byte value`);
    }
    this.lastBytes = bytes;
    if (bytes.buffer !== this.lastBuffer) {
      this.lastBuffer = bytes.buffer;
      this.lastView = new DataView(bytes.buffer);
      // A view of registered slots: the next views of the same slots take the fast path in get().
      const slots = slotsOfBuffer.get(bytes.buffer);
      if (slots !== undefined && slots.valueSize >= this.layoutSize) this.slots = slots;
    }
    return this.lastView!;
  }

  private checkShape(values: PerCpuValues): void {
    if (!(values instanceof PerCpuValues)) typeMismatch("lookup", "the values", "a PerCpuValues from a per-CPU map's lookup()", values);
    if (values.valueSize < this.layoutSize) {
      throw new BpfRuleError("lookup", `values are ${values.valueSize} bytes per CPU; field "${this.path}" belongs to a ${this.layoutSize}-byte value`);
    }
  }
}

/** Bitwise OR of two non-negative integers of up to 53 bits (JS's | is 32-bit). */
function orNumbers(a: number, b: number): number {
  const aHi = Math.floor(a / U32), bHi = Math.floor(b / U32);
  return (((a - aHi * U32) | (b - bHi * U32)) >>> 0) + ((aHi | bHi) >>> 0) * U32;
}

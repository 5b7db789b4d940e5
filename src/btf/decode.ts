/**
 * Turns key and value bytes into plain objects by their `Layout`. Not for the hot path: it
 * allocates. Collectors take offsets from the layout once and read with `PerCpuValues.sum`.
 */
import type { Layout, LayoutType } from "./layout.ts";
import type { AggregateRule } from "./schema.ts";
import { BpfRuleError } from "../errors.ts";

/** A decoded value: objects for structs/unions, arrays, strings for char arrays. */
export type Decoded = number | bigint | boolean | string | null | Decoded[] | { [field: string]: Decoded };

export interface DecodeOptions {
  /**
   * 64-bit integers as `bigint` (exact; the default) or `number` (exact below 2^53, which
   * counters practically always are).
   */
  int64?: "bigint" | "number";
}

function readInt(v: DataView, off: number, size: number, signed: boolean): number | bigint {
  switch (size) {
    case 1: return signed ? v.getInt8(off) : v.getUint8(off);
    case 2: return signed ? v.getInt16(off, true) : v.getUint16(off, true);
    case 4: return signed ? v.getInt32(off, true) : v.getUint32(off, true);
    case 8: return signed ? v.getBigInt64(off, true) : v.getBigUint64(off, true);
    default: {
      let n = 0n;
      for (let i = size - 1; i >= 0; i--) n = (n << 8n) | BigInt(v.getUint8(off + i));
      return signed ? BigInt.asIntN(size * 8, n) : n;
    }
  }
}

function readBits(v: DataView, base: number, bitOffset: number, bitSize: number, signed: boolean): number | bigint {
  const first = base + Math.floor(bitOffset / 8), shift = bitOffset % 8;
  const bytes = Math.ceil((shift + bitSize) / 8);
  let n = 0n;
  for (let i = bytes - 1; i >= 0; i--) n = (n << 8n) | BigInt(v.getUint8(first + i));
  n = (n >> BigInt(shift)) & ((1n << BigInt(bitSize)) - 1n);
  if (signed) n = BigInt.asIntN(bitSize, n);
  return bitSize <= 32 ? Number(n) : n;
}

function int64(n: number | bigint, opts: DecodeOptions): number | bigint {
  return typeof n === "bigint" && opts.int64 === "number" ? Number(n) : n;
}

function decodeType(t: LayoutType, v: DataView, off: number, opts: DecodeOptions): Decoded {
  switch (t.kind) {
    case "int": {
      const n = readInt(v, off, t.size, t.signed);
      return t.bool ? n !== 0 && n !== 0n : int64(n, opts);
    }
    case "float":
      return t.size === 4 ? v.getFloat32(off, true) : t.size === 8 ? v.getFloat64(off, true) : null;
    case "enum": {
      const n = readInt(v, off, t.size, t.signed);
      return t.names.get(BigInt(n)) ?? int64(n, opts);
    }
    case "pointer":
      return int64(v.getBigUint64(off, true), opts);
    case "array": {
      const e = t.element;
      if (e.kind === "int" && e.char && e.size === 1) {
        const bytes = new Uint8Array(v.buffer, v.byteOffset + off, t.length);
        const nul = bytes.indexOf(0);
        return new TextDecoder().decode(bytes.subarray(0, nul < 0 ? t.length : nul));
      }
      return Array.from({ length: t.length }, (_, i) => decodeType(e, v, off + i * e.size, opts));
    }
    case "struct":
    case "union": {
      const out: { [field: string]: Decoded } = {};
      for (const f of t.fields) {
        if (f.type.kind === "spin_lock") continue;
        const value = f.bitSize !== undefined
          ? readBits(v, off, f.bitOffset!, f.bitSize, f.type.kind !== "pointer" && "signed" in f.type && f.type.signed)
          : decodeType(f.type, v, off + f.offset, opts);
        // Anonymous struct/union members: their fields belong to the parent, as in C.
        if (f.name === "" && value !== null && typeof value === "object" && !Array.isArray(value)) Object.assign(out, value);
        else out[f.name] = value;
      }
      return out;
    }
    case "spin_lock":
      return null;
    case "opaque":
      return Array.from(new Uint8Array(v.buffer, v.byteOffset + off, t.size));
  }
}

/** Decodes `bytes` (at least `layout.size` long) into a plain object. */
export function decode(layout: Layout, bytes: Uint8Array, opts: DecodeOptions = {}): Decoded {
  if (bytes.byteLength < layout.size) {
    throw new BpfRuleError("info", `${bytes.byteLength} bytes is shorter than the ${layout.size}-byte ${layout.type.name || "value"}`);
  }
  return decodeType(layout.type, new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength), 0, opts);
}

const isZero = (v: Decoded) => v === 0 || v === 0n || v === "" || v === false || v === null;

/** Combines one field's per-CPU values by `rule`. */
function applyRule(rule: AggregateRule, values: Decoded[]): Decoded {
  const first = values[0];
  if (first === undefined) return null;
  if (rule === "first" || typeof first === "string" || first === null) return values.find((v) => !isZero(v)) ?? first;
  if (typeof first === "boolean") return rule === "min" ? values.every((v) => v === true) : values.some((v) => v === true);
  let acc = first as number | bigint;
  for (let i = 1; i < values.length; i++) {
    const v = values[i] as number | bigint;
    if (rule === "sum") acc = typeof acc === "bigint" ? acc + BigInt(v) : acc + Number(v);
    else if (rule === "max") acc = v > acc ? v : acc;
    else if (rule === "min") acc = v < acc ? v : acc;
    // JS's | is 32-bit signed: OR through BigInt so u32 and wider values stay exact.
    else acc = typeof acc === "bigint" ? acc | BigInt(v) : Number(BigInt(acc) | BigInt(v));
  }
  return acc;
}

function combine(layout: Layout, t: LayoutType, path: string, values: Decoded[]): Decoded {
  if (t.kind === "struct" || t.kind === "union") {
    const out: { [field: string]: Decoded } = {};
    for (const f of t.fields) {
      if (f.type.kind === "spin_lock") continue;
      if (f.name === "" && (f.type.kind === "struct" || f.type.kind === "union")) {
        // Anonymous members' fields were decoded into the parent: combine them there.
        Object.assign(out, combine(layout, f.type, path, values));
        continue;
      }
      const p = path ? `${path}.${f.name}` : f.name;
      const type = f.bitSize !== undefined ? { kind: "int" as const, name: "bitfield", size: 8, signed: false, bool: false, char: false } : f.type;
      out[f.name] = combine(layout, type, p, values.map((v) => (v as { [k: string]: Decoded } | null)?.[f.name] ?? null));
    }
    return out;
  }
  if (t.kind === "array" && Array.isArray(values[0])) {
    const rule = layout.ruleOf(path); // one rule for every element
    return (values[0] as Decoded[]).map((_, i) => applyRule(rule, values.map((v) => (v as Decoded[])[i] ?? null)));
  }
  return applyRule(layout.ruleOf(path), values);
}

/**
 * Combines per-CPU decoded values (one per CPU, as `decode` made them with `layout`) into one
 * total, field by field, by each field's aggregation rule (`layout.ruleOf`): integers are
 * summed unless declared otherwise, bools OR-ed, enums, chars and strings take the first CPU
 * whose value is not zero.
 */
export function aggregateDecoded(layout: Layout, cpus: Decoded[]): Decoded {
  if (cpus.length === 0) return null;
  return combine(layout, layout.type, "", cpus);
}

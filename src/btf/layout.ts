/**
 * `Layout`: what a map's key or value looks like, as fields with byte offsets. Built from the
 * map's BTF, or declared by hand with a small schema (`{ packets: "u64", bytes: "u64" }`)
 * using C's alignment rules; one decoder (decode.ts) serves both.
 */
import { Btf, BtfKind, BtfFormatError, type BtfType } from "./btf.ts";
import { BpfRuleError, BpfTypeError } from "../errors.ts";
import { AGGREGATE_RULES, type AggregateRule, type Schema } from "./schema.ts";

export type { Schema, SchemaScalar } from "./schema.ts";

export type LayoutType =
  | { kind: "int"; name: string; size: number; signed: boolean; bool: boolean; char: boolean }
  | { kind: "float"; name: string; size: number }
  | { kind: "enum"; name: string; size: number; signed: boolean; names: Map<bigint, string> }
  | { kind: "pointer"; name: string; size: number }
  | { kind: "array"; name: string; size: number; length: number; element: LayoutType }
  | { kind: "struct" | "union"; name: string; size: number; fields: LayoutField[] }
  /** `struct bpf_spin_lock`: the kernel owns it (reads back as 0); decoders skip it. */
  | { kind: "spin_lock"; name: string; size: number }
  /** Anything else (e.g. a forward declaration): kept as bytes. */
  | { kind: "opaque"; name: string; size: number };

export interface LayoutField {
  name: string;
  /** Byte offset of the field (of the storage unit holding it, for bitfields). */
  offset: number;
  type: LayoutType;
  /** Bitfields only: bit offset from the start of the containing struct, and width. */
  bitOffset?: number;
  bitSize?: number;
}

/** A resolved field: where it is and what it is. */
export interface FieldRef {
  path: string;
  offset: number;
  type: LayoutType;
  bitOffset?: number;
  bitSize?: number;
}

const INT_SIGNED = 1, INT_CHAR = 2, INT_BOOL = 4;

function fromBtfType(btf: Btf, id: number, depth: number): LayoutType {
  if (depth > 32) throw new BtfFormatError("type nesting deeper than 32");
  if (id === 0) return { kind: "opaque", name: "void", size: 0 };
  const t: BtfType = btf.resolve(id);
  switch (t.kind) {
    case BtfKind.INT: {
      const e = t.int!.encoding;
      return { kind: "int", name: t.name, size: t.sizeOrType, signed: (e & INT_SIGNED) !== 0,
        bool: (e & INT_BOOL) !== 0, char: (e & INT_CHAR) !== 0 || (t.sizeOrType === 1 && t.name === "char") };
    }
    case BtfKind.FLOAT:
      return { kind: "float", name: t.name, size: t.sizeOrType };
    case BtfKind.ENUM:
    case BtfKind.ENUM64:
      return { kind: "enum", name: t.name, size: t.sizeOrType, signed: t.kindFlag,
        names: new Map(t.enumValues!.map((v) => [v.value, v.name])) };
    case BtfKind.PTR:
      return { kind: "pointer", name: "ptr", size: 8 };
    case BtfKind.ARRAY: {
      const element = fromBtfType(btf, t.array!.type, depth + 1);
      return { kind: "array", name: `${element.name}[${t.array!.length}]`, size: element.size * t.array!.length,
        length: t.array!.length, element };
    }
    case BtfKind.STRUCT:
    case BtfKind.UNION: {
      if (t.name === "bpf_spin_lock") return { kind: "spin_lock", name: t.name, size: t.sizeOrType };
      const fields = t.members!.map((m): LayoutField => {
        const type = fromBtfType(btf, m.type, depth + 1);
        // Old-style BTF (no kind_flag) puts a bitfield's width and extra offset in the INT type.
        const int = t.kindFlag ? undefined : btf.resolve(m.type).int;
        const oldStyle = int !== undefined && (int.offset !== 0 || int.bits !== btf.resolve(m.type).sizeOrType * 8);
        if (m.bitSize > 0 || m.bitOffset % 8 !== 0 || oldStyle) {
          // A bitfield: record the bit position; offset is the byte where its unit starts.
          const bitOffset = m.bitOffset + (oldStyle ? int!.offset : 0);
          const bits = m.bitSize > 0 ? m.bitSize : oldStyle ? int!.bits : type.kind === "int" ? type.size * 8 : 0;
          return { name: m.name, offset: Math.floor(bitOffset / 8), type, bitOffset, bitSize: bits };
        }
        return { name: m.name, offset: m.bitOffset / 8, type };
      });
      return { kind: t.kind === BtfKind.STRUCT ? "struct" : "union", name: t.name, size: t.sizeOrType, fields };
    }
    default:
      return { kind: "opaque", name: t.name || `kind ${t.kind}`, size: t.sizeOrType };
  }
}

function scalar(name: string): LayoutType {
  const m = /^([ui])(8|16|32|64)$/.exec(name);
  if (m) return { kind: "int", name, size: Number(m[2]) / 8, signed: m[1] === "i", bool: false, char: false };
  if (name === "bool") return { kind: "int", name, size: 1, signed: false, bool: true, char: false };
  if (name === "char") return { kind: "int", name, size: 1, signed: true, bool: false, char: true };
  if (name === "f32" || name === "f64") return { kind: "float", name, size: name === "f32" ? 4 : 8 };
  if (name === "spin_lock") return { kind: "spin_lock", name: "bpf_spin_lock", size: 4 };
  throw new BpfTypeError("info", `unknown schema type "${name}" (use u8..u64, i8..i64, bool, char, f32, f64, spin_lock, "T[N]" or a nested object, optionally followed by ":sum", ":max", ":min", ":or" or ":first")`);
}

/** C alignment of a type: its largest scalar's size. */
function alignOf(t: LayoutType): number {
  if (t.kind === "array") return alignOf(t.element);
  if (t.kind === "struct" || t.kind === "union") return Math.max(1, ...t.fields.map((f) => alignOf(f.type)));
  return Math.max(1, t.size);
}

const roundUp = (n: number, a: number) => Math.ceil(n / a) * a;

function fromSchemaObject(schema: Schema, name: string, prefix: string, rules: Map<string, AggregateRule>): LayoutType {
  const fields: LayoutField[] = [];
  let offset = 0;
  for (const [field, raw] of Object.entries(schema)) {
    let type: LayoutType;
    const path = prefix ? `${prefix}.${field}` : field;
    if (typeof raw === "string") {
      const [spec, rule, extra] = raw.split(":") as [string, string | undefined, string | undefined];
      if (rule !== undefined) {
        if (extra !== undefined || !(AGGREGATE_RULES as readonly string[]).includes(rule)) {
          throw new BpfTypeError("info", `schema field "${path}": "${raw}" has an unknown aggregation rule; use ${AGGREGATE_RULES.map((r) => `"${spec}:${r}"`).join(", ")}`);
        }
        rules.set(path, rule as AggregateRule);
      }
      const arr = /^(\w+)\[(\d+)\]$/.exec(spec);
      if (arr) {
        const element = scalar(arr[1]!);
        const length = Number(arr[2]);
        type = { kind: "array", name: spec, size: element.size * length, length, element };
      } else type = scalar(spec);
    } else if (raw !== null && typeof raw === "object") type = fromSchemaObject(raw, field, path, rules);
    else throw new BpfTypeError("info", `schema field "${path}" must be a type name such as "u64" or a nested object; got ${String(raw)}`);
    offset = roundUp(offset, alignOf(type));
    fields.push({ name: field, offset, type });
    offset += type.size;
  }
  const struct: LayoutType = { kind: "struct", name, size: 0, fields };
  struct.size = roundUp(offset, alignOf(struct));
  return struct;
}

/** The rule a field follows when none is declared: sum integers, OR bools, first of the rest. */
export function defaultRule(type: LayoutType): AggregateRule {
  if (type.kind === "array") return defaultRule(type.element);
  if (type.kind === "int") return type.bool ? "or" : type.char ? "first" : "sum";
  return "first";
}

/** The layout of one key or value type. */
export class Layout {
  /** The type this layout describes. */
  readonly type: LayoutType;
  /** Declared per-CPU aggregation rules by field path (fields not listed follow `defaultRule`). */
  readonly rules: ReadonlyMap<string, AggregateRule>;
  private readonly cache = new Map<string, FieldRef>();

  constructor(type: LayoutType, rules: ReadonlyMap<string, AggregateRule> = new Map()) {
    this.type = type;
    this.rules = rules;
  }

  /** From BTF: the type `typeId` (typedefs and qualifiers followed). */
  static fromBtf(btf: Btf, typeId: number): Layout {
    return new Layout(fromBtfType(btf, typeId, 0));
  }

  /**
   * From a hand-written schema, laid out with C's alignment rules (x86_64). Rules after a colon
   * (`"u32:max"`) become the layout's aggregation rules.
   */
  static fromSchema(schema: Schema, name = "value"): Layout {
    if (schema === null || typeof schema !== "object") {
      throw new BpfTypeError("info", `a schema is an object of field types such as { packets: "u64" }; got ${String(schema)}`);
    }
    const rules = new Map<string, AggregateRule>();
    return new Layout(fromSchemaObject(schema, name, "", rules), rules);
  }

  /**
   * The same layout with more aggregation rules (`{ last_len: "max" }`); each path must name a
   * field, and a rule must suit its type (`or` needs integers or bools, `sum` numbers).
   */
  withRules(rules: { readonly [path: string]: AggregateRule | undefined }): Layout {
    const merged = new Map(this.rules);
    for (const [path, rule] of Object.entries(rules)) {
      if (rule === undefined) continue;
      if (!(AGGREGATE_RULES as readonly string[]).includes(rule)) {
        throw new BpfRuleError("info", `aggregation rule "${String(rule)}" for "${path}" is not one of ${AGGREGATE_RULES.join(", ")}`);
      }
      const f = this.field(path);
      const t = f.type.kind === "array" ? f.type.element : f.type;
      const numeric = (t.kind === "int" && !t.char) || t.kind === "float" || t.kind === "enum";
      if ((rule === "sum" || rule === "max" || rule === "min") && !numeric) {
        throw new BpfRuleError("info", `"${path}" is a ${t.kind} (${t.name}); "${rule}" needs a number field`, 'use "first"');
      }
      if (rule === "or" && t.kind !== "int" && t.kind !== "enum") {
        throw new BpfRuleError("info", `"${path}" is a ${t.kind} (${t.name}); "or" needs an integer or bool field`, 'use "first"');
      }
      merged.set(path, rule);
    }
    return new Layout(this.type, merged);
  }

  /** The rule field `path` follows: declared on it or on an enclosing field, else its type's default. */
  ruleOf(path: string): AggregateRule {
    for (let p = path; ; ) {
      const r = this.rules.get(p);
      if (r !== undefined) return r;
      const cut = Math.max(p.lastIndexOf("."), p.lastIndexOf("["));
      if (cut <= 0) break;
      p = p.slice(0, cut);
    }
    return defaultRule(this.field(path).type);
  }

  /** Size in bytes. */
  get size(): number {
    return this.type.size;
  }

  /** Whether any field (at any depth) is a `bpf_spin_lock`. */
  get hasSpinLock(): boolean {
    const walk = (t: LayoutType): boolean =>
      t.kind === "spin_lock" || (t.kind === "array" && walk(t.element)) ||
      ((t.kind === "struct" || t.kind === "union") && t.fields.some((f) => walk(f.type)));
    return walk(this.type);
  }

  /**
   * The field at `path` (`"bytes"`, `"inner.count"`, `"slots[3]"`), with its byte offset from
   * the start of the value. Cached, so collectors can look offsets up once and keep using
   * `PerCpuValues.sum(offset)` with no allocation.
   */
  field(path: string): FieldRef {
    const hit = this.cache.get(path);
    if (hit) return hit;
    let type = this.type, offset = 0, bitOffset: number | undefined, bitSize: number | undefined;
    for (const part of path.split(/\.|(?=\[)/)) {
      const idx = /^\[(\d+)\]$/.exec(part);
      if (idx) {
        if (type.kind !== "array") throw new BpfRuleError("info", `${path}: "${part}" indexes a ${type.kind}, not an array`);
        const i = Number(idx[1]);
        if (i >= type.length) throw new BpfRuleError("info", `${path}: index ${i} is past the array's ${type.length} elements`);
        offset += i * type.element.size;
        type = type.element;
        continue;
      }
      if (type.kind !== "struct" && type.kind !== "union") {
        throw new BpfRuleError("info", `${path}: "${part}" is not a field of ${type.kind} ${type.name}`);
      }
      const f = type.fields.find((x) => x.name === part);
      if (!f) throw new BpfRuleError("info", `${path}: no field "${part}" in ${type.name || type.kind}`, `its fields are ${type.fields.map((x) => x.name).join(", ")}`);
      bitOffset = f.bitOffset === undefined ? undefined : offset * 8 + f.bitOffset;
      bitSize = f.bitSize;
      offset += f.offset;
      type = f.type;
    }
    const ref: FieldRef = { path, offset, type, ...(bitSize !== undefined ? { bitOffset, bitSize } : {}) };
    this.cache.set(path, ref);
    return ref;
  }

  /** Byte offset of the field at `path` (see `field`). */
  offset(path: string): number {
    return this.field(path).offset;
  }

  /** Every leaf field (scalars and whole arrays of scalars), in order, with its full path. */
  leaves(): FieldRef[] {
    const out: FieldRef[] = [];
    const walk = (t: LayoutType, path: string, offset: number) => {
      if (t.kind === "struct" || t.kind === "union") {
        for (const f of t.fields) {
          const p = path ? `${path}.${f.name}` : f.name;
          if (f.bitSize !== undefined) out.push({ path: p, offset: offset + f.offset, type: f.type, bitOffset: offset * 8 + f.bitOffset!, bitSize: f.bitSize });
          else walk(f.type, p, offset + f.offset);
        }
      } else out.push({ path, offset, type: t });
    };
    walk(this.type, "", 0);
    return out;
  }
}

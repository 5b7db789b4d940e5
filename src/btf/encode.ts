/**
 * Writing raw BTF (include/uapi/linux/btf.h) for a map cgstore creates itself: a CGRP_STORAGE
 * map must carry BTF for its key (a 32-bit int: the cgroup fd) and its value, so the value's
 * layout (from a schema, or a byte array) is encoded here and loaded with `bpf_btf_load`.
 * Only what a schema can express is written: ints, floats, arrays, structs and
 * `struct bpf_spin_lock` (which the kernel recognises by name).
 */
import { BtfKind } from "./btf.ts";
import type { Layout, LayoutType } from "./layout.ts";

const BTF_MAGIC = 0xeb9f, HEADER_LEN = 24;
const INT_SIGNED = 1, INT_CHAR = 2, INT_BOOL = 4;

/** Raw BTF and the ids of the types a map create call names. */
export interface EncodedBtf {
  bytes: Uint8Array;
  keyTypeId: number;
  valueTypeId: number;
}

class BtfWriter {
  private readonly words: number[] = [];
  private readonly strings: number[] = [0];
  private readonly stringOffsets = new Map<string, number>();
  private readonly intIds = new Map<string, number>();
  private nextId = 1;

  private str(s: string): number {
    if (s === "") return 0;
    let off = this.stringOffsets.get(s);
    if (off === undefined) {
      off = this.strings.length;
      this.strings.push(...new TextEncoder().encode(s), 0);
      this.stringOffsets.set(s, off);
    }
    return off;
  }

  /** Appends `struct btf_type` (name, info, size/type) and its trailer words; returns the id. */
  private add(name: string, kind: number, vlen: number, sizeOrType: number, trailer: number[]): number {
    this.words.push(this.str(name), ((kind << 24) | vlen) >>> 0, sizeOrType, ...trailer);
    return this.nextId++;
  }

  /** An INT type (shared between uses of the same name and encoding). */
  int(name: string, size: number, encoding: number): number {
    const key = `${name}/${size}/${encoding}`;
    let id = this.intIds.get(key);
    if (id === undefined) {
      id = this.add(name, BtfKind.INT, 0, size, [((encoding << 24) | (size * 8)) >>> 0]);
      this.intIds.set(key, id);
    }
    return id;
  }

  /** The id of a type for `t`, written (children first) as needed. */
  type(t: LayoutType): number {
    switch (t.kind) {
      case "int":
        return this.int(t.name, t.size, t.bool ? INT_BOOL : t.char ? INT_CHAR : t.signed ? INT_SIGNED : 0);
      case "float":
        return this.add(t.name, BtfKind.FLOAT, 0, t.size, []);
      case "array": {
        const element = this.type(t.element);
        const index = this.int("__u32", 4, 0);
        return this.add("", BtfKind.ARRAY, 0, 0, [element, index, t.length]);
      }
      case "spin_lock": {
        const u32 = this.int("__u32", 4, 0);
        return this.add("bpf_spin_lock", BtfKind.STRUCT, 1, 4, [this.str("val"), u32, 0]);
      }
      case "struct":
      case "union": {
        const members = t.fields.map((f) => [this.str(f.name), this.type(f.type), (f.bitOffset ?? f.offset * 8)]);
        return this.add(t.name, t.kind === "struct" ? BtfKind.STRUCT : BtfKind.UNION, members.length, t.size, members.flat());
      }
      default:
        // Not expressible in a schema (enums, pointers come only from a program's own BTF).
        return this.type({ kind: "array", name: "", size: t.size, length: t.size,
          element: { kind: "int", name: "__u8", size: 1, signed: false, bool: false, char: false } });
    }
  }

  bytes(): Uint8Array {
    const typeLen = this.words.length * 4;
    const out = new Uint8Array(HEADER_LEN + typeLen + this.strings.length);
    const v = new DataView(out.buffer);
    v.setUint16(0, BTF_MAGIC, true);
    v.setUint8(2, 1); // version
    v.setUint32(4, HEADER_LEN, true);
    v.setUint32(8, 0, true); // type_off
    v.setUint32(12, typeLen, true);
    v.setUint32(16, typeLen, true); // str_off
    v.setUint32(20, this.strings.length, true);
    this.words.forEach((w, i) => v.setUint32(HEADER_LEN + i * 4, w, true));
    out.set(this.strings, HEADER_LEN + typeLen);
    return out;
  }
}

/**
 * BTF for a CGRP_STORAGE map: key `int` (the kernel requires a 32-bit INT), value the struct
 * of `layout`, or `unsigned char[valueSize]` without one.
 */
export function cgrpStorageBtf(layout: Layout | undefined, valueSize: number): EncodedBtf {
  const w = new BtfWriter();
  const keyTypeId = w.int("int", 4, INT_SIGNED);
  const valueTypeId = layout === undefined
    ? w.type({ kind: "array", name: "", size: valueSize, length: valueSize,
      element: { kind: "int", name: "unsigned char", size: 1, signed: false, bool: false, char: false } })
    : w.type(layout.type);
  return { bytes: w.bytes(), keyTypeId, valueTypeId };
}

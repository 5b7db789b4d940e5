/** Field accessors: made once, allocation-free, and never a misread (checked when made). */
import { describe, expect, test } from "../helpers/harness.ts";
import { Field, Layout, PerCpuValues, type SchemaValue } from "../../src/index.ts";
import { Records } from "../../src/maps/cgrp-iter.ts";

const schema = {
  packets: "u64", bytes: "u64", last_len: "u32:max", flags: "u8:or", delta: "i32", kind: "u16:first",
  hist: "u32[4]", inner: { a: "u16" },
} as const;
const layout = Layout.fromSchema(schema);

/** A per-CPU value with CPU c's fields set by `set(view, base)`. */
function values(cpus: number, set: (v: DataView, base: number, cpu: number) => void): PerCpuValues {
  const v = new PerCpuValues(layout.size, cpus);
  const dv = new DataView(v.buffer);
  for (let c = 0; c < cpus; c++) set(dv, c * v.stride, c);
  return v;
}

describe("Field", () => {
  test("reads each width and sign, per CPU and in total, by the field's rule", () => {
    const v = values(3, (dv, b, c) => {
      dv.setBigUint64(b + layout.offset("packets"), BigInt(2 ** 40 + c), true);
      dv.setUint32(b + layout.offset("last_len"), [57, 1400, 57][c]!, true);
      dv.setUint8(b + layout.offset("flags"), 1 << c);
      dv.setInt32(b + layout.offset("delta"), -5 * (c + 1), true);
      dv.setUint16(b + layout.offset("kind"), c === 0 ? 0 : 7 + c, true);
    });
    const packets = Field.of(layout, "packets"), last = Field.of(layout, "last_len");
    expect(packets.get(v, 2)).toBe(2 ** 40 + 2);
    expect(packets.sum(v)).toBe(3 * 2 ** 40 + 3);
    expect(packets.total(v)).toBe(3 * 2 ** 40 + 3);
    expect(packets.getBigInt(v, 1)).toBe(2n ** 40n + 1n);
    // A gauge declared "max" is not summed: 1400, not 57 + 1400 + 57.
    expect([last.rule, last.total(v), last.sum(v)]).toEqual(["max", 1400, 1514]);
    expect(Field.of(layout, "flags").total(v)).toBe(0b111);
    expect(Field.of(layout, "delta").get(v, 1)).toBe(-10);
    expect(Field.of(layout, "delta").total(v)).toBe(-30);
    expect(Field.of(layout, "kind").total(v)).toBe(8); // first CPU whose value is not 0
    expect(Field.of(layout, "hist[2]").offset).toBe(layout.offset("hist") + 8);
    expect(Field.of(layout, "inner.a").kind).toBe("u16");
  });

  test("reads shared values (bytes) too", () => {
    const bytes = new Uint8Array(layout.size);
    new DataView(bytes.buffer).setBigUint64(layout.offset("bytes"), 0x1_0000_0002n, true);
    const f = Field.of(layout, "bytes");
    expect(f.get(bytes)).toBe(0x1_0000_0002);
    expect(f.getBigInt(bytes)).toBe(0x1_0000_0002n);
    expect(() => f.get(new Uint8Array(4))).toThrow(/4 bytes; field "bytes" belongs to a \d+-byte value/);
    expect(() => f.get("x" as never)).toThrow(TypeError);
  });

  test("reads a scan's record views through their slots, in any order, and no other bytes by mistake", () => {
    // Records hand out one view per slot, which fields read by slot (not through .buffer/.byteOffset).
    const fill = (r: Records, base: number) => {
      for (let i = 0; i < r.capacity; i++) {
        const v = new Uint8Array(layout.size), dv = new DataView(v.buffer);
        dv.setBigUint64(layout.offset("packets"), BigInt(base + 2 ** 40 + i), true);
        dv.setInt32(layout.offset("delta"), -(base + i), true);
        dv.setUint16(layout.offset("kind"), base + i, true);
        r.set(i, 100 + i, v);
      }
    };
    const a = Records.owned(layout.size, 6), b = Records.owned(layout.size, 6);
    fill(a, 0);
    fill(b, 1000);
    const packets = Field.of(layout, "packets"), delta = Field.of(layout, "delta"), kind = Field.of(layout, "kind");
    const read = (r: Records, i: number) => [packets.get(r.value(i)), delta.get(r.value(i)), kind.get(r.value(i))];
    const want = (base: number, i: number) => [base + 2 ** 40 + i, 0 - (base + i) || 0, base + i];
    for (const order of [[0, 1, 2, 3, 4, 5], [5, 4, 3, 2, 1, 0], [3, 0, 5, 5, 1, 4, 2]]) {
      for (const i of order) expect(read(a, i)).toEqual(want(0, i));
    }
    // Alternating between two records buffers, and back.
    for (const i of [0, 1, 2]) {
      expect(read(b, i)).toEqual(want(1000, i));
      expect(read(a, i + 1)).toEqual(want(0, i + 1));
    }
    // Values are read in place: a slot rewritten reads anew through the same view.
    fill(a, 50);
    expect(read(a, 2)).toEqual(want(50, 2));
    // A view of the same bytes not made by the records reads the same; a short one is refused.
    const at = a.first + 4 * a.stride;
    expect(packets.get(new Uint8Array(a.buffer, at, layout.size))).toBe(50 + 2 ** 40 + 4);
    expect(() => packets.get(new Uint8Array(a.buffer, at, 4))).toThrow(/4 bytes; field "packets" belongs to a \d+-byte value/);
    // Records of a smaller value are not the field's: refused, not misread.
    const small = Records.owned(8, 2);
    expect(() => packets.get(small.value(1))).toThrow(/8 bytes; field "packets" belongs to a \d+-byte value/);
    expect(read(a, 3)).toEqual(want(50, 3));
    // Not a value at all, once slots are known: still the type error that names what is expected.
    expect(() => packets.get(null as never)).toThrow(/a Uint8Array from lookup\(\)/);
  });

  test("refuses, when made, what it cannot read correctly", () => {
    expect(() => Field.of(layout, "hist")).toThrow(/is an array .*read one element: "hist\[0\]"/);
    expect(() => Field.of(layout, "inner")).toThrow(/is a struct, not a scalar/);
    expect(() => Field.of(layout, "nope")).toThrow(/no field "nope"/);
    // A u64 at offset 4 (a packed or hand-made layout) would straddle two fields' words.
    const packed = new Layout({ kind: "struct", name: "p", size: 12, fields: [
      { name: "a", offset: 0, type: { kind: "int", name: "u32", size: 4, signed: false, bool: false, char: false } },
      { name: "b", offset: 4, type: { kind: "int", name: "u64", size: 8, signed: false, bool: false, char: false } },
    ] });
    expect(() => Field.of(packed, "b")).toThrow(/8-byte int at offset 4, not aligned/);
    const bits = new Layout({ kind: "struct", name: "b", size: 4, fields: [
      { name: "x", offset: 0, bitOffset: 3, bitSize: 5, type: { kind: "int", name: "u32", size: 4, signed: false, bool: false, char: false } },
    ] });
    expect(() => Field.of(bits, "x")).toThrow(/5-bit bitfield/);
  });

  test("a spec rebuilds the same accessor (what Workers receive)", () => {
    const f = Field.of(layout, "last_len");
    const g = new Field(f.spec);
    expect([g.path, g.offset, g.size, g.kind, g.rule]).toEqual([f.path, f.offset, f.size, f.kind, f.rule]);
  });

  test("schema types follow the schema (checked by the typecheck of this file)", () => {
    type V = SchemaValue<typeof schema>;
    const v: V = {
      packets: 1n, bytes: 2n, last_len: 3, flags: 4, delta: -1, kind: 2, hist: [1, 2, 3, 4], inner: { a: 1 },
    };
    // @ts-expect-error a u64 decodes as a bigint, not a number
    const wrong: V["packets"] = 1;
    // @ts-expect-error a misspelt field does not exist
    void v.pakets;
    expect(v.packets).toBe(1n);
    expect(wrong as unknown).toBe(1);
  });
});

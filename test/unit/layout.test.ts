import { describe, expect, test } from "../helpers/harness.ts";
import { Layout, aggregateDecoded, decode } from "../../src/index.ts";

describe("schema layouts (C alignment, x86_64)", () => {
  test("fields are aligned to their size, the struct to its largest member", () => {
    const l = Layout.fromSchema({ a: "u8", b: "u32", c: "u16", d: "u64", e: "i8" });
    expect(["a", "b", "c", "d", "e"].map((f) => l.offset(f))).toEqual([0, 4, 8, 16, 24]);
    expect(l.size).toBe(32);
  });

  test("arrays and nested structs", () => {
    const l = Layout.fromSchema({ tag: "char[5]", inner: { x: "u16", y: "u32" }, hist: "u64[2]" });
    expect(l.offset("inner")).toBe(8);
    expect(l.offset("inner.y")).toBe(12);
    expect(l.offset("hist[1]")).toBe(24);
    expect(l.size).toBe(32);
    expect(() => Layout.fromSchema({ x: "u128" as never })).toThrow(/unknown schema type "u128"/);
  });

  test("decode reads every scalar kind, little-endian, and skips spin locks", () => {
    const l = Layout.fromSchema({ lock: "spin_lock", s: "i16", ok: "bool", f: "f64", big: "u64", name: "char[4]" });
    const bytes = new Uint8Array(l.size);
    const v = new DataView(bytes.buffer);
    v.setUint32(0, 0xffffffff, true); // lock bytes: never decoded
    v.setInt16(l.offset("s"), -7, true);
    v.setUint8(l.offset("ok"), 1);
    v.setFloat64(l.offset("f"), 1.5, true);
    v.setBigUint64(l.offset("big"), 2n ** 63n, true);
    bytes.set([104, 105, 0, 0], l.offset("name"));
    expect(decode(l, bytes)).toEqual({ s: -7, ok: true, f: 1.5, big: 2n ** 63n, name: "hi" });
    expect(decode(l, bytes, { int64: "number" })).toMatchObject({ big: 2 ** 63 });
    expect(() => decode(l, bytes.subarray(0, 4))).toThrow(/shorter/);
  });
});

test("aggregateDecoded: integers sum, bools OR, enums and strings take the first non-zero CPU, declared rules win", () => {
  const l = Layout.fromSchema({ n: "u32", big: "u64", ok: "bool", name: "char[4]", arr: "u16[2]", nested: { x: "u8" }, last: "u32:max", low: "u32:min", bits: "u8:or", pick: "u32:first" });
  const cpus = [
    { n: 1, big: 2n, ok: false, name: "", arr: [1, 2], nested: { x: 1 }, last: 57, low: 9, bits: 1, pick: 0 },
    { n: 3, big: 5n, ok: true, name: "cg", arr: [10, 20], nested: { x: 4 }, last: 40, low: 3, bits: 4, pick: 8 },
  ];
  expect(aggregateDecoded(l, cpus)).toEqual({
    n: 4, big: 7n, ok: true, name: "cg", arr: [11, 22], nested: { x: 5 }, last: 57, low: 3, bits: 5, pick: 8,
  });
  expect(aggregateDecoded(l, [])).toBeNull();
  // Rules given later (for BTF maps) override defaults; unknown paths and unfit rules are refused.
  const l2 = l.withRules({ n: "max", "nested.x": "min" });
  expect(aggregateDecoded(l2, cpus)).toMatchObject({ n: 3, nested: { x: 1 } });
  expect(() => l.withRules({ nope: "max" })).toThrow(/no field "nope"/);
  expect(() => l.withRules({ name: "sum" })).toThrow(/"sum" needs a number field/);
  expect(() => l.withRules({ n: "avg" as never })).toThrow(/not one of sum, max, min, or, first/);
  expect(() => Layout.fromSchema({ n: "u32:avg" as never })).toThrow(/unknown aggregation rule/);
  // OR stays exact above 2^31 (JS's | is 32-bit).
  const wide = Layout.fromSchema({ f: "u32:or" });
  expect(aggregateDecoded(wide, [{ f: 0x8000_0000 }, { f: 1 }])).toEqual({ f: 0x8000_0001 });
});

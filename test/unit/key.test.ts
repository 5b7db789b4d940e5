import { describe, expect, test } from "../helpers/harness.ts";
import { thrown } from "../helpers/caught.ts";
import { encodeKey, EncodedKey, KeyBuffer, U32 } from "../../src/maps/key.ts";
import { BpfRuleError, BpfTypeError } from "../../src/index.ts";


describe("key encoding", () => {
  const words = new Uint32Array(4);

  test("16-byte key: u64 id little-endian as two u32 halves, attach type, zero padding", () => {
    words.fill(0xffffffff);
    encodeKey(words, 16, "lookup", 0x1_2345_6789, 1);
    expect([...words]).toEqual([0x2345_6789, 1, 1, 0]);
  });

  test("8-byte key ignores attach type slot (zeroed)", () => {
    encodeKey(words, 8, "lookup", 764623, undefined);
    expect([...words]).toEqual([764623, 0, 0, 0]);
  });

  test("largest safe number and a bigint beyond 2^53 are exact", () => {
    encodeKey(words, 8, "lookup", Number.MAX_SAFE_INTEGER, undefined);
    expect(words[0]! + words[1]! * U32).toBe(Number.MAX_SAFE_INTEGER);
    encodeKey(words, 8, "lookup", 0xffff_ffff_ffff_ffffn, undefined);
    expect([words[0], words[1]]).toEqual([0xffffffff, 0xffffffff]);
  });

  test.each([-1, 1.5, NaN, Infinity, 2 ** 53, -1n, 1n << 64n])("rejects id %p as a rule, with no errno", (id) => {
    const e = thrown(() => encodeKey(words, 16, "lookup", id, 0));
    expect(e).toBeInstanceOf(BpfRuleError);
    expect(e.message).toMatch(/whole number from 0 to 2\^64-1/);
    expect((e as BpfRuleError).errno).toBeUndefined();
    expect((e as BpfRuleError).kind).toBe("rule");
  });

  test("a cgroup id of the wrong JS type is a TypeError naming the type expected", () => {
    const e = thrown(() => encodeKey(words, 8, "lookup", "12", undefined));
    expect(e).toBeInstanceOf(TypeError);
    expect(e).toBeInstanceOf(BpfTypeError);
    expect((e as BpfTypeError).kind).toBe("type");
    expect(e.message).toMatch(/number or bigint; got a string \("12"\)/);
  });

  test("16-byte keys need an attach type; 8-byte keys refuse one; both say which form to use", () => {
    expect(() => encodeKey(words, 16, "lookup", 5, undefined)).toThrow(/16-byte keys.*needs the attach type.*\{ cgroupId, attachType/);
    expect(() => encodeKey(words, 8, "lookup", 5, 1)).toThrow(/8-byte keys.*no attach type.*lookup\(cgroupId\)/);
    expect(() => encodeKey(words, 16, "lookup", 5, -1)).toThrow(/attach type must be a u32/);
    expect(() => encodeKey(words, 16, "lookup", 5, "1")).toThrow(TypeError);
    const e = thrown(() => encodeKey(words, 16, "update", 5, undefined));
    expect(e).toBeInstanceOf(BpfRuleError);
    expect((e as BpfRuleError).code).toBeUndefined();
    expect((e as BpfRuleError).op).toBe("update");
  });
});

describe("one key convention: KeyBuffer.pointerFor takes every form", () => {
  test("a number id, a bigint id, an object (as keys() yields) and an EncodedKey give the same bytes", () => {
    const b = new KeyBuffer(8);
    b.pointerFor("lookup", 77);
    expect([...b.words]).toEqual([77, 0, 0, 0]);
    b.pointerFor("lookup", 2n ** 40n);
    expect(b.cgroupId).toBe(2 ** 40);
    b.pointerFor("lookup", { cgroupId: 78, attachType: undefined });
    expect(b.toKey()).toEqual({ cgroupId: 78, attachType: undefined });
    const k = new EncodedKey(8, 79, undefined);
    expect(b.pointerFor("lookup", k)).toBe(k.pointer); // its own bytes, as they are

    const b16 = new KeyBuffer(16);
    b16.pointerFor("lookup", { cgroupId: 2 ** 40 + 7, attachType: 21 });
    expect(b16.toKey()).toEqual({ cgroupId: 2 ** 40 + 7, attachType: 21 });
    expect(b16.describe()).toBe(`cgroup ${2 ** 40 + 7}, CGROUP_GETSOCKOPT`);
  });

  test("a bare id on a 16-byte map and an attach type on an 8-byte map are refused with the form to use", () => {
    expect(() => new KeyBuffer(16).pointerFor("lookup", 5)).toThrow(/needs the attach type.*map\.key\(cgroupId, AttachType/);
    expect(() => new KeyBuffer(8).pointerFor("update", { cgroupId: 5, attachType: 1 })).toThrow(/8-byte keys/);
    expect(() => new KeyBuffer(16).pointerFor("lookup", new EncodedKey(8, 5, undefined))).toThrow(/encoded for 8-byte keys; this map has 16-byte keys/);
  });

  test("other JS types are TypeErrors that list the key forms", () => {
    for (const bad of ["5", null, undefined, true, [5]]) {
      const e = thrown(() => new KeyBuffer(8).pointerFor("lookup", bad as never));
      expect(e).toBeInstanceOf(TypeError);
      expect(e.message).toMatch(/cgroup id \(number or bigint\), a \{ cgroupId, attachType \} object, or map\.key|must be a number or bigint/);
    }
  });

  test("copyFrom and equals compare what the kernel compares", () => {
    const a = new KeyBuffer(16), b = new KeyBuffer(16);
    a.pointerFor("lookup", { cgroupId: 9, attachType: 1 });
    b.copyFrom(a);
    expect(b.equals(a)).toBe(true);
    b.pointerFor("lookup", { cgroupId: 9, attachType: 0 });
    expect(b.equals(a)).toBe(false);
  });
});

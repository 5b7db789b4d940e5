import { describe, expect, test } from "../helpers/harness.ts";
import { encodeKey, KeyBuffer, U32 } from "../../src/maps/key.ts";
import { BpfRuleError } from "../../src/index.ts";

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

  test.each([-1, 1.5, NaN, Infinity, 2 ** 53, -1n, 1n << 64n])("rejects id %p", (id) => {
    expect(() => encodeKey(words, 16, "lookup", id as number, 0)).toThrow(/non-negative integer below 2\^64/);
  });

  test("16-byte keys need an attach type; 8-byte keys refuse one", () => {
    expect(() => encodeKey(words, 16, "lookup", 5, undefined)).toThrow(/16-byte keys.*pass the attach type/);
    expect(() => encodeKey(words, 8, "lookup", 5, 1)).toThrow(/8-byte keys.*pass no attach type/);
    expect(() => encodeKey(words, 16, "lookup", 5, -1)).toThrow(/attach type must be a u32/);
    try {
      encodeKey(words, 16, "update", 5, undefined);
    } catch (e) {
      expect(e).toBeInstanceOf(BpfRuleError);
      expect((e as BpfRuleError).code).toBe("EINVAL");
      expect((e as BpfRuleError).op).toBe("update");
    }
  });

  test("KeyBuffer round-trips and compares", () => {
    const a = new KeyBuffer(16), b = new KeyBuffer(16);
    a.set("lookup", 2 ** 40 + 7, 21);
    expect(a.toKey()).toEqual({ cgroupId: 2 ** 40 + 7, attachType: 21 });
    b.copyFrom(a);
    expect(b.equals(a)).toBe(true);
    b.setInput("lookup", { cgroupId: 2 ** 40 + 7, attachType: 0 });
    expect(b.equals(a)).toBe(false);
    const k8 = new KeyBuffer(8);
    k8.setInput("lookup", 99n);
    expect(k8.toKey()).toEqual({ cgroupId: 99, attachType: undefined });
  });
});

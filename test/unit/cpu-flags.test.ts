/**
 * `ElemFlags.cpu(n)` flag words: BPF_F_CPU in the low bits, the CPU in the upper 32, exact as
 * numbers; and Deno's u64 argument conversion (BigInts, cached per word) is exact.
 * (Bun passes the number itself as a u64; that path is proven on a 7.x kernel by
 * percpu-flags.test.ts, which reads distinct per-CPU values through it.)
 */
import { describe, expect, test } from "../helpers/harness.ts";
import { ElemFlags, MAX_CPU_FLAG } from "../../src/index.ts";
import { cpuOfFlags, lowFlags } from "../../src/constants.ts";
import { u64 } from "../../src/ffi/deno.ts";

describe("CPU flag words", () => {
  test("cpu(n) = BPF_F_CPU | n << 32, taken apart exactly up to the largest CPU", () => {
    for (const n of [0, 1, 2, 255, 8191, MAX_CPU_FLAG]) {
      const f = ElemFlags.cpu(n);
      expect(BigInt(f)).toBe((BigInt(n) << 32n) | 8n);
      expect([cpuOfFlags(f), lowFlags(f)]).toEqual([n, 8]);
      expect([cpuOfFlags(f + ElemFlags.EXIST), lowFlags(f + ElemFlags.EXIST)]).toEqual([n, 10]);
    }
    expect(Number.isSafeInteger(ElemFlags.cpu(MAX_CPU_FLAG) + ElemFlags.EXIST)).toBe(true);
    expect(() => ElemFlags.cpu(MAX_CPU_FLAG + 1)).toThrow(/whole number/);
    expect([ElemFlags.ALL_CPUS, lowFlags(ElemFlags.ALL_CPUS), cpuOfFlags(ElemFlags.ALL_CPUS)]).toEqual([16, 16, 0]);
  });

  test("Deno's u64: exact BigInts for flag words above 2^32, and again from its cache", () => {
    for (const n of [0, 4, 16, 31]) expect(u64(n)).toBe(BigInt(n));
    for (const n of [1, 7, 4095]) {
      const f = ElemFlags.cpu(n) + ElemFlags.EXIST;
      const a = u64(f);
      expect(a).toBe((BigInt(n) << 32n) | 10n);
      expect(u64(f)).toBe(a);
    }
  });
});

import { describe, expect, test } from "../helpers/harness.ts";
import { spawnSync } from "node:child_process";
import { resolve } from "node:path";
import { PerCpuValues, perCpuStride } from "../../src/index.ts";
import { SUM_WASM_BASE64 } from "../../src/maps/wasm-sum.ts";

/** Writes a u64 into CPU `cpu`'s slot at `offset`, as the kernel would. */
function put(v: PerCpuValues, cpu: number, offset: number, n: bigint) {
  new DataView(v.buffer).setBigUint64(cpu * v.stride + offset, n, true);
}

describe("PerCpuValues", () => {
  test("stride is round_up(valueSize, 8); buffer is stride × cpus, a SharedArrayBuffer", () => {
    expect([1, 7, 8, 9, 16, 24, 32768].map(perCpuStride)).toEqual([8, 8, 8, 16, 16, 24, 32768]);
    const v = new PerCpuValues(12, 3);
    expect(v.stride).toBe(16);
    expect(v.buffer).toBeInstanceOf(SharedArrayBuffer);
    expect(v.buffer.byteLength).toBe(48);
    expect(v.cpu(2).byteOffset).toBe(32);
    expect(v.cpu(2).byteLength).toBe(12);
    expect(v.cpu(1)).toBe(v.cpu(1)); // cached view, no allocation
    expect(() => v.cpu(3)).toThrow(/cpu 3 is not in 0\.\.2/);
  });

  test("u64 and sum read every CPU's field, across the 2^32 boundary", () => {
    const v = new PerCpuValues(16, 4);
    put(v, 0, 8, 0xffff_ffffn);
    put(v, 1, 8, 1n);
    put(v, 2, 8, 0x1_0000_0005n);
    put(v, 3, 8, 7n);
    put(v, 3, 0, 42n);
    expect(v.u64(2, 8)).toBe(0x1_0000_0005);
    expect(v.sumU64(8)).toBe(0xffff_ffff + 1 + 0x1_0000_0005 + 7);
    expect(v.sumU64BigInt(8)).toBe(0xffff_ffffn + 1n + 0x1_0000_0005n + 7n);
    expect(v.sumU64(0)).toBe(42);
    expect(v.u64BigInt(3, 0)).toBe(42n);
  });

  test("sum stays exact near 2^53 (halves summed separately)", () => {
    const v = new PerCpuValues(8, 2);
    put(v, 0, 0, 2n ** 52n);
    put(v, 1, 0, 2n ** 52n - 1n);
    expect(v.sumU64(0)).toBe(2 ** 53 - 1);
  });

  test("u64 offsets must be 8-aligned (as C aligns a u64) and inside the value", () => {
    const v = new PerCpuValues(12, 2);
    expect(() => v.sumU64(8)).toThrow(/offset \+ 8/); // 8 + 8 > 12
    expect(() => v.sumU64(2)).toThrow(/multiple of 8/);
    expect(() => v.sumU64(4)).toThrow(/multiple of 8/); // a u32 field's offset: refused, not misread
    expect(() => v.u64(0, 4)).toThrow(/multiple of 8/);
    expect(v.sumU64(0)).toBe(0);
  });

  test("fill writes one value into every slot and zeroes padding; clone copies", () => {
    const v = new PerCpuValues(4, 3);
    v.bytes.fill(0xee);
    v.fill(new Uint8Array([1, 2, 3, 4]));
    expect([...v.bytes]).toEqual([1, 2, 3, 4, 0, 0, 0, 0, 1, 2, 3, 4, 0, 0, 0, 0, 1, 2, 3, 4, 0, 0, 0, 0]);
    const c = v.clone();
    expect(c.buffer).not.toBe(v.buffer);
    expect([...c.bytes]).toEqual([...v.bytes]);
    expect(() => v.fill(new Uint8Array(5))).toThrow(/5 bytes/);
    expect(() => new PerCpuValues(4, 2).copyFrom(v)).toThrow(/shapes differ/);
  });
});

test("sumU64Fields sums consecutive u64 fields over CPUs in one pass, exactly", () => {
  const v = new PerCpuValues(24, 3);
  const dv = new DataView(v.buffer);
  for (let c = 0; c < 3; c++) for (let f = 0; f < 3; f++) dv.setBigUint64(c * 24 + f * 8, BigInt((f + 1) * 0x1_0000_0000 + c), true);
  expect([...v.sumU64Fields(new Float64Array(3))]).toEqual([3 * 0x1_0000_0000 + 3, 6 * 0x1_0000_0000 + 3, 9 * 0x1_0000_0000 + 3]);
  expect([...v.sumU64Fields(new Float64Array(2), 8)]).toEqual([v.sumU64(8), v.sumU64(16)]);
  expect(() => v.sumU64Fields(new Float64Array(4))).toThrow(/offset \+ 8/);
});

test("sum is right for odd and even CPU counts (two CPUs per step, plus the last one)", () => {
  for (const cpus of [1, 2, 3, 7, 256]) {
    const v = new PerCpuValues(16, cpus);
    for (let c = 0; c < cpus; c++) put(v, c, 8, BigInt(c + 1) * 0x1_0000_0001n);
    const n = (cpus * (cpus + 1)) / 2;
    expect(v.sumU64(8)).toBe(n * 0x1_0000_0001);
    expect(v.sumU64(0)).toBe(0);
  }
});

describe("PerCpuValues in WebAssembly memory (what lookups return)", () => {
  test("sums by WebAssembly equal the JavaScript sums, across 2^32 and up to 2^53 - 1, at any CPU count", () => {
    for (const cpus of [1, 2, 3, 4, 5, 7, 8, 256]) {
      const w = PerCpuValues.inWasmMemory(24, cpus), js = new PerCpuValues(24, cpus);
      expect(w.wasm).toBe(true);
      expect(js.wasm).toBe(false);
      expect(w.bytes.byteLength).toBe(24 * cpus);
      for (let c = 0; c < cpus; c++) {
        for (const [off, n] of [[0, 0xffff_ffffn + BigInt(c)], [8, BigInt(c * 977)], [16, 0x1_0000_0000n * BigInt(c + 1)]] as const) {
          w.view.setBigUint64(c * w.stride + off, n, true);
          js.view.setBigUint64(c * js.stride + off, n, true);
        }
      }
      const a = w.sumU64Fields(new Float64Array(3)), b = js.sumU64Fields(new Float64Array(3));
      expect({ cpus, sums: [...a] }).toEqual({ cpus, sums: [...b] });
      expect(w.sumU64(16)).toBe(Number(w.sumU64BigInt(16)));
    }
    const near = PerCpuValues.inWasmMemory(8, 2);
    near.view.setBigUint64(0, 2n ** 52n, true);
    near.view.setBigUint64(8, 2n ** 52n - 1n, true);
    expect(near.sumU64(0)).toBe(2 ** 53 - 1);
  });

  test("every field at once (sumU64Fields), by each of WebAssembly's paths, is the exact BigInt sum across 2^32 carries", () => {
    // 1–15 CPUs: eight fields at a time, then four, then one; 16 or more: field by field. Value
    // sizes pick every mix (3 fields; 8; 11 = 8 + 3; 12 = 8 + 4; 13 = 8 + 4 + 1 and a 4-byte tail).
    for (const valueSize of [24, 64, 88, 96, 108]) {
      for (const cpus of [1, 2, 3, 4, 7, 8, 15, 16, 17, 64]) {
        const w = PerCpuValues.inWasmMemory(valueSize, cpus);
        const fields = valueSize >> 3;
        for (let c = 0; c < cpus; c++) {
          for (let f = 0; f < fields; f++) {
            // Low halves near 2^32 (the carries), high halves small: totals stay below 2^53.
            const n = ((BigInt(f + 1) * 0x100n + BigInt(c)) << 32n) | BigInt(0xffff_ffff - ((c * 7 + f) & 0xff));
            w.view.setBigUint64(c * w.stride + 8 * f, n, true);
          }
        }
        const out = w.sumU64Fields(new Float64Array(fields));
        const exact = Array.from({ length: fields }, (_, f) => Number(w.sumU64BigInt(8 * f)));
        expect({ valueSize, cpus, sums: [...out] }).toEqual({ valueSize, cpus, sums: exact });
        expect(exact.every((x) => x < 2 ** 53)).toBe(true);
        // A tail of the fields, from an offset (the checked path), gives the same sums.
        const tail = w.sumU64Fields(new Float64Array(fields - 1), 8);
        expect([...tail]).toEqual(exact.slice(1));
      }
    }
  });

  test("sumU64Fields() without an array: every whole u64 field into the value's own sums, the same array each call", () => {
    for (const [valueSize, cpus] of [[64, 2], [20, 3], [96, 17]] as const) {
      for (const v of [PerCpuValues.inWasmMemory(valueSize, cpus), new PerCpuValues(valueSize, cpus)]) {
        for (let c = 0; c < cpus; c++) for (let f = 0; f < valueSize >> 3; f++) put(v, c, 8 * f, 0xffff_ffffn + BigInt(c * 100 + f));
        const own = v.sumU64Fields();
        expect({ valueSize, cpus, wasm: v.wasm, sums: [...own] })
          .toEqual({ valueSize, cpus, wasm: v.wasm, sums: [...v.sumU64Fields(new Float64Array(valueSize >> 3))] });
        put(v, 0, 0, 0n);
        expect(v.sumU64Fields()).toBe(own); // overwritten in place
        expect(own[0]).toBe(v.sumU64(0));
      }
    }
  });

  test("a sum past 2^63 converts as an unsigned u64 (as JavaScript's halves do), at few CPUs and many", () => {
    for (const cpus of [1, 2, 16]) {
      const w = PerCpuValues.inWasmMemory(64, cpus), js = new PerCpuValues(64, cpus);
      for (const v of [w, js]) v.view.setBigUint64(0, 2n ** 64n - 1n, true);
      const a = w.sumU64Fields(new Float64Array(8)), b = js.sumU64Fields(new Float64Array(8));
      expect([cpus, a[0]]).toEqual([cpus, 2 ** 64]);
      expect([...a]).toEqual([...b]);
      expect(w.sumU64(0)).toBe(2 ** 64);
    }
  });

  test("sumU64Fields refuses what it cannot sum: fields past the value, a misaligned offset", () => {
    const w = PerCpuValues.inWasmMemory(20, 2);
    expect(w.sumU64Fields(new Float64Array(2))).toHaveLength(2);
    expect(() => w.sumU64Fields(new Float64Array(3))).toThrow(/offset 16/);
    expect(() => w.sumU64Fields(new Float64Array(1), 4)).toThrow(/multiple of 8/);
    expect(() => w.sumU64Fields(new Float64Array(2), 8)).toThrow(/offset 16/);
  });

  test("each value has its own zeroed window of the shared memory; clone() owns an exact buffer", () => {
    const a = PerCpuValues.inWasmMemory(64, 256), b = PerCpuValues.inWasmMemory(64, 256);
    expect(a.buffer).toBeInstanceOf(SharedArrayBuffer);
    expect(a.bytes.every((x) => x === 0)).toBe(true);
    const [lo, hi] = a.buffer === b.buffer && a.byteOffset < b.byteOffset ? [a, b] : [b, a];
    if (a.buffer === b.buffer) expect(lo.byteOffset + lo.bytes.byteLength).toBeLessThanOrEqual(hi.byteOffset);
    a.bytes.fill(1);
    expect(b.bytes.every((x) => x === 0)).toBe(true);
    expect(a.cpu(1).byteOffset).toBe(a.byteOffset + 64);
    const c = a.clone();
    expect([c.wasm, c.byteOffset, c.buffer.byteLength]).toEqual([false, 0, 64 * 256]);
    expect(c.bytes).toEqual(a.bytes);
  });

  test("the checked-in bytes are src/maps/sum.wat assembled (when wat2wasm is installed)", () => {
    const wat2wasm = spawnSync("wat2wasm", ["--enable-threads", resolve(import.meta.dirname, "../../src/maps/sum.wat"), "--output=-"]);
    if (wat2wasm.error) {
      console.warn("wat2wasm not installed (apt-get install wabt): sum.wat not compared");
      return;
    }
    expect(wat2wasm.status).toBe(0);
    expect(Buffer.from(wat2wasm.stdout).toString("base64")).toBe(SUM_WASM_BASE64);
  });
});

import { describe, expect, test } from "../helpers/harness.ts";
import { checkCreateOptions } from "../../src/maps/open.ts";
import { MapFlags } from "../../src/index.ts";

describe("createMap rules, checked before the syscall", () => {
  const ok = (o: Parameters<typeof checkCreateOptions>[0]) => checkCreateOptions(o);
  const bad = (o: Parameters<typeof checkCreateOptions>[0], msg: RegExp, code = "EINVAL") => {
    let err: { code?: string; message: string } | undefined;
    try {
      checkCreateOptions(o);
    } catch (e) {
      err = e as never;
    }
    expect(err?.message).toMatch(msg);
    expect(err?.code).toBe(code);
  };

  test("defaults: 16-byte key, no flags", () => {
    expect(ok({ perCpu: false, valueSize: 8 })).toEqual({ keySize: 16, flags: 0 });
    expect(ok({ perCpu: true, valueSize: 8, keySize: 8 })).toEqual({ keySize: 8, flags: 0 });
  });

  test("key size is 8 or 16", () => {
    bad({ perCpu: false, valueSize: 8, keySize: 12 as never }, /keySize must be 16 .* or 8/);
  });

  test("value size limits: 1..65407 shared, 1..32768 per-CPU", () => {
    ok({ perCpu: false, valueSize: 65407 });
    ok({ perCpu: true, valueSize: 32768 });
    bad({ perCpu: false, valueSize: 65408 }, /over the shared .* 65407/, "E2BIG");
    bad({ perCpu: true, valueSize: 32769 }, /over the per-CPU .* 32768/, "E2BIG");
    bad({ perCpu: false, valueSize: 0 }, /≥ 1/);
    bad({ perCpu: false, valueSize: 1.5 }, /whole number/);
  });

  test("flags: access flags only, not contradictory", () => {
    expect(ok({ perCpu: false, valueSize: 8, flags: MapFlags.RDONLY_PROG }).flags).toBe(MapFlags.RDONLY_PROG);
    bad({ perCpu: false, valueSize: 8, flags: 1 /* NO_PREALLOC */ }, /accept only RDONLY/);
    bad({ perCpu: false, valueSize: 8, flags: 1 << 10 /* MMAPABLE */ }, /accept only RDONLY/);
    bad({ perCpu: false, valueSize: 8, flags: MapFlags.RDONLY | MapFlags.WRONLY }, /RDONLY and WRONLY/);
    bad({ perCpu: false, valueSize: 8, flags: MapFlags.RDONLY_PROG | MapFlags.WRONLY_PROG }, /RDONLY_PROG and WRONLY_PROG/);
    bad({ perCpu: false, valueSize: 8, flags: MapFlags.NUMA_NODE }, /pass numaNode/);
    expect(ok({ perCpu: false, valueSize: 8, numaNode: 0 }).flags).toBe(MapFlags.NUMA_NODE);
  });

  test("name: ≤ 15 chars of [A-Za-z0-9_.]", () => {
    ok({ perCpu: false, valueSize: 8, name: "abc.DEF_123" });
    bad({ perCpu: false, valueSize: 8, name: "sixteen_chars_xx" }, /at most 15/);
    bad({ perCpu: false, valueSize: 8, name: "has-dash" }, /\[A-Za-z0-9_\.\]/);
  });
});

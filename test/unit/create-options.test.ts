import { describe, expect, test } from "../helpers/harness.ts";
import { checkCreateOptions } from "../../src/maps/open.ts";
import { MapFlags } from "../../src/index.ts";

describe("createMap rules, checked before the syscall", () => {
  const ok = (o: Parameters<typeof checkCreateOptions>[0]) => checkCreateOptions(o);
  const bad = (o: Parameters<typeof checkCreateOptions>[0], msg: RegExp, kind = "rule") => {
    let err: { errno?: number; kind?: string; message: string } | undefined;
    try {
      checkCreateOptions(o);
    } catch (e) {
      err = e as never;
    }
    expect(err?.message).toMatch(msg);
    expect(err?.kind).toBe(kind);
    expect(err?.errno).toBeUndefined(); // never reached the kernel: no invented errno
  };

  test("defaults: 16-byte key, no flags", () => {
    expect(ok({ type: "shared", valueSize: 8 })).toEqual({ type: 19, keySize: 16, valueSize: 8, flags: 0, layout: undefined });
    expect(ok({ type: "percpu", valueSize: 8, keySize: 8 })).toEqual({ type: 21, keySize: 8, valueSize: 8, flags: 0, layout: undefined });
  });

  test("key size is 8 or 16", () => {
    bad({ type: "shared", valueSize: 8, keySize: 12 as never }, /keySize must be 16 .* or 8/);
  });

  test("value size limits: 1..65407 shared, 1..32768 per-CPU", () => {
    ok({ type: "shared", valueSize: 65407 });
    ok({ type: "percpu", valueSize: 32768 });
    bad({ type: "shared", valueSize: 65408 }, /over the shared .* 65407/);
    bad({ type: "percpu", valueSize: 32769 }, /over the per-CPU .* 32768/);
    bad({ type: "shared", valueSize: 0 }, /≥ 1/);
    bad({ type: "shared", valueSize: 1.5 }, /whole number/);
  });

  test("flags: access flags only, not contradictory", () => {
    expect(ok({ type: "shared", valueSize: 8, flags: MapFlags.RDONLY_PROG }).flags).toBe(MapFlags.RDONLY_PROG);
    bad({ type: "shared", valueSize: 8, flags: 1 /* NO_PREALLOC */ }, /accept only RDONLY/);
    bad({ type: "shared", valueSize: 8, flags: 1 << 10 /* MMAPABLE */ }, /accept only RDONLY/);
    bad({ type: "shared", valueSize: 8, flags: MapFlags.RDONLY | MapFlags.WRONLY }, /RDONLY and WRONLY/);
    bad({ type: "shared", valueSize: 8, flags: MapFlags.RDONLY_PROG | MapFlags.WRONLY_PROG }, /RDONLY_PROG and WRONLY_PROG/);
    bad({ type: "shared", valueSize: 8, flags: MapFlags.NUMA_NODE }, /pass numaNode/);
    expect(ok({ type: "shared", valueSize: 8, numaNode: 0 }).flags).toBe(MapFlags.NUMA_NODE);
  });

  test("type is \"shared\", \"percpu\" or \"cgrp\"; the value is a size or a schema, not both", () => {
    bad({ type: "perCpu" as never, valueSize: 8 }, /type must be "shared" .*, "percpu" .* or "cgrp"/);
    bad({ perCpu: true, valueSize: 8 } as never, /type must be/);
    bad({ type: "shared" } as never, /exactly one of valueSize .* or schema/);
    bad({ type: "shared", valueSize: 16, schema: { a: "u64" } } as never, /exactly one of valueSize/);
    const s = ok({ type: "percpu", schema: { packets: "u64", last_len: "u32:max" } });
    expect([s.valueSize, s.layout?.ruleOf("last_len"), s.layout?.ruleOf("packets")]).toEqual([16, "max", "sum"]);
    bad({ type: "shared", valueSize: "8" as never }, /valueSize must be a number of bytes; got a string/, "type");
  });

  test("name: ≤ 15 chars of [A-Za-z0-9_.]", () => {
    ok({ type: "shared", valueSize: 8, name: "abc.DEF_123" });
    bad({ type: "shared", valueSize: 8, name: "sixteen_chars_xx" }, /at most 15/);
    bad({ type: "shared", valueSize: 8, name: "has-dash" }, /\[A-Za-z0-9_\.\]/);
  });
});

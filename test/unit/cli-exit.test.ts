/** The CLI's exit code comes from an error's `kind` (or class), never from its message. */
import { parseArgs } from "node:util";
import { describe, expect, test } from "../helpers/harness.ts";
import { EnvironmentError, Exit, exitFor, isParseArgsError, UsageError } from "../../src/cli/errors.ts";
import {
  BpfError, BpfRuleError, BpfTypeError, bpfError, closedError, environmentError, type ErrorKind,
} from "../../src/errors.ts";

describe("exitFor", () => {
  test("usage errors: 2, with the command's help after the message", () => {
    expect(exitFor(new UsageError("--port x: not a port", "Usage: cgstore serve …"))).toEqual({
      code: Exit.USAGE, text: "--port x: not a port\n\nUsage: cgstore serve …",
    });
  });

  test("kinds environment and permission: 3, the message alone (no stack)", () => {
    for (const e of [
      environmentError("load", "cannot load libbpf.so.1", "install libbpf"),
      new EnvironmentError("cannot build native/"),
      bpfError("open", -1, "bpf_obj_get(/sys/fs/bpf/x)"), // EPERM
      bpfError("open", -13, "bpf_obj_get(/sys/fs/bpf/x)"), // EACCES
    ]) {
      expect(exitFor(e)).toEqual({ code: Exit.ENVIRONMENT, text: e.message });
    }
  });

  test("every other cgstore kind: 1, the message alone; even one that mentions root", () => {
    const errors: [Error, ErrorKind][] = [
      [bpfError("open", -2, "bpf_obj_get(/sys/fs/bpf/x)"), "not-found"],
      [bpfError("update", -22, "update", "the value has no spin lock"), "kernel"],
      [bpfError("lookup", -95, "lookup"), "unsupported"],
      [closedError("lookup", "map"), "closed"],
      [new BpfRuleError("open", "x is a array map, not cgroup storage"), "rule"],
      [new BpfTypeError("update", "value must be a Uint8Array"), "type"],
      [new BpfError("attach", "needs no cgroup v2 run as root", { errno: 16 }), "kernel"],
    ];
    for (const [e, kind] of errors) {
      expect((e as { kind?: string }).kind).toBe(kind);
      expect(exitFor(e)).toEqual({ code: Exit.FAILED, text: e.message });
    }
  });

  test("anything else is a bug: 1, with its stack", () => {
    const bug = new RangeError("offset out of bounds");
    expect(exitFor(bug)).toEqual({ code: Exit.FAILED, text: bug.stack! });
    expect(bug.stack).toMatch(/\n\s+at /);
    // Words that once picked the code by regex no longer do: a plain Error is a bug.
    const plain = new Error("no cgroup v2 filesystem is mounted; cannot load libbpf");
    expect(exitFor(plain).code).toBe(Exit.FAILED);
    expect(exitFor("thrown string")).toEqual({ code: Exit.FAILED, text: "thrown string" });
  });
});

describe("isParseArgsError", () => {
  const parseError = (args: string[]) => {
    try {
      parseArgs({ args, options: { id: { type: "string" } } });
    } catch (e) {
      return e;
    }
    throw new Error(`parseArgs accepted ${args.join(" ")}`);
  };

  test("parseArgs' refusals are recognised by their ERR_PARSE_ARGS_* code", () => {
    for (const args of [["--bogus"], ["--id"], ["extra"]]) expect(isParseArgsError(parseError(args))).toBe(true);
  });

  test("other TypeErrors, including cgstore's own, are not", () => {
    expect(isParseArgsError(new TypeError("Unknown option '--x'"))).toBe(false);
    expect(isParseArgsError(new BpfTypeError("update", "value must be a Uint8Array"))).toBe(false);
    expect(isParseArgsError(Object.assign(new Error("x"), { code: "ERR_PARSE_ARGS_UNKNOWN_OPTION" }))).toBe(false);
  });
});

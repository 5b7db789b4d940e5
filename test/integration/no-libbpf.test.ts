/**
 * Nothing is loaded at import: with LIBBPF_PATH pointing nowhere, cgstore still imports, its
 * pure parts work, the CLI's help works, and the first libbpf use is an "environment" BpfError
 * naming the path and the fix (the CLI's exit code 3). No kernel needed.
 */
import { spawnSync } from "node:child_process";
import { resolve } from "node:path";
import { describe, expect, test } from "../helpers/harness.ts";
import { bpf, CLI, scriptArgv } from "../helpers/env.ts";

const MISSING = "/nonexistent/cgstore-test-libbpf.so.1";

const FIXTURE = resolve(import.meta.dirname, "../fixtures/no-libbpf.ts");

/** Runs `file` with LIBBPF_PATH pointing nowhere, or (`missing` false) with this process's environment. */
function run(file: string, args: string[] = [], missing = true) {
  const [cmd, ...argv] = scriptArgv(file, args);
  const env = missing ? { ...process.env, LIBBPF_PATH: MISSING } : process.env;
  return spawnSync(cmd!, argv, { encoding: "utf8", env, timeout: 60_000 });
}

interface FixtureOutput {
  layoutSize: number;
  attachName: string;
  mappedBefore: boolean;
  mappedAfter: boolean;
  errors: { threw?: false; name?: string; kind?: string; errno?: number; message?: string }[];
}

describe("without libbpf", () => {
  test("importing cgstore loads nothing; the first libbpf use is an environment error", () => {
    const r = run(FIXTURE);
    expect(r.stderr).toBe("");
    expect(r.status).toBe(0);
    const out = JSON.parse(r.stdout) as FixtureOutput;
    expect(out.layoutSize).toBe(16);
    expect(out.attachName).toBe("CGROUP_INET_EGRESS");
    expect(out.errors).toHaveLength(2);
    for (const e of out.errors) {
      expect(e.name).toBe("BpfError");
      expect(e.kind).toBe("environment");
      expect(e.errno).toBeUndefined(); // never reached the kernel
      expect(e.message).toContain(`cannot load ${MISSING}`);
      expect(e.message).toContain("apt-get install libbpf1");
      expect(e.message).toContain("LIBBPF_PATH");
    }
  });

  test.skipIf(!bpf.ok)("with libbpf installed, it is mapped on first use, not at import", () => {
    const r = run(FIXTURE, [], false);
    expect(r.status).toBe(0);
    const out = JSON.parse(r.stdout) as FixtureOutput;
    expect(out.layoutSize).toBe(16);
    expect({ mappedBefore: out.mappedBefore, mappedAfter: out.mappedAfter, errors: out.errors })
      .toEqual({ mappedBefore: false, mappedAfter: true, errors: [{ threw: false }, { threw: false }] });
  });

  test("cgstore --help and cgstore demo --help exit 0", () => {
    for (const args of [["--help"], ["demo", "--help"]]) {
      const r = run(CLI, args);
      expect({ args, status: r.status, stderr: r.stderr }).toEqual({ args, status: 0, stderr: "" });
      expect(r.stdout).toContain("Usage");
    }
  });

  test("a command that needs libbpf exits 3 and names the fix", () => {
    const r = run(CLI, ["dump", "/sys/fs/bpf/cgstore-test-none"]);
    expect(r.status).toBe(3);
    expect(r.stderr).toContain(`cannot load ${MISSING}`);
    expect(r.stderr).toContain("apt-get install libbpf1");
  });
});

/**
 * The examples the README shows run as written, under the runtime running the tests (so under
 * both): examples/quickstart.ts, and examples/read-pinned.ts under Deno with only --allow-ffi.
 */
import { spawnSync } from "node:child_process";
import { resolve } from "node:path";
import { describe, expect, test } from "../helpers/harness.ts";
import { BpfObject } from "../../src/index.ts";
import { bpf, isDeno, native, scriptArgv } from "../helpers/env.ts";
import { closeLater, sendUdp, testCgroup, testPinPath, track } from "../helpers/fixture.ts";

const example = (name: string) => resolve(import.meta.dirname, "../../examples", name);

describe.skipIf(!bpf.ok)("README examples", () => {
  test("quickstart: 1000 datagrams counted at egress and ingress, per-CPU and locked agree", () => {
    const [cmd, ...argv] = scriptArgv(example("quickstart.ts"));
    const r = spawnSync(cmd!, argv, { encoding: "utf8" });
    expect(r.stderr).toBe("");
    expect(r.status).toBe(0);
    for (const hook of ["egress ", "ingress"]) {
      expect(r.stdout).toMatch(new RegExp(`^${hook}  packets 1000 \\(.*\\)  bytes 128000  shared/locked: 1000 packets, 128000 bytes$`, "m"));
    }
  });

  test("read-pinned: every entry decoded by BTF (under Deno with --allow-ffi only)", () => {
    const obj = closeLater(BpfObject.open(native("counter.bpf.o")).load());
    const cg = testCgroup("example");
    track(obj.program("count_egress").attachCgroup(cg));
    sendUdp(cg, 3, 100);
    const pin = testPinPath("example");
    closeLater(obj.map("pcpu_stats")).pin(pin);
    const [cmd, ...argv] = isDeno
      ? [process.execPath, "run", "--allow-ffi", example("read-pinned.ts"), pin]
      : scriptArgv(example("read-pinned.ts"), [pin]);
    const r = spawnSync(cmd!, argv, { encoding: "utf8" });
    expect(r.stderr).toBe("");
    expect(r.stdout).toMatch(/^pcpu_stats \(percpu_cgroup_storage, id \d+\)$/m);
    // Bun and Deno print objects differently (line breaks, a trailing comma): compare words.
    expect(r.stdout.replace(/,?\s+/g, " ")).toContain(`cgroup ${cg.id} CGROUP_INET_EGRESS: { packets: 3n bytes: ${3 * 128}n }`);
  });
});

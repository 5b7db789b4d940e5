/**
 * The CLI's paths and exits: `--cgroup` as `dump` prints it, missing paths, `--version`, `q`
 * and Ctrl-C on a terminal, and every permission failure as one line with exit 3.
 */
import { spawn, spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { afterEach, describe, expect, test } from "../helpers/harness.ts";
import { BpfObject, cgroupRoot } from "../../src/index.ts";
import { bpf, CLI, native, scriptArgv, spawnCli } from "../helpers/env.ts";
import { cleanup, closeLater, testCgroup, testPinPath, track } from "../helpers/fixture.ts";
import { cli, nobodyCanRun, STACK_FRAME } from "../helpers/cli.ts";

const pkg = JSON.parse(readFileSync(resolve(import.meta.dirname, "../../package.json"), "utf8"));
const hasScript = spawnSync("script", ["--version"]).status === 0;

/**
 * Runs `cgstore <args>` on a pseudo-terminal (util-linux `script`), types `key` once the first
 * screen is drawn, and resolves with the exit code (null if it had to be killed after 20 s).
 */
function onTerminal(args: string[], key: string): Promise<{ code: number | null; out: string }> {
  const command = scriptArgv(CLI, args).map((a) => `'${a.replaceAll("'", "'\\''")}'`).join(" ");
  const child = spawn("script", ["-qfec", command, "/dev/null"], { stdio: ["pipe", "pipe", "inherit"] });
  let out = "", typed = false;
  child.stdout!.on("data", (d: Buffer) => {
    out += d;
    if (!typed && /every /.test(out)) {
      typed = true;
      child.stdin!.write(key);
    }
  });
  const killer = setTimeout(() => child.kill("SIGKILL"), 20_000);
  return new Promise((ok) => child.once("exit", (code) => {
    clearTimeout(killer);
    ok({ code, out });
  }));
}

describe("cgstore --version", () => {
  test("--version and -V print package.json's version", () => {
    for (const flag of ["--version", "-V"]) expect(cli([flag])).toEqual({ code: 0, out: `cgstore ${pkg.version}\n`, err: "" });
  });
});

describe.skipIf(!bpf.ok)("--cgroup paths", () => {
  afterEach(cleanup);

  test("as dump prints it (with or without a leading /) and as an absolute path under the mount", () => {
    const cg = testCgroup("paths");
    const rel = cg.path.slice(cgroupRoot().length); // "/cgstore-test-…"
    for (const arg of [rel, rel.slice(1), cg.path]) {
      const r = cli(["top", "--cgroup", arg, "--iterations", "1", "--interval", "0.1"]);
      expect([arg, r.code, r.err]).toEqual([arg, 0, ""]);
      expect(r.out).toMatch(/top 2 of 2 by bytes/); // the cgroup itself, at egress and ingress
      expect(r.out).toContain(`${rel}  `);
    }
  });

  test("a path that does not exist is exit 2 naming it, for top and serve", () => {
    for (const command of ["top", "serve"]) {
      const r = cli([command, "--cgroup", "/cgstore-test-does-not-exist"]);
      expect([command, r.code]).toEqual([command, 2]);
      expect(r.err).toMatch(/^cgstore: --cgroup \/cgstore-test-does-not-exist: no such cgroup/);
      expect(r.err).toContain(`${cgroupRoot()}/cgstore-test-does-not-exist`);
    }
  });
});

describe.skipIf(!bpf.ok || !hasScript)("ending top and dump --watch", () => {
  afterEach(cleanup);

  function watchPin(): string {
    const obj = closeLater(BpfObject.open(native("counter.bpf.o")).load());
    track(obj.program("count_egress").attachCgroup(testCgroup("watch")));
    const pin = testPinPath("watch");
    closeLater(obj.map("pcpu_stats")).pin(pin);
    return pin;
  }

  for (const [name, key] of [["q", "q"], ["Ctrl-C", "\x03"]] as const) {
    test(`${name} on a terminal ends top and dump --watch with exit 0`, async () => {
      const top = await onTerminal(["top", "--cgroup", testCgroup("top").path, "--interval", "0.2"], key);
      expect(top.code).toBe(0);
      expect(top.out).toMatch(/top \d+ of \d+/);
      const dump = await onTerminal(["dump", watchPin(), "--watch", "0.2"], key);
      expect(dump.code).toBe(0);
      expect(dump.out).toMatch(/q or Ctrl-C to stop/);
    }, 60_000);
  }

  test("SIGINT (Ctrl-C without a terminal) ends top with exit 0", async () => {
    const child = spawnCli(["top", "--cgroup", testCgroup("sigint").path, "--interval", "0.2"], { stdio: ["ignore", "pipe", "inherit"] });
    await new Promise<void>((ok) => child.stdout!.on("data", (d: Buffer) => d.toString().includes("top ") && ok()));
    process.kill(child.pid!, "SIGINT");
    expect(await new Promise((ok) => child.once("exit", ok))).toBe(0);
  }, 30_000);
});

describe.skipIf(!bpf.ok || !nobodyCanRun)("permission failures as an unprivileged user (uid 65534)", () => {
  afterEach(cleanup);

  test("every command: exit 3, one line saying what is missing, no stack, no libbpf noise (unless --verbose)", () => {
    const obj = closeLater(BpfObject.open(native("counter.bpf.o")).load());
    const pin = testPinPath("nobody");
    closeLater(obj.map("pcpu_stats")).pin(pin);
    const cg = testCgroup("nobody").path;
    for (const args of [
      ["dump", pin], ["dump", "--id", "1"], ["top", "--cgroup", cg], ["top", "--map", pin],
      ["serve", "--cgroup", cg], ["serve", "--map", pin], ["demo"],
    ]) {
      const r = cli(args, { as: "nobody" });
      expect([args, r.code]).toEqual([args, 3]);
      expect([args, r.err.trimEnd().split("\n")]).toEqual([args, [expect.stringMatching(/^cgstore: .*(root|CAP_BPF|CAP_SYS_ADMIN|owner of the cgroup|file mode)/)]]);
      expect(r.err).not.toMatch(STACK_FRAME);
    }
    const verbose = cli(["top", "--cgroup", cg, "--verbose"], { as: "nobody" });
    expect(verbose.code).toBe(3);
    expect(verbose.err).toMatch(/^libbpf: /m);
  });
});

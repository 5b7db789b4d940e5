/**
 * Can this process use BPF? Integration tests gate on it; under CI=true a missing capability
 * fails the run instead of skipping it, so CI cannot go green on a machine that tested nothing.
 */
import { existsSync, readFileSync } from "node:fs";
import { resolve } from "node:path";
import { libbpf, runtime } from "../../src/ffi/index.ts";
import { spawn, type ChildProcess, type SpawnOptions } from "node:child_process";

export const NATIVE_BUILD = resolve(import.meta.dirname, "../../native/build");
export const native = (file: string) => resolve(NATIVE_BUILD, file);

function probe(): { ok: boolean; why: string } {
  if (process.platform !== "linux") return { ok: false, why: "not Linux" };
  if (process.env.SKIP_BPF_TESTS === "1") return { ok: false, why: "SKIP_BPF_TESTS=1" };
  // libbpf comes through cgstore's own FFI layer (Bun or Deno), opened by this first call; a
  // missing one throws an "environment" BpfError with the fix in its message.
  let probe: number;
  try {
    probe = libbpf.probeMapType(21); // BPF_MAP_TYPE_PERCPU_CGROUP_STORAGE
  } catch (e) {
    return { ok: false, why: (e as Error).message };
  }
  if (probe !== 1) return { ok: false, why: `cannot create cgroup storage maps (probe=${probe}); run as root` };
  if (!readFileSync("/proc/self/mountinfo", "utf8").includes(" - cgroup2 ")) {
    return { ok: false, why: "no cgroup v2 mount" };
  }
  if (!existsSync(native("counter.bpf.o"))) return { ok: false, why: "native/ not built (make -C native)" };
  return { ok: true, why: "" };
}

export const bpf = probe();
if (!bpf.ok) {
  if (process.env.CI === "true") {
    throw new Error(`BPF integration tests cannot run under CI=true: ${bpf.why}`);
  }
  console.warn(`[cgstore] BPF integration tests skipped: ${bpf.why}`);
}

/** Running under Deno (tests whose subject Deno cannot do yet are skipped with the reason). */
export const isDeno = runtime === "deno";

/**
 * argv that runs a TypeScript file (the CLI, a fixture) with the runtime running the tests:
 * `bun file …` or `deno run -A file …` (Deno ≥ 1.43 needs --allow-all for /proc and /sys).
 */
export function scriptArgv(file: string, args: string[] = []): string[] {
  return isDeno ? [process.execPath, "run", "-A", file, ...args] : [process.execPath, file, ...args];
}

/** The `cgstore` command's entry point. */
export const CLI = resolve(import.meta.dirname, "../../src/cli/main.ts");

/** Starts `cgstore <args>` with the runtime running the tests. */
export function spawnCli(args: string[], options: SpawnOptions): ChildProcess {
  const [cmd, ...argv] = scriptArgv(CLI, args);
  return spawn(cmd!, argv, options);
}

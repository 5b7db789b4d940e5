/**
 * Can this process use BPF? Integration tests gate on it; under CI=true a missing capability
 * fails the run instead of skipping it, so CI cannot go green on a machine that tested nothing.
 */
import { existsSync, readFileSync } from "node:fs";
import { resolve } from "node:path";

export const NATIVE_BUILD = resolve(import.meta.dir, "../../native/build");
export const native = (file: string) => resolve(NATIVE_BUILD, file);

function probe(): { ok: boolean; why: string } {
  if (process.platform !== "linux") return { ok: false, why: "not Linux" };
  if (process.env.SKIP_BPF_TESTS === "1") return { ok: false, why: "SKIP_BPF_TESTS=1" };
  let lib;
  try {
    lib = require("bun:ffi").dlopen(process.env.LIBBPF_PATH || "libbpf.so.1", {
      libbpf_probe_bpf_map_type: { args: ["i32", "ptr"], returns: "i32" },
    });
  } catch (e) {
    return { ok: false, why: `libbpf.so.1 not loadable: ${(e as Error).message}` };
  }
  const r = lib.symbols.libbpf_probe_bpf_map_type(21, null); // PERCPU_CGROUP_STORAGE; never close()
  if (r !== 1) return { ok: false, why: `cannot create cgroup storage maps (probe=${r}); run as root` };
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

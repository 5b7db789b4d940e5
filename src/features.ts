/**
 * Kernel features that change how cgstore talks to the kernel, each probed once per process.
 * A probe asks the kernel itself (never the version string: distributions backport).
 */
import { libbpf } from "./ffi/index.ts";
import { ElemFlags, MapType } from "./constants.ts";
import { EINVAL, ENOENT, errnoName } from "./errors.ts";

/** What a probe found, and how it knows. */
export interface FeatureProbe {
  /** Whether the kernel has the feature. */
  readonly supported: boolean;
  /** How the probe decided, for messages and tests. */
  readonly how: string;
}

let cpuFlags: FeatureProbe | undefined;

/** Asks `fd` (a per-CPU cgroup storage map) for a missing key with `BPF_F_CPU`. */
function askCpuFlags(fd: number, what: string): FeatureProbe {
  // Cgroup id 0 (no cgroup has it) with attach type 0; a 16-byte buffer serves both key sizes
  // (the kernel reads key_size bytes). Kernels that know the flag check it and then miss the
  // key (ENOENT); older ones refuse any flag but BPF_F_LOCK (EINVAL) before looking.
  const key = new Uint8Array(new ArrayBuffer(16));
  const value = new Uint8Array(new ArrayBuffer(8 * 1024));
  const rc = libbpf.mapLookupElemFlags(fd, libbpf.pointer(key), libbpf.pointer(value), ElemFlags.cpu(0));
  if (rc === -ENOENT) return { supported: true, how: `${what}: a BPF_F_CPU lookup of a missing key answered ENOENT` };
  if (rc === -EINVAL) return { supported: false, how: `${what}: a BPF_F_CPU lookup answered EINVAL (kernel < 7.0)` };
  return { supported: false, how: `${what}: a BPF_F_CPU lookup answered ${rc === 0 ? "0" : errnoName(-rc)}, so the flag is not used` };
}

/**
 * Whether the kernel takes `BPF_F_CPU` / `BPF_F_ALL_CPUS` on per-CPU cgroup storage (7.0+).
 * Probed on a throwaway 8-byte-key map; if this process may not create one, on `fallbackFd`
 * (a per-CPU cgroup storage map the caller holds). Cached for the process once decided.
 * Without the flags cgstore gets the same results through the full per-CPU buffer.
 */
export function perCpuElemFlags(fallbackFd?: number): FeatureProbe {
  if (cpuFlags) return cpuFlags;
  const fd = libbpf.mapCreate(MapType.PERCPU_CGROUP_STORAGE, null, 8, 8, 0, null);
  if (fd >= 0) {
    try {
      cpuFlags = askCpuFlags(fd, "probe map");
    } finally {
      libbpf.close(fd);
    }
    return cpuFlags;
  }
  if (fallbackFd !== undefined) return (cpuFlags = askCpuFlags(fallbackFd, `map fd (no probe map: ${errnoName(-fd)})`));
  return { supported: false, how: `no probe map (${errnoName(-fd)}) and no map to ask` }; // not cached: a map may come
}

/**
 * Forces the answer of {@link perCpuElemFlags} (`false`: the fallback path even on 7.0+), or
 * with `undefined` forgets it so the next call probes again. For tests of both paths.
 * @internal
 */
export function overridePerCpuElemFlags(supported: boolean | undefined): void {
  cpuFlags = supported === undefined ? undefined : { supported, how: "overridden" };
}

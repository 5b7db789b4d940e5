/** UAPI constants (include/uapi/linux/bpf.h) in the kernel's own vocabulary. */
import { BpfRuleError } from "./errors.ts";

/** `enum bpf_map_type` values cgstore deals with. */
export const MapType = {
  HASH: 1,
  ARRAY: 2,
  CGROUP_STORAGE: 19,
  PERCPU_CGROUP_STORAGE: 21,
  /** Added in 6.2, so missing from Debian 12's 6.1 headers. */
  CGRP_STORAGE: 32,
} as const;
export type MapType = (typeof MapType)[keyof typeof MapType];

const MAP_TYPE_NAMES: readonly string[] = [
  "unspec", "hash", "array", "prog_array", "perf_event_array", "percpu_hash", "percpu_array",
  "stack_trace", "cgroup_array", "lru_hash", "lru_percpu_hash", "lpm_trie", "array_of_maps",
  "hash_of_maps", "devmap", "sockmap", "cpumap", "xskmap", "sockhash", "cgroup_storage",
  "reuseport_sockarray", "percpu_cgroup_storage", "queue", "stack", "sk_storage", "devmap_hash",
  "struct_ops", "ringbuf", "inode_storage", "task_storage", "bloom_filter", "user_ringbuf",
  "cgrp_storage", "arena",
];

/** The kernel's name for a map type number (`percpu_cgroup_storage`), or `type N`. */
export function mapTypeName(type: number): string {
  return MAP_TYPE_NAMES[type] ?? `type ${type}`;
}

/** `enum bpf_attach_type`: the cgroup attach points (the only ones a storage key can hold). */
export const AttachType = {
  CGROUP_INET_INGRESS: 0,
  CGROUP_INET_EGRESS: 1,
  CGROUP_INET_SOCK_CREATE: 2,
  CGROUP_SOCK_OPS: 3,
  CGROUP_DEVICE: 6,
  CGROUP_INET4_BIND: 8,
  CGROUP_INET6_BIND: 9,
  CGROUP_INET4_CONNECT: 10,
  CGROUP_INET6_CONNECT: 11,
  CGROUP_INET4_POST_BIND: 12,
  CGROUP_INET6_POST_BIND: 13,
  CGROUP_UDP4_SENDMSG: 14,
  CGROUP_UDP6_SENDMSG: 15,
  CGROUP_SYSCTL: 18,
  CGROUP_UDP4_RECVMSG: 19,
  CGROUP_UDP6_RECVMSG: 20,
  CGROUP_GETSOCKOPT: 21,
  CGROUP_SETSOCKOPT: 22,
  CGROUP_INET4_GETPEERNAME: 29,
  CGROUP_INET6_GETPEERNAME: 30,
  CGROUP_INET4_GETSOCKNAME: 31,
  CGROUP_INET6_GETSOCKNAME: 32,
  CGROUP_INET_SOCK_RELEASE: 34,
  LSM_CGROUP: 43,
  CGROUP_UNIX_CONNECT: 49,
  CGROUP_UNIX_SENDMSG: 50,
  CGROUP_UNIX_RECVMSG: 51,
  CGROUP_UNIX_GETPEERNAME: 52,
  CGROUP_UNIX_GETSOCKNAME: 53,
} as const;
export type AttachType = (typeof AttachType)[keyof typeof AttachType];

const ATTACH_TYPE_NAMES = new Map<number, string>(
  Object.entries(AttachType).map(([name, value]) => [value, name]),
);

/** `CGROUP_INET_EGRESS` for 1; `attach type N` for numbers that are not cgroup attach points. */
export function attachTypeName(type: number): string {
  return ATTACH_TYPE_NAMES.get(type) ?? `attach type ${type}`;
}

/** True for attach types that attach to a cgroup (and so can appear in a storage key). */
export function isCgroupAttachType(type: number): boolean {
  return ATTACH_TYPE_NAMES.has(type);
}

/** `BPF_F_CPU`: the flag word's upper 32 bits name one CPU (per-CPU maps, kernel ≥ 7.0). */
const F_CPU = 8;
/** 2^32: the CPU number's place in a 64-bit flag word. */
const CPU_SHIFT = 2 ** 32;
/**
 * Largest CPU number `ElemFlags.cpu()` takes: `F_CPU + n × 2^32` stays an exact JavaScript
 * number (< 2^53) up to here, far above any kernel's NR_CPUS (8192 on x86_64).
 */
export const MAX_CPU_FLAG = 2 ** 20;

/**
 * A flag word naming one CPU of a per-CPU map: `ElemFlags.cpu(n)` (`BPF_F_CPU | n << 32`).
 * Branded so that a bare number, such as an attach type passed where the key's belongs
 * (`lookup(id, AttachType.CGROUP_INET_EGRESS)`), is not taken for it.
 */
export type CpuFlags = number & { readonly __cgstoreCpuFlags: true };

/** The type of {@link ElemFlags} (spelled out for JSR). */
export interface ElemFlagsTable {
  readonly ANY: 0;
  readonly NOEXIST: 1;
  readonly EXIST: 2;
  /** Copy the value under the `bpf_spin_lock` it holds (shared maps only). */
  readonly F_LOCK: 4;
  /**
   * `BPF_F_ALL_CPUS`: `update(key, value, ElemFlags.ALL_CPUS)` writes one value (`valueSize`
   * bytes) to every CPU of a per-CPU map. Native on kernel ≥ 7.0; older kernels get the same
   * result through the full per-CPU buffer. Update only.
   */
  readonly ALL_CPUS: 16;
  /**
   * `BPF_F_CPU` with CPU `n` in the upper 32 bits: `lookup(key, ElemFlags.cpu(n))` reads CPU
   * n's value of a per-CPU map, `update(key, value, ElemFlags.cpu(n))` writes it (native on
   * kernel ≥ 7.0, emulated before: see `PerCpuCgroupStorageMap.update`). Add `EXIST` for an
   * update if you like (`ElemFlags.cpu(n) + ElemFlags.EXIST`). `n` is checked against the map's
   * possible CPUs when used; here only that it is a whole number ≤ {@link MAX_CPU_FLAG}.
   */
  cpu(n: number): CpuFlags;
}

/** Element flags for lookup and update (`BPF_ANY` …). */
export const ElemFlags: ElemFlagsTable = {
  ANY: 0,
  NOEXIST: 1,
  EXIST: 2,
  F_LOCK: 4,
  ALL_CPUS: 16,
  cpu(n: number): CpuFlags {
    if (!Number.isInteger(n) || n < 0 || n > MAX_CPU_FLAG) {
      throw new BpfRuleError("lookup", `ElemFlags.cpu(${String(n)}): the CPU must be a whole number in 0..${MAX_CPU_FLAG}`,
        "CPUs are numbered from 0 to the map's possible CPUs less one (map.cpus)");
    }
    return (F_CPU + n * CPU_SHIFT) as CpuFlags;
  },
};

/** The raw `BPF_F_CPU` bit (use `ElemFlags.cpu(n)`, which also places the CPU number). */
export const F_CPU_FLAG = F_CPU;

/** The CPU a flag word names (its upper 32 bits); exact for any flag below 2^53. */
export function cpuOfFlags(flags: number): number {
  return Math.floor(flags / CPU_SHIFT);
}

/** A flag word's lower 32 bits (the `BPF_*` bits). */
export function lowFlags(flags: number): number {
  return flags % CPU_SHIFT;
}

/** Map-create flags these maps accept (`BPF_F_*`). */
export const MapFlags = {
  NUMA_NODE: 1 << 2,
  RDONLY: 1 << 3,
  WRONLY: 1 << 4,
  RDONLY_PROG: 1 << 7,
  WRONLY_PROG: 1 << 8,
} as const;

/** Attach flags for `bpf_prog_attach`. */
export const AttachFlags = {
  ALLOW_OVERRIDE: 1,
  ALLOW_MULTI: 2,
} as const;

/** `sizeof(struct bpf_cgroup_storage_key)`: u64 id, u32 attach type, 4 bytes padding. */
export const STORAGE_KEY_SIZE = 16;
/** A key that is only the u64 cgroup id: the entry is shared by all attach types. */
export const CGROUP_ID_KEY_SIZE = 8;
/** Largest value of a shared map: `BPF_LOCAL_STORAGE_MAX_VALUE_SIZE` on x86_64 (kernel ≥ 5.15). */
export const MAX_SHARED_VALUE_SIZE = 65407;
/** Largest value of a per-CPU map: `PCPU_MIN_UNIT_SIZE` (kernel ≥ 5.15). */
export const MAX_PERCPU_VALUE_SIZE = 32768;
/** `BPF_OBJ_NAME_LEN` less the NUL. */
export const MAX_MAP_NAME_LENGTH = 15;

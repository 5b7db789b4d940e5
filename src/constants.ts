/** UAPI constants (include/uapi/linux/bpf.h) in the kernel's own vocabulary. */

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

/** Element flags for lookup and update (`BPF_ANY` …). */
export const ElemFlags = {
  ANY: 0,
  NOEXIST: 1,
  EXIST: 2,
  /** Copy the value under the `bpf_spin_lock` it holds (shared maps only). */
  F_LOCK: 4,
} as const;

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

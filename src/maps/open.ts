/** Getting a map handle: `openMap` (pinned path, id, fd) and `createMap`. */
import { statfsSync } from "node:fs";
import { dirname } from "node:path";
import { libbpf } from "../ffi/index.ts";
import { encodeMapCreateOpts } from "../ffi/structs.ts";
import { BpfRuleError, bpfError } from "../errors.ts";
import { readLink } from "../bytepath.ts";
import {
  CGROUP_ID_KEY_SIZE, MapFlags, MapType, MAX_MAP_NAME_LENGTH, MAX_PERCPU_VALUE_SIZE,
  MAX_SHARED_VALUE_SIZE, STORAGE_KEY_SIZE, mapTypeName,
} from "../constants.ts";
import { readMapInfo } from "./info.ts";
import { CgroupStorageMap } from "./cgroup-storage.ts";
import { PerCpuCgroupStorageMap } from "./percpu-cgroup-storage.ts";

/** Either kind of cgroup storage map handle. */
export type AnyStorageMap = CgroupStorageMap | PerCpuCgroupStorageMap;

/** Where to find a map: a pinned path on bpffs, a kernel map id, or an fd (duplicated). */
export type MapSource = string | { id: number } | { fd: number };

/** Wraps an fd this module owns, by the map's real type; closes it on any failure. */
export function mapFromFd(fd: number, what: string): AnyStorageMap {
  try {
    const kind = fdKind(fd);
    if (kind !== "bpf-map") {
      throw new BpfRuleError("open", `${what} is ${kind ? `a ${kind}` : "not a BPF object"}, not a BPF map`);
    }
    const info = readMapInfo(fd);
    if (info.type === MapType.CGROUP_STORAGE) return new CgroupStorageMap(fd, info);
    if (info.type === MapType.PERCPU_CGROUP_STORAGE) return new PerCpuCgroupStorageMap(fd, info);
    const newer = info.type === MapType.CGRP_STORAGE
      ? " (BPF_MAP_TYPE_CGRP_STORAGE, keyed by cgroup fd, is a different map kind that cgstore does not handle yet)"
      : "";
    throw new BpfRuleError(
      "open",
      `${what} is a ${info.typeName} map (type ${info.type}, "${info.name}"), not cgroup storage: ` +
        `cgstore opens ${mapTypeName(MapType.CGROUP_STORAGE)} and ${mapTypeName(MapType.PERCPU_CGROUP_STORAGE)} maps${newer}`,
    );
  } catch (e) {
    libbpf.close(fd);
    throw e;
  }
}

const BPF_FS_MAGIC = 0xcafe4a11;

/** Whether `path` (or, if it does not exist, its directory) is on a bpf filesystem. */
function onBpffs(path: string): boolean {
  for (const p of [path, dirname(path)]) {
    try {
      return statfsSync(p).type === BPF_FS_MAGIC;
    } catch {
      // try the parent
    }
  }
  return false;
}

/** `bpf-map`, `bpf-prog`, `bpf-link`… from the fd's anon inode name, or null for other files. */
function fdKind(fd: number): string | null {
  // readlink through libc: a runtime's own file API may ask for permission (Deno: /proc needs -A).
  const target = readLink(`/proc/self/fd/${fd}`);
  if (target === null) return "bpf-map"; // no /proc: let bpf_obj_get_info_by_fd decide
  const m = /^anon_inode:(bpf-[a-z_]+)/.exec(target);
  return m ? m[1]! : null;
}

/**
 * Opens an existing cgroup storage map and returns the handle for its real type:
 * `CgroupStorageMap` (shared) or `PerCpuCgroupStorageMap`.
 * ```ts
 * using map = openMap("/sys/fs/bpf/my_counters");
 * ```
 * An `{ fd }` is duplicated, so closing the handle leaves the caller's fd open.
 */
export function openMap(source: MapSource): AnyStorageMap {
  if (typeof source === "string") {
    const fd = libbpf.objGet(source);
    if (fd < 0) {
      throw bpfError("open", fd, `bpf_obj_get(${source})`,
        !onBpffs(source) ? `${source} is not on a bpf filesystem; pinned maps live under one (mount -t bpf bpf /sys/fs/bpf)`
        : fd === -2 ? `nothing is pinned at ${source}; was the map pinned there?`
        : fd === -22 ? `${source} is not a pinned BPF object` : undefined);
    }
    return mapFromFd(fd, source);
  }
  if ("id" in source) {
    checkU32("open", "map id", source.id);
    const fd = libbpf.mapGetFdById(source.id);
    if (fd < 0) {
      throw bpfError("open", fd, `bpf_map_get_fd_by_id(${source.id})`,
        fd === -2 ? `no map has id ${source.id} (bpftool map list shows the live ones)` : undefined);
    }
    return mapFromFd(fd, `map id ${source.id}`);
  }
  checkU32("open", "fd", source.fd);
  const fd = libbpf.dupCloexec(source.fd);
  if (fd < 0) throw bpfError("open", fd, `fcntl(F_DUPFD_CLOEXEC) of fd ${source.fd}`, "is it an open fd?");
  return mapFromFd(fd, `fd ${source.fd}`);
}

/** Options of `createMap`. */
export interface CreateMapOptions {
  /** true: BPF_MAP_TYPE_PERCPU_CGROUP_STORAGE; false: BPF_MAP_TYPE_CGROUP_STORAGE. */
  perCpu: boolean;
  /** Bytes per value: 1..65407 shared, 1..32768 per-CPU (kernels ≥ 5.15; 4096 before). */
  valueSize: number;
  /** 16: `{cgroup id, attach type}`, an entry per attach type (default); 8: cgroup id only. */
  keySize?: 8 | 16;
  /** Up to 15 characters of `[A-Za-z0-9_.]`. */
  name?: string;
  /** `MapFlags.RDONLY`, `WRONLY`, `RDONLY_PROG`, `WRONLY_PROG` (NUMA_NODE comes from numaNode). */
  flags?: number;
  /** NUMA node to allocate on (sets BPF_F_NUMA_NODE). */
  numaNode?: number;
}

const ALLOWED_FLAGS = MapFlags.NUMA_NODE | MapFlags.RDONLY | MapFlags.WRONLY |
  MapFlags.RDONLY_PROG | MapFlags.WRONLY_PROG;

/** Checks `opts` against every rule `map_create` and `cgroup_storage_map_alloc` enforce. */
export function checkCreateOptions(opts: CreateMapOptions): { keySize: number; flags: number } {
  const keySize = opts.keySize ?? STORAGE_KEY_SIZE;
  if (keySize !== STORAGE_KEY_SIZE && keySize !== CGROUP_ID_KEY_SIZE) {
    throw new BpfRuleError("create", `keySize must be 16 (struct bpf_cgroup_storage_key: an entry per cgroup and attach type) or 8 (u64 cgroup id: one entry per cgroup); got ${String(keySize)}`);
  }
  const max = opts.perCpu ? MAX_PERCPU_VALUE_SIZE : MAX_SHARED_VALUE_SIZE;
  const kind = opts.perCpu ? "per-CPU" : "shared";
  if (!Number.isInteger(opts.valueSize) || opts.valueSize < 1) {
    throw new BpfRuleError("create", `valueSize must be a whole number of bytes ≥ 1; got ${String(opts.valueSize)}`);
  }
  if (opts.valueSize > max) {
    throw new BpfRuleError("create", `valueSize ${opts.valueSize} is over the ${kind} cgroup storage limit of ${max} bytes`);
  }
  let flags = opts.flags ?? 0;
  if (!Number.isInteger(flags) || flags < 0 || (flags & ~ALLOWED_FLAGS) !== 0) {
    throw new BpfRuleError("create", `flags 0x${flags.toString(16)}: cgroup storage maps accept only RDONLY, WRONLY, RDONLY_PROG, WRONLY_PROG (and NUMA_NODE via numaNode)`);
  }
  if ((flags & MapFlags.RDONLY) && (flags & MapFlags.WRONLY)) {
    throw new BpfRuleError("create", "RDONLY and WRONLY together leave no access: pick one");
  }
  if ((flags & MapFlags.RDONLY_PROG) && (flags & MapFlags.WRONLY_PROG)) {
    throw new BpfRuleError("create", "RDONLY_PROG and WRONLY_PROG together leave programs no access: pick one");
  }
  if (opts.numaNode !== undefined) {
    checkU32("create", "numaNode", opts.numaNode);
    flags |= MapFlags.NUMA_NODE;
  } else if (flags & MapFlags.NUMA_NODE) {
    throw new BpfRuleError("create", "NUMA_NODE needs a node: pass numaNode instead of the flag");
  }
  if (opts.name !== undefined && !/^[A-Za-z0-9_.]{0,15}$/.test(opts.name)) {
    throw new BpfRuleError("create", `name "${opts.name}" must be at most ${MAX_MAP_NAME_LENGTH} characters of [A-Za-z0-9_.]`);
  }
  return { keySize, flags };
}

/**
 * Creates a new, empty cgroup storage map. Its entries appear only when a BPF program using it
 * is attached to a cgroup; user space cannot create them. Every kernel rule is checked first,
 * so a bad option is a `BpfRuleError` naming the rule instead of a bare EINVAL.
 */
export function createMap(opts: CreateMapOptions): AnyStorageMap {
  const { keySize, flags } = checkCreateOptions(opts);
  const type = opts.perCpu ? MapType.PERCPU_CGROUP_STORAGE : MapType.CGROUP_STORAGE;
  // referenced until the call returns (its pointer is used)
  const optsView = encodeMapCreateOpts({ mapFlags: flags, numaNode: opts.numaNode ?? 0 });
  const fd = libbpf.mapCreate(type, opts.name ?? null, keySize, opts.valueSize, 0, libbpf.pointer(optsView));
  void optsView.byteLength;
  if (fd < 0) {
    throw bpfError("create", fd, `bpf_map_create(${mapTypeName(type)}, key ${keySize}, value ${opts.valueSize})`,
      fd === -7 ? "this kernel's limit is lower (before 5.15 values were limited to 4096 bytes)"
      : fd === -22 && opts.numaNode !== undefined ? `NUMA node ${opts.numaNode} does not exist or is offline`
      : undefined);
  }
  return mapFromFd(fd, "new map");
}

function checkU32(op: "open" | "create", what: string, n: unknown): void {
  if (typeof n !== "number" || !Number.isInteger(n) || n < 0 || n > 0xffffffff) {
    throw new BpfRuleError(op, `${what} must be a non-negative 32-bit integer; got ${String(n)}`);
  }
}

/** Getting a map handle of whichever cgroup storage type: `openMap` and `createMap`. */
import { libbpf } from "../ffi/index.ts";
import { encodeMapCreateOpts } from "../ffi/structs.ts";
import { BpfRuleError, bpfError, typeMismatch, E2BIG, EINVAL } from "../errors.ts";
import {
  CGROUP_ID_KEY_SIZE, MapFlags, MapType, MAX_MAP_NAME_LENGTH, MAX_PERCPU_VALUE_SIZE,
  MAX_SHARED_VALUE_SIZE, STORAGE_KEY_SIZE, mapTypeName,
} from "../constants.ts";
import { Layout } from "../btf/layout.ts";
import type { DecodedStruct, Schema, SchemaValue } from "../btf/schema.ts";
import { CgroupStorageMap } from "./cgroup-storage.ts";
import { PerCpuCgroupStorageMap } from "./percpu-cgroup-storage.ts";
import { mapInfoOf, openSource, requestedAccess, type MapSource, type OpenMapOptions } from "./source.ts";
import { CgrpStorageMap } from "./cgrp-storage.ts";
import { checkCgrpCreateOptions, createCgrpMap, type CreateCgrpMapOptions } from "./cgrp-create.ts";

export type { MapAccess, MapSource, OpenMapOptions } from "./source.ts";

/**
 * The two legacy cgroup storage map handles (get_next_key scans, `{ cgroupId, attachType }` or
 * id keys). Narrow an `AnyStorageMap` to it with `isLegacyStorageMap(m)`.
 */
export type LegacyStorageMap<T = DecodedStruct> = CgroupStorageMap<T> | PerCpuCgroupStorageMap<T>;

/**
 * Any cgroup storage map handle: the legacy two, or `CgrpStorageMap` (BPF_MAP_TYPE_CGRP_STORAGE,
 * keyed by cgroup). Narrow it with `CgroupStorageMap.from(m)`, `CgrpStorageMap.from(m)` … or `instanceof`.
 */
export type AnyStorageMap<T = DecodedStruct> = LegacyStorageMap<T> | CgrpStorageMap<T>;

/** True for the legacy map handles (what a get_next_key scan and `{ cgroupId, attachType }` keys need). */
export function isLegacyStorageMap<T>(map: AnyStorageMap<T>): map is LegacyStorageMap<T> {
  return map instanceof CgroupStorageMap || map instanceof PerCpuCgroupStorageMap;
}

/** Wraps an fd this module owns, by the map's real type; closes it on any failure. @internal */
export function mapFromFd(fd: number, what: string): AnyStorageMap {
  const info = mapInfoOf(fd, what);
  if (info.type === MapType.CGROUP_STORAGE) return new CgroupStorageMap(fd, info);
  if (info.type === MapType.PERCPU_CGROUP_STORAGE) return new PerCpuCgroupStorageMap(fd, info);
  if (info.type === MapType.CGRP_STORAGE) return new CgrpStorageMap(fd, info);
  libbpf.close(fd);
  throw new BpfRuleError("open",
    `${what} is a ${info.typeName} map (type ${info.type}, "${info.name}"), not cgroup storage: cgstore opens ` +
      `${mapTypeName(MapType.CGROUP_STORAGE)}, ${mapTypeName(MapType.PERCPU_CGROUP_STORAGE)} and ${mapTypeName(MapType.CGRP_STORAGE)} maps`);
}

/**
 * Opens an existing cgroup storage map and returns the handle for its real type:
 * `CgroupStorageMap` (shared), `PerCpuCgroupStorageMap` or `CgrpStorageMap`. When the type is
 * known, prefer `CgroupStorageMap.open(source)` (… `CgrpStorageMap.open`), which return it typed.
 * ```ts
 * using map = openMap("/sys/fs/bpf/my_counters");
 * ```
 * An `{ fd }` is duplicated, so closing the handle leaves the caller's fd open. A reader opens
 * with `{ access: "read" }` (`BPF_F_RDONLY`): a pin whose mode lets this user only read
 * (0644, 0444) opens, and the handle refuses every write (kind "permission").
 */
export function openMap(source: MapSource, options?: OpenMapOptions): AnyStorageMap {
  const access = requestedAccess(options);
  const { fd, what } = openSource(source, access);
  const map = mapFromFd(fd, what);
  if (access === "read") map.limitToReading();
  return map;
}

/**
 * What `createMap` makes: `"shared"` (BPF_MAP_TYPE_CGROUP_STORAGE), `"percpu"`, or `"cgrp"`
 * (BPF_MAP_TYPE_CGRP_STORAGE, kernel ≥ 6.2).
 */
export type StorageMapKind = "shared" | "percpu" | "cgrp";

interface CreateMapCommon {
  /** 16: `{cgroup id, attach type}`, an entry per attach type (default); 8: cgroup id only. */
  keySize?: 8 | 16;
  /** Up to 15 characters of `[A-Za-z0-9_.]`. */
  name?: string;
  /** `MapFlags.RDONLY`, `WRONLY`, `RDONLY_PROG`, `WRONLY_PROG` (NUMA_NODE comes from numaNode). */
  flags?: number;
  /** NUMA node to allocate on (sets BPF_F_NUMA_NODE). */
  numaNode?: number;
}

/** Options of `createMap`: the type, and the value as a size or a schema. */
export type CreateMapOptions<S extends Schema = Schema> = CreateCgrpMapOptions<S> | CreateMapCommon & { type: "shared" | "percpu" } & (
  /** Bytes per value: 1..65407 shared, 1..32768 per-CPU (kernels ≥ 5.15; 4096 before). */
  | { valueSize: number; schema?: undefined }
  /** The value's fields; the map's value size is the schema's C size, and the handle is typed by it. */
  | { schema: S; valueSize?: undefined }
);

const ALLOWED_FLAGS = MapFlags.NUMA_NODE | MapFlags.RDONLY | MapFlags.WRONLY |
  MapFlags.RDONLY_PROG | MapFlags.WRONLY_PROG;

/** Checks `opts` against every rule `map_create` and `cgroup_storage_map_alloc` enforce. @internal */
export function checkCreateOptions(opts: CreateMapOptions): { type: number; keySize: number; valueSize: number; flags: number; layout?: Layout } {
  if (typeof opts !== "object" || opts === null) typeMismatch("create", "createMap's options", '{ type: "shared" | "percpu", valueSize | schema, … }', opts);
  const kindName = (opts as { type?: unknown }).type;
  if (kindName !== "shared" && kindName !== "percpu") {
    throw new BpfRuleError("create", `type must be "shared" (cgroup_storage), "percpu" (percpu_cgroup_storage) or "cgrp" (cgrp_storage); got ${JSON.stringify(kindName) ?? String(kindName)}`);
  }
  opts = opts as Exclude<CreateMapOptions, { type: "cgrp" }>;
  const perCpu = kindName === "percpu";
  const keySize = opts.keySize ?? STORAGE_KEY_SIZE;
  if (keySize !== STORAGE_KEY_SIZE && keySize !== CGROUP_ID_KEY_SIZE) {
    throw new BpfRuleError("create", `keySize must be 16 (struct bpf_cgroup_storage_key: an entry per cgroup and attach type) or 8 (u64 cgroup id: one entry per cgroup); got ${String(keySize)}`);
  }
  if ((opts.schema === undefined) === (opts.valueSize === undefined)) {
    throw new BpfRuleError("create", "give the value as exactly one of valueSize (bytes) or schema ({ packets: \"u64\", … })");
  }
  const layout = opts.schema === undefined ? undefined : Layout.fromSchema(opts.schema);
  const valueSize = layout?.size ?? opts.valueSize!;
  const max = perCpu ? MAX_PERCPU_VALUE_SIZE : MAX_SHARED_VALUE_SIZE;
  if (typeof valueSize !== "number") typeMismatch("create", "valueSize", "a number of bytes", valueSize);
  if (!Number.isInteger(valueSize) || valueSize < 1) {
    throw new BpfRuleError("create", `valueSize must be a whole number of bytes ≥ 1; got ${valueSize}`);
  }
  if (valueSize > max) {
    throw new BpfRuleError("create", `valueSize ${valueSize} is over the ${perCpu ? "per-CPU" : "shared"} cgroup storage limit of ${max} bytes`);
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
    if (typeof opts.numaNode !== "number" || !Number.isInteger(opts.numaNode) || opts.numaNode < 0 || opts.numaNode > 0xffffffff) {
      throw new BpfRuleError("create", `numaNode must be a whole number from 0 to 2^32-1; got ${String(opts.numaNode)}`);
    }
    flags |= MapFlags.NUMA_NODE;
  } else if (flags & MapFlags.NUMA_NODE) {
    throw new BpfRuleError("create", "NUMA_NODE needs a node: pass numaNode instead of the flag");
  }
  if (opts.name !== undefined && (typeof opts.name !== "string" || !/^[A-Za-z0-9_.]{0,15}$/.test(opts.name))) {
    throw new BpfRuleError("create", `name ${JSON.stringify(opts.name)} must be at most ${MAX_MAP_NAME_LENGTH} characters of [A-Za-z0-9_.]`);
  }
  return { type: perCpu ? MapType.PERCPU_CGROUP_STORAGE : MapType.CGROUP_STORAGE, keySize, valueSize, flags, layout };
}

/**
 * Creates a new, empty cgroup storage map. Its entries appear only when a BPF program using it
 * is attached to a cgroup; user space cannot create them. Every kernel rule is checked first,
 * so a bad option is a `BpfRuleError` naming the rule instead of a bare EINVAL. With a `schema`
 * the handle is typed by it (`decode(v).packets` is a `bigint`).
 * ```ts
 * using m = createMap({ type: "percpu", schema: { packets: "u64", bytes: "u64" } });
 * ```
 */
export function createMap<const S extends Schema>(opts: CreateMapCommon & { type: "percpu"; schema: S }): PerCpuCgroupStorageMap<SchemaValue<S>>;
export function createMap<const S extends Schema>(opts: CreateMapCommon & { type: "shared"; schema: S }): CgroupStorageMap<SchemaValue<S>>;
export function createMap(opts: CreateMapCommon & { type: "percpu"; valueSize: number }): PerCpuCgroupStorageMap;
export function createMap(opts: CreateMapCommon & { type: "shared"; valueSize: number }): CgroupStorageMap;
export function createMap<const S extends Schema>(opts: { type: "cgrp"; schema: S; name?: string }): CgrpStorageMap<SchemaValue<S>>;
export function createMap(opts: { type: "cgrp"; valueSize: number; name?: string }): CgrpStorageMap;
export function createMap(opts: CreateMapOptions): AnyStorageMap;
export function createMap(opts: CreateMapOptions): AnyStorageMap {
  if (typeof opts === "object" && opts !== null && opts.type === "cgrp") {
    const fd = createCgrpMap(checkCgrpCreateOptions(opts));
    const map = mapFromFd(fd, "new map");
    return map;
  }
  const { type, keySize, valueSize, flags, layout } = checkCreateOptions(opts);
  // referenced until the call returns (its pointer is used)
  const optsView = encodeMapCreateOpts({ mapFlags: flags, numaNode: opts.numaNode ?? 0 });
  const fd = libbpf.mapCreate(type, opts.name ?? null, keySize, valueSize, 0, libbpf.pointer(optsView));
  void optsView.byteLength;
  if (fd < 0) {
    throw bpfError("create", fd, `bpf_map_create(${mapTypeName(type)}, key ${keySize}, value ${valueSize})`,
      fd === -E2BIG ? "this kernel's limit is lower (before 5.15 values were limited to 4096 bytes)"
      : fd === -EINVAL && opts.numaNode !== undefined ? `NUMA node ${opts.numaNode} does not exist or is offline`
      : undefined);
  }
  const map = mapFromFd(fd, "new map");
  if (layout && map instanceof PerCpuCgroupStorageMap) map.useLayout(layout);
  else if (layout && map instanceof CgroupStorageMap) map.useLayout(layout);
  return map;
}

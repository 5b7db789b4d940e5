/**
 * `createMap({ type: "cgrp", … })`: a BPF_MAP_TYPE_CGRP_STORAGE map with BTF cgstore writes
 * itself (the kernel requires key and value types: an `int` key, the schema's struct or a byte
 * array as the value). Every rule of `bpf_local_storage_map_alloc_check` is checked first.
 */
import { libbpf } from "../ffi/index.ts";
import { encodeMapCreateOpts } from "../ffi/structs.ts";
import { BpfRuleError, bpfError, typeMismatch, EINVAL, EPERM, E2BIG } from "../errors.ts";
import { MAX_MAP_NAME_LENGTH, MAX_SHARED_VALUE_SIZE, MapType } from "../constants.ts";
import { Layout } from "../btf/layout.ts";
import { cgrpStorageBtf } from "../btf/encode.ts";
import type { Schema } from "../btf/schema.ts";

/** Options of `createMap` for a CGRP_STORAGE map. */
export type CreateCgrpMapOptions<S extends Schema = Schema> = { type: "cgrp"; name?: string } & (
  /** Bytes per value, 1..65407; the value's BTF is then a byte array. */
  | { valueSize: number; schema?: undefined }
  /** The value's fields (spin locks included); the value size is the schema's C size. */
  | { schema: S; valueSize?: undefined }
);

/** What the checks resolved. @internal */
export interface CgrpCreate {
  name: string | null;
  valueSize: number;
  layout: Layout | undefined;
}

const BPF_F_NO_PREALLOC = 1;
const CGRP_KEY_SIZE = 4;

/** Checks `opts` against the kernel's rules for CGRP_STORAGE maps. @internal */
export function checkCgrpCreateOptions(opts: CreateCgrpMapOptions): CgrpCreate {
  const o = opts as CreateCgrpMapOptions & { keySize?: unknown; flags?: unknown; numaNode?: unknown };
  if (o.keySize !== undefined) {
    throw new BpfRuleError("create", "a cgrp_storage map's key is always a 4-byte cgroup fd: leave keySize out");
  }
  if (o.flags !== undefined || o.numaNode !== undefined) {
    throw new BpfRuleError("create", "cgrp_storage maps take no flags or NUMA node (the kernel requires exactly BPF_F_NO_PREALLOC, which cgstore sets)");
  }
  if ((o.schema === undefined) === (o.valueSize === undefined)) {
    throw new BpfRuleError("create", "give the value as exactly one of valueSize (bytes) or schema ({ packets: \"u64\", … })");
  }
  const layout = o.schema === undefined ? undefined : Layout.fromSchema(o.schema);
  const valueSize = layout?.size ?? o.valueSize;
  if (typeof valueSize !== "number") typeMismatch("create", "valueSize", "a number of bytes", valueSize);
  if (!Number.isInteger(valueSize) || valueSize < 1) {
    throw new BpfRuleError("create", `valueSize must be a whole number of bytes ≥ 1; got ${valueSize}`);
  }
  if (valueSize > MAX_SHARED_VALUE_SIZE) {
    throw new BpfRuleError("create", `valueSize ${valueSize} is over the local storage limit of ${MAX_SHARED_VALUE_SIZE} bytes (BPF_LOCAL_STORAGE_MAX_VALUE_SIZE)`);
  }
  if (o.name !== undefined && (typeof o.name !== "string" || !/^[A-Za-z0-9_.]{0,15}$/.test(o.name))) {
    throw new BpfRuleError("create", `name ${JSON.stringify(o.name)} must be at most ${MAX_MAP_NAME_LENGTH} characters of [A-Za-z0-9_.]`);
  }
  return { name: o.name ?? null, valueSize, layout };
}

/** Loads the BTF and creates the map: its fd. @internal */
export function createCgrpMap(c: CgrpCreate): number {
  const btf = cgrpStorageBtf(c.layout, c.valueSize);
  const btfFd = libbpf.btfLoad(btf.bytes);
  if (btfFd < 0) {
    throw bpfError("create", btfFd, "bpf_btf_load of the map's key and value types",
      btfFd === -EPERM ? "loading BTF needs CAP_BPF (run as root)" : undefined);
  }
  try {
    const opts = encodeMapCreateOpts({
      mapFlags: BPF_F_NO_PREALLOC, numaNode: 0, btfFd, btfKeyTypeId: btf.keyTypeId, btfValueTypeId: btf.valueTypeId,
    });
    const fd = libbpf.mapCreate(MapType.CGRP_STORAGE, c.name, CGRP_KEY_SIZE, c.valueSize, 0, libbpf.pointer(opts));
    void opts.byteLength; // referenced until the call returned
    if (fd < 0) {
      throw bpfError("create", fd, `bpf_map_create(cgrp_storage, key 4, value ${c.valueSize})`,
        fd === -EINVAL ? "BPF_MAP_TYPE_CGRP_STORAGE needs kernel 6.2 or later"
        : fd === -EPERM ? "cgrp_storage maps need CAP_BPF (run as root)"
        : fd === -E2BIG ? "this kernel's value size limit is lower" : undefined,
        fd === -EINVAL ? "unsupported" : undefined);
    }
    return fd;
  } finally {
    libbpf.close(btfFd); // the map holds its own reference
  }
}

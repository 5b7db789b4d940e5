/**
 * Where a map comes from: a pin on bpffs, a kernel map id, or an fd; and checking that an fd
 * really is a map of the type a class handles, before any class wraps it.
 */
import { statfsSync } from "node:fs";
import { dirname } from "node:path";
import { libbpf } from "../ffi/index.ts";
import { BpfRuleError, bpfError, typeMismatch, ENOENT, EINVAL, EACCES, EPERM } from "../errors.ts";
import { readLink } from "../bytepath.ts";
import { MapFlags, mapTypeName } from "../constants.ts";
import { readMapInfo, type MapInfo } from "./info.ts";

/** Where to find a map: a pinned path on bpffs, a kernel map id, or an fd (duplicated). */
export type MapSource = string | { readonly id: number } | { readonly fd: number };

/**
 * What a map handle may do with the map: `"read"` (lookups and scans), `"write"` (updates only),
 * `"read-write"`. The kernel keeps it on the fd (`BPF_F_RDONLY`/`BPF_F_WRONLY`).
 */
export type MapAccess = "read" | "write" | "read-write";

/** Options of `openMap`, `CgroupStorageMap.open` and `PerCpuCgroupStorageMap.open`. */
export interface OpenMapOptions {
  /**
   * `"read-write"` (default) or `"read"`: a read-only fd (`BPF_F_RDONLY`), which a pin's file
   * mode needs to allow only reading (a 0644 or 0444 pin opens for any user with CAP_BPF), and
   * through which every write is refused. An `{ fd }` keeps the fd's own mode; asking it for
   * `"read"` makes the handle refuse writes too.
   */
  access?: "read" | "read-write";
}

/** The access an `OpenMapOptions` asks for, checked. @internal */
export function requestedAccess(opts: OpenMapOptions | undefined): "read" | "read-write" {
  if (opts === undefined) return "read-write";
  if (typeof opts !== "object" || opts === null) typeMismatch("open", "the open options", '{ access?: "read" | "read-write" }', opts);
  const a = opts.access ?? "read-write";
  if (a !== "read" && a !== "read-write") {
    throw new BpfRuleError("open", `access must be "read" or "read-write"; got ${JSON.stringify(a) ?? String(a)}`);
  }
  return a;
}

/** The access mode of map fd `fd`, as the kernel keeps it (fcntl F_GETFL). @internal */
export function fdAccess(fd: number): MapAccess {
  const mode = libbpf.accessMode(fd);
  return mode === 0 ? "read" : mode === 1 ? "write" : "read-write";
}

const BPF_FS_MAGIC = 0xcafe4a11;

/** Whether `path` (or, if it does not exist, its directory) is on a bpf filesystem. */
export function onBpffs(path: string): boolean {
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
export function fdKind(fd: number): string | null {
  // readlink through libc: a runtime's own file API may ask for permission (Deno: /proc needs -A).
  const target = readLink(`/proc/self/fd/${fd}`);
  if (target === null) return "bpf-map"; // no /proc: let bpf_obj_get_info_by_fd decide
  const m = /^anon_inode:(bpf-[a-z_]+)/.exec(target);
  return m ? m[1]! : null;
}

function checkU32(what: string, n: unknown): number {
  if (typeof n !== "number") typeMismatch("open", what, "a number", n);
  if (!Number.isInteger(n) || n < 0 || n > 0xffffffff) {
    throw new BpfRuleError("open", `${what} must be a whole number from 0 to 2^32-1; got ${n}`);
  }
  return n;
}

/** What an EPERM from any bpf() command means under kernel.unprivileged_bpf_disabled (the default). */
const NEEDS_CAP_BPF = "this process lacks CAP_BPF (or CAP_SYS_ADMIN), which every bpf() call needs while kernel.unprivileged_bpf_disabled is set";

/**
 * An fd of its own for the map `source` names, and how to name it in messages. `access`
 * "read" opens pins and ids with `BPF_F_RDONLY`.
 */
export function openSource(source: MapSource, access: "read" | "read-write" = "read-write"): { fd: number; what: string } {
  const flags = access === "read" ? MapFlags.RDONLY : 0;
  if (typeof source === "string") {
    const fd = libbpf.objGet(source, flags);
    if (fd < 0) {
      // Off bpffs the kernel says EACCES or EPERM; that is no pin, not a lack of privilege.
      const bpffs = onBpffs(source);
      const call = flags ? `bpf_obj_get(${source}, BPF_F_RDONLY)` : `bpf_obj_get(${source})`;
      throw bpfError("open", fd, call,
        !bpffs ? `${source} is not on a bpf filesystem; pinned maps live under one (mount -t bpf bpf /sys/fs/bpf)`
        : fd === -ENOENT ? `nothing is pinned at ${source}; was the map pinned there?`
        : fd === -EINVAL ? `${source} is not a pinned BPF object`
        : fd === -EACCES ? `the pin's file mode does not let this user open it ${flags ? "for reading" : "for reading and writing"}` +
          (flags ? "; chmod a+r the pin (or its owner/group must match)" : `; open it read-only ({ access: "read" }) if it is readable (e.g. 0644), or chmod/chown the pin`)
        : fd === -EPERM ? NEEDS_CAP_BPF : undefined,
        bpffs ? undefined : "not-found");
    }
    return { fd, what: source };
  }
  if (typeof source !== "object" || source === null) {
    typeMismatch("open", "a map source", 'a pinned path (string), { id: number } or { fd: number }', source);
  }
  if ("id" in source) {
    const id = checkU32("map id", source.id);
    const fd = libbpf.mapGetFdById(id, flags);
    if (fd < 0) {
      throw bpfError("open", fd, `bpf_map_get_fd_by_id(${id}${flags ? ", BPF_F_RDONLY" : ""})`,
        fd === -ENOENT ? `no map has id ${id} (bpftool map list shows the live ones)`
        : fd === -EPERM ? "opening a map by id needs CAP_SYS_ADMIN (CAP_BPF is not enough: the kernel checks CAP_SYS_ADMIN for BPF_MAP_GET_FD_BY_ID); open its pin instead" : undefined);
    }
    return { fd, what: `map id ${id}` };
  }
  if ("fd" in source) {
    const given = checkU32("fd", source.fd);
    const fd = libbpf.dupCloexec(given);
    if (fd < 0) throw bpfError("open", fd, `fcntl(F_DUPFD_CLOEXEC) of fd ${given}`, "is it an open fd?");
    return { fd, what: `fd ${given}` };
  }
  return typeMismatch("open", "a map source", 'a pinned path (string), { id: number } or { fd: number }', source);
}

/** What the kernel says of map fd `fd`; closes `fd` and throws if it is not a BPF map. */
export function mapInfoOf(fd: number, what: string): MapInfo {
  try {
    const kind = fdKind(fd);
    if (kind !== "bpf-map") {
      throw new BpfRuleError("open", `${what} is ${kind ? `a ${kind}` : "not a BPF object"}, not a BPF map`);
    }
    return readMapInfo(fd);
  } catch (e) {
    libbpf.close(fd);
    throw e;
  }
}

/**
 * Opens `source` as a map of exactly `type` and wraps it with `make`, or closes it and throws a
 * `BpfRuleError` naming the type found and the class (or function) that opens it.
 */
export function openAs<M extends { limitToReading(): void }>(
  source: MapSource, type: number, className: string, make: (fd: number, info: MapInfo) => M, options?: OpenMapOptions,
): M {
  const access = requestedAccess(options);
  const { fd, what } = openSource(source, access);
  const info = mapInfoOf(fd, what);
  if (info.type !== type) {
    libbpf.close(fd);
    throw wrongType(what, info, type, className);
  }
  const m = make(fd, info);
  if (access === "read") m.limitToReading();
  return m;
}

/** The error for a map of another type than a class handles. */
export function wrongType(what: string, info: MapInfo, type: number, className: string): BpfRuleError {
  return new BpfRuleError("open",
    `${what} is a ${info.typeName} map ("${info.name}", id ${info.id}); ${className} handles ${mapTypeName(type)} maps`,
    "openMap() opens either cgroup storage type and returns the right class");
}

/** For `.from(x)` given something that is not a map handle at all. */
export function notAHandle(className: string, got: unknown): never {
  return typeMismatch("open", `${className}.from's argument`, "a map handle (from openMap, createMap or BpfObject.map)", got);
}

/**
 * Where a map comes from: a pin on bpffs, a kernel map id, or an fd; and checking that an fd
 * really is a map of the type a class handles, before any class wraps it.
 */
import { statfsSync } from "node:fs";
import { dirname } from "node:path";
import { libbpf } from "../ffi/index.ts";
import { BpfRuleError, bpfError, typeMismatch, ENOENT, EINVAL } from "../errors.ts";
import { readLink } from "../bytepath.ts";
import { mapTypeName } from "../constants.ts";
import { readMapInfo, type MapInfo } from "./info.ts";

/** Where to find a map: a pinned path on bpffs, a kernel map id, or an fd (duplicated). */
export type MapSource = string | { readonly id: number } | { readonly fd: number };

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

/** An fd of its own for the map `source` names, and how to name it in messages. */
export function openSource(source: MapSource): { fd: number; what: string } {
  if (typeof source === "string") {
    const fd = libbpf.objGet(source);
    if (fd < 0) {
      // Off bpffs the kernel says EACCES or EPERM; that is no pin, not a lack of privilege.
      const bpffs = onBpffs(source);
      throw bpfError("open", fd, `bpf_obj_get(${source})`,
        !bpffs ? `${source} is not on a bpf filesystem; pinned maps live under one (mount -t bpf bpf /sys/fs/bpf)`
        : fd === -ENOENT ? `nothing is pinned at ${source}; was the map pinned there?`
        : fd === -EINVAL ? `${source} is not a pinned BPF object` : undefined,
        bpffs ? undefined : "not-found");
    }
    return { fd, what: source };
  }
  if (typeof source !== "object" || source === null) {
    typeMismatch("open", "a map source", 'a pinned path (string), { id: number } or { fd: number }', source);
  }
  if ("id" in source) {
    const id = checkU32("map id", source.id);
    const fd = libbpf.mapGetFdById(id);
    if (fd < 0) {
      throw bpfError("open", fd, `bpf_map_get_fd_by_id(${id})`,
        fd === -ENOENT ? `no map has id ${id} (bpftool map list shows the live ones)` : undefined);
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
export function openAs<M>(source: MapSource, type: number, className: string, make: (fd: number, info: MapInfo) => M): M {
  const { fd, what } = openSource(source);
  const info = mapInfoOf(fd, what);
  if (info.type !== type) {
    libbpf.close(fd);
    throw wrongType(what, info, type, className);
  }
  return make(fd, info);
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

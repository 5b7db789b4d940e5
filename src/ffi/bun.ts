/**
 * libbpf through `bun:ffi`. Measured choices (see shared ffi-bun-deno notes):
 * - pointer arguments are passed as the typed-array views themselves: as fast as a cached
 *   `ptr()` number (~2.5 ns) and immune to JSC moving small typed arrays' storage;
 * - each symbol is a module-level const (a property load per call costs ~3 ns more);
 * - the library is never `close()`d: calling a symbol after close segfaults on Bun 1.4.
 * @internal
 */
import { dlopen, FFIType, read, toArrayBuffer, CString, type Pointer } from "bun:ffi";
import type { Libbpf, NativeHandle, NativePointer } from "./types.ts";
import { libbpfMissing } from "./load-error.ts";
import { cString, posixCalls, type RawLibc } from "./posix.ts";

const path = process.env.LIBBPF_PATH || "libbpf.so.1";

function open() {
  try {
    return dlopen(path, {
      bpf_map_lookup_elem: { args: ["i32", "ptr", "ptr"], returns: "i32" },
      bpf_map_lookup_elem_flags: { args: ["i32", "ptr", "ptr", "u64"], returns: "i32" },
      bpf_map_update_elem: { args: ["i32", "ptr", "ptr", "u64"], returns: "i32" },
      bpf_map_get_next_key: { args: ["i32", "ptr", "ptr"], returns: "i32" },
      bpf_map_delete_elem: { args: ["i32", "ptr"], returns: "i32" },
      bpf_map_create: {
        args: ["i32", "ptr", "u32", "u32", "u32", "ptr"],
        returns: "i32",
      },
      bpf_map_get_fd_by_id: { args: ["u32"], returns: "i32" },
      bpf_obj_get_info_by_fd: { args: ["i32", "ptr", "ptr"], returns: "i32" },
      bpf_obj_pin: { args: ["i32", "cstring"], returns: "i32" },
      bpf_obj_get: { args: ["cstring"], returns: "i32" },
      bpf_prog_attach: { args: ["i32", "i32", "i32", "u32"], returns: "i32" },
      bpf_prog_detach2: { args: ["i32", "i32", "i32"], returns: "i32" },
      bpf_link_create: { args: ["i32", "i32", "i32", "ptr"], returns: "i32" },
      libbpf_num_possible_cpus: { args: [], returns: "i32" },
      libbpf_probe_bpf_map_type: { args: ["i32", "ptr"], returns: "i32" },
      bpf_object__open_file: { args: ["cstring", "ptr"], returns: "ptr" },
      bpf_object__load: { args: ["ptr"], returns: "i32" },
      bpf_object__close: { args: ["ptr"], returns: "void" },
      bpf_object__find_map_by_name: { args: ["ptr", "cstring"], returns: "ptr" },
      bpf_object__find_program_by_name: { args: ["ptr", "cstring"], returns: "ptr" },
      bpf_object__next_map: { args: ["ptr", "ptr"], returns: "ptr" },
      bpf_object__next_program: { args: ["ptr", "ptr"], returns: "ptr" },
      bpf_map__name: { args: ["ptr"], returns: "ptr" },
      bpf_program__name: { args: ["ptr"], returns: "ptr" },
      bpf_map__fd: { args: ["ptr"], returns: "i32" },
      bpf_program__fd: { args: ["ptr"], returns: "i32" },
      bpf_program__expected_attach_type: { args: ["ptr"], returns: "i32" },
      btf__load_from_kernel_by_id: { args: ["u32"], returns: "ptr" },
      btf__raw_data: { args: ["ptr", "ptr"], returns: "ptr" },
      btf__free: { args: ["ptr"], returns: "void" },
    } as const);
  } catch (e) {
    throw libbpfMissing(path, e);
  }
}

function openLibc() {
  return dlopen("libc.so.6", {
    close: { args: ["i32"], returns: "i32" },
    fcntl: { args: ["i32", "i32", "i32"], returns: "i32" },
    __errno_location: { args: [], returns: "ptr" },
    opendir: { args: ["buffer"], returns: "ptr" },
    readdir64: { args: ["ptr"], returns: "ptr" },
    closedir: { args: ["ptr"], returns: "i32" },
    statx: { args: ["i32", "buffer", "i32", "u32", "buffer"], returns: "i32" },
    readlink: { args: ["buffer", "buffer", "u64"], returns: FFIType.i64_fast },
    open: { args: ["buffer", "i32"], returns: "i32" },
    read: { args: ["i32", "buffer", "u64"], returns: FFIType.i64_fast },
    write: { args: ["i32", "buffer", "u64"], returns: FFIType.i64_fast },
    rmdir: { args: ["buffer"], returns: "i32" },
  } as const);
}

const lib = open().symbols;
const libc = openLibc().symbols;
const errnoAddress = libc.__errno_location() as Pointer;

const asPointer = (view: ArrayBufferView) => view as unknown as NativePointer;
/** bun-types widens "ptr" returns to `Pointer | bigint | null`; at run time they are numbers. */
type Returned = Pointer | bigint | null;
const toHandle = (p: Returned) => (p === null ? null : (p as unknown as NativeHandle));
const fromHandle = (h: NativeHandle) => h as unknown as Pointer;
const fromPointer = (p: NativePointer | null) => p as unknown as Pointer | null;
const readName = (p: Returned) => (p === null ? "" : new CString(p as Pointer).toString());
const errno = () => read.i32(errnoAddress, 0);

function names(
  obj: NativeHandle,
  next: (o: Pointer, prev: Returned) => Returned,
  name: (p: Pointer) => Returned,
): string[] {
  const out: string[] = [];
  for (let p = next(fromHandle(obj), null) as Pointer | null; p !== null; p = next(fromHandle(obj), p) as Pointer | null) {
    out.push(readName(name(p)));
  }
  return out;
}

const lookup = lib.bpf_map_lookup_elem;
const lookupFlags = lib.bpf_map_lookup_elem_flags;
const update = lib.bpf_map_update_elem;
const getNextKey = lib.bpf_map_get_next_key;

export const libbpf: Libbpf = {
  path,
  pointer: asPointer,
  mapLookupElem: (fd, k, v) => lookup(fd, k as never, v as never),
  mapLookupElemFlags: (fd, k, v, flags) => lookupFlags(fd, k as never, v as never, flags),
  mapUpdateElem: (fd, k, v, flags) => update(fd, k as never, v as never, flags),
  mapDeleteElem: (fd, k) => lib.bpf_map_delete_elem(fd, k as never),
  mapGetNextKey: (fd, k, next) => getNextKey(fd, fromPointer(k), next as never),
  mapCreate: (type, name, keySize, valueSize, maxEntries, opts) =>
    lib.bpf_map_create(
      type,
      name === null ? null : cString(name),
      keySize,
      valueSize,
      maxEntries,
      fromPointer(opts),
    ),
  mapGetFdById: (id) => lib.bpf_map_get_fd_by_id(id),
  objGetInfoByFd: (fd, info, len) => lib.bpf_obj_get_info_by_fd(fd, info as never, len as never),
  objPin: (fd, p) => lib.bpf_obj_pin(fd, cString(p)),
  objGet: (p) => lib.bpf_obj_get(cString(p)),
  progAttach: (prog, target, type, flags) => lib.bpf_prog_attach(prog, target, type, flags),
  progDetach2: (prog, target, type) => lib.bpf_prog_detach2(prog, target, type),
  linkCreate: (prog, target, type) => lib.bpf_link_create(prog, target, type, null),
  numPossibleCpus: () => lib.libbpf_num_possible_cpus(),
  probeMapType: (type) => lib.libbpf_probe_bpf_map_type(type, null),

  objectOpenFile: (p) => toHandle(lib.bpf_object__open_file(cString(p), null)),
  objectLoad: (obj) => lib.bpf_object__load(fromHandle(obj)),
  objectClose: (obj) => lib.bpf_object__close(fromHandle(obj)),
  objectFindMapByName: (obj, name) =>
    toHandle(lib.bpf_object__find_map_by_name(fromHandle(obj), cString(name))),
  objectFindProgramByName: (obj, name) =>
    toHandle(lib.bpf_object__find_program_by_name(fromHandle(obj), cString(name))),
  objectMapNames: (obj) => names(obj, lib.bpf_object__next_map, lib.bpf_map__name),
  objectProgramNames: (obj) => names(obj, lib.bpf_object__next_program, lib.bpf_program__name),
  mapFd: (map) => lib.bpf_map__fd(fromHandle(map)),
  programFd: (prog) => lib.bpf_program__fd(fromHandle(prog)),
  programExpectedAttachType: (prog) => lib.bpf_program__expected_attach_type(fromHandle(prog)),

  btfRawById: (id) => {
    const btf = lib.btf__load_from_kernel_by_id(id) as Pointer | null;
    if (btf === null) return -errno();
    try {
      const size = new Uint32Array(new ArrayBuffer(4));
      const data = lib.btf__raw_data(btf, size) as Pointer | null;
      if (data === null) return -errno();
      return new Uint8Array(toArrayBuffer(data, 0, size[0]!)).slice(); // copy: btf__free frees it
    } finally {
      lib.btf__free(btf);
    }
  },

  readDir: (path) => {
    const dir = libc.opendir(cString(path)) as Pointer | null;
    if (dir === null) return -errno();
    const out: Uint8Array[] = [];
    try {
      for (let e = libc.readdir64(dir) as Pointer | null; e !== null; e = libc.readdir64(dir) as Pointer | null) {
        out.push(new Uint8Array(toArrayBuffer(e, 0, read.u16(e, 16))).slice()); // d_reclen
      }
    } finally {
      libc.closedir(dir);
    }
    return out;
  },
  ...posixCalls(libc as RawLibc, errno),
  errno,
};

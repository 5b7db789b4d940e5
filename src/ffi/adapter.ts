/**
 * The {@link Libbpf} adapter, written once over a runtime's FFI primitives ({@link FfiRuntime})
 * and the symbol table in `symbols.ts`.
 *
 * Hot-path members that take only pointers and ints (`mapLookupElem`, `mapGetNextKey`, …) are
 * the bound C functions themselves: one FFI call, no JavaScript wrapper in between. Those with
 * `u64` flags get a wrapper of their own (its own call site, so it stays monomorphic and the
 * FFI's fast path inlines) that passes the flags as `rt.u64` says.
 * @internal
 */
import type { FfiRuntime, Libbpf, NativeHandle } from "./types.ts";
import { LIBBPF_SYMBOLS, LIBC_SYMBOLS, type Symbols } from "./symbols.ts";
import { libbpfMissing } from "./load-error.ts";
import { cString, posixCalls } from "./posix.ts";
import { DIRENT64 } from "./structs.ts";

type LibbpfSymbols = Symbols<typeof LIBBPF_SYMBOLS>;

/** Opens libbpf and libc through `rt` and returns the adapter; a missing libbpf is an environment error. */
export function bindLibbpf(rt: FfiRuntime): Libbpf {
  const path = rt.libbpfPath();
  let lib: LibbpfSymbols;
  try {
    lib = rt.open(path, LIBBPF_SYMBOLS);
  } catch (e) {
    throw libbpfMissing(path, e);
  }
  const libc = rt.open("libc.so.6", LIBC_SYMBOLS);
  const errno = rt.int32Reader(libc.__errno_location()!);
  const readName = (p: NativeHandle | null) => (p === null ? "" : rt.readCString(p));
  const u64 = rt.u64;
  const lookupFlags = lib.bpf_map_lookup_elem_flags, update = lib.bpf_map_update_elem;

  function names(
    obj: NativeHandle,
    next: (o: NativeHandle | null, prev: NativeHandle | null) => NativeHandle | null,
    name: (p: NativeHandle | null) => NativeHandle | null,
  ): string[] {
    const out: string[] = [];
    for (let p = next(obj, null); p !== null; p = next(obj, p)) out.push(readName(name(p)));
    return out;
  }

  return {
    path,
    pointer: rt.pointer,
    mapLookupElem: lib.bpf_map_lookup_elem,
    mapLookupElemFlags: (fd, k, v, flags) => lookupFlags(fd, k, v, u64(flags)),
    mapUpdateElem: (fd, k, v, flags) => update(fd, k, v, u64(flags)),
    mapDeleteElem: lib.bpf_map_delete_elem,
    mapGetNextKey: lib.bpf_map_get_next_key,
    mapCreate: (type, name, keySize, valueSize, maxEntries, opts) =>
      lib.bpf_map_create(type, name === null ? null : cString(name), keySize, valueSize, maxEntries, opts),
    mapGetFdById: (id) => lib.bpf_map_get_fd_by_id(id),
    objGetInfoByFd: lib.bpf_obj_get_info_by_fd,
    objPin: (fd, p) => lib.bpf_obj_pin(fd, cString(p)),
    objGet: (p) => lib.bpf_obj_get(cString(p)),
    progAttach: (prog, target, type, flags) => lib.bpf_prog_attach(prog, target, type, flags),
    progDetach2: (prog, target, type) => lib.bpf_prog_detach2(prog, target, type),
    linkCreate: (prog, target, type) => lib.bpf_link_create(prog, target, type, null),
    numPossibleCpus: () => lib.libbpf_num_possible_cpus(),
    probeMapType: (type) => lib.libbpf_probe_bpf_map_type(type, null),

    objectOpenFile: (p) => lib.bpf_object__open_file(cString(p), null),
    objectLoad: (obj) => lib.bpf_object__load(obj),
    objectClose: (obj) => lib.bpf_object__close(obj),
    objectFindMapByName: (obj, name) => lib.bpf_object__find_map_by_name(obj, cString(name)),
    objectFindProgramByName: (obj, name) => lib.bpf_object__find_program_by_name(obj, cString(name)),
    objectMapNames: (obj) => names(obj, lib.bpf_object__next_map, lib.bpf_map__name),
    objectProgramNames: (obj) => names(obj, lib.bpf_object__next_program, lib.bpf_program__name),
    mapFd: (map) => lib.bpf_map__fd(map),
    programFd: (prog) => lib.bpf_program__fd(prog),
    programExpectedAttachType: (prog) => lib.bpf_program__expected_attach_type(prog),

    btfRawById: (id) => {
      const btf = lib.btf__load_from_kernel_by_id(id);
      if (btf === null) return -errno();
      try {
        const size = new Uint32Array(new ArrayBuffer(4));
        const data = lib.btf__raw_data(btf, size);
        if (data === null) return -errno();
        return rt.copyOut(data, size[0]!); // a copy: btf__free frees libbpf's
      } finally {
        lib.btf__free(btf);
      }
    },

    btfLoad: (data) => lib.bpf_btf_load(data, data.byteLength, null),
    objectMapReuseFd: (map, fd) => lib.bpf_map__reuse_fd(map, fd),
    objectMapSetValueSize: (map, size) => lib.bpf_map__set_value_size(map, size),
    objectMapSetMaxEntries: (map, n) => lib.bpf_map__set_max_entries(map, n),
    objectMapSetInitialValue: (map, data) => lib.bpf_map__set_initial_value(map, data, data.byteLength),
    programAttachIter: (prog, opts) => lib.bpf_program__attach_iter(prog, opts),
    linkFd: (link) => lib.bpf_link__fd(link),
    linkDestroy: (link) => lib.bpf_link__destroy(link),
    iterCreate: (linkFd) => lib.bpf_iter_create(linkFd),
    mmap: (length, prot, flags, fd) => {
      const address = Number(libc.mmap(0, length, prot, flags, fd, 0));
      return address === -1 ? -errno() : address;
    },
    munmap: (address, length) => (libc.munmap(address, length) === 0 ? 0 : -errno()),
    arrayBufferAt: rt.arrayBufferAt,
    addressOf: rt.addressOf,
    openByHandleAt: (mountFd, handle, flags) => {
      const fd = libc.open_by_handle_at(mountFd, handle, flags);
      return fd >= 0 ? fd : -errno();
    },

    readDir: (path) => {
      const dir = libc.opendir(cString(path));
      if (dir === null) return -errno();
      const out: Uint8Array[] = [];
      try {
        for (let e = libc.readdir64(dir); e !== null; e = libc.readdir64(dir)) {
          out.push(rt.copyOut(e, rt.readU16(e, DIRENT64.reclen)));
        }
      } finally {
        libc.closedir(dir);
      }
      return out;
    },
    ...posixCalls(libc, errno),
    errno,
  };
}

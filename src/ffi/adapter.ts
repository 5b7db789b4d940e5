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
import { DIRENT64, encodeOpenFlagsOpts } from "./structs.ts";

/** `BPF_CGROUP_MAX_PROGS`: no cgroup holds more programs at one attach type. */
const MAX_CGROUP_PROGS = 64;
const BPF_F_QUERY_EFFECTIVE = 1;

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
  let defaultPrinter: NativeHandle | null = null, printerSaved = false;

  /** A copy of a `struct btf *`'s raw bytes (then freed), or -errno when libbpf returned none. */
  function rawBtf(btf: NativeHandle | null, free = true): Uint8Array | number {
    if (btf === null) return -errno();
    try {
      const size = new Uint32Array(new ArrayBuffer(4));
      const data = lib.btf__raw_data(btf, size);
      if (data === null) return -errno();
      return rt.copyOut(data, size[0]!); // a copy: btf__free frees libbpf's
    } finally {
      if (free) lib.btf__free(btf);
    }
  }

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
    mapGetFdById: (id, openFlags = 0) => {
      if (openFlags === 0) return lib.bpf_map_get_fd_by_id(id);
      const opts = encodeOpenFlagsOpts(openFlags);
      const fd = lib.bpf_map_get_fd_by_id_opts(id, rt.pointer(opts));
      void opts.byteLength; // referenced until the call returns (its pointer is used)
      return fd;
    },
    objGetInfoByFd: lib.bpf_obj_get_info_by_fd,
    objPin: (fd, p) => lib.bpf_obj_pin(fd, cString(p)),
    objGet: (p, fileFlags = 0) => {
      if (fileFlags === 0) return lib.bpf_obj_get(cString(p));
      const opts = encodeOpenFlagsOpts(fileFlags);
      const fd = lib.bpf_obj_get_opts(cString(p), rt.pointer(opts));
      void opts.byteLength; // referenced until the call returns
      return fd;
    },
    progAttach: (prog, target, type, flags) => lib.bpf_prog_attach(prog, target, type, flags),
    progDetach2: (prog, target, type) => lib.bpf_prog_detach2(prog, target, type),
    linkCreate: (prog, target, type) => lib.bpf_link_create(prog, target, type, null),
    linkDetach: (fd) => lib.bpf_link_detach(fd),
    progQuery: (target, type, effective) => {
      const flags = new Uint32Array(new ArrayBuffer(4)), count = new Uint32Array(new ArrayBuffer(4));
      let ids = new Uint32Array(new ArrayBuffer(4 * MAX_CGROUP_PROGS));
      count[0] = ids.length;
      const rc = lib.bpf_prog_query(target, type, effective ? BPF_F_QUERY_EFFECTIVE : 0, flags, ids, count);
      if (rc < 0) return rc;
      ids = ids.subarray(0, Math.min(count[0]!, ids.length));
      return { flags: flags[0]!, ids: Array.from(ids) };
    },
    setPrint: (on) => {
      // libbpf_set_print returns the printer it replaces: the first call hands us libbpf's own
      // default printer, kept to put back.
      const previous = lib.libbpf_set_print(on ? defaultPrinter : null);
      if (!printerSaved) {
        printerSaved = true;
        defaultPrinter = previous;
        if (on) lib.libbpf_set_print(defaultPrinter);
      }
    },
    numPossibleCpus: () => lib.libbpf_num_possible_cpus(),
    probeMapType: (type) => lib.libbpf_probe_bpf_map_type(type, null),

    objectOpenFile: (p) => lib.bpf_object__open_file(cString(p), null),
    objectOpenMem: (elf) => lib.bpf_object__open_mem(elf, elf.byteLength, null),
    objectLoad: (obj) => lib.bpf_object__load(obj),
    objectClose: (obj) => lib.bpf_object__close(obj),
    objectFindMapByName: (obj, name) => lib.bpf_object__find_map_by_name(obj, cString(name)),
    objectFindProgramByName: (obj, name) => lib.bpf_object__find_program_by_name(obj, cString(name)),
    objectMapNames: (obj) => names(obj, lib.bpf_object__next_map, lib.bpf_map__name),
    objectProgramNames: (obj) => names(obj, lib.bpf_object__next_program, lib.bpf_program__name),
    mapFd: (map) => lib.bpf_map__fd(map),
    programFd: (prog) => lib.bpf_program__fd(prog),
    programExpectedAttachType: (prog) => lib.bpf_program__expected_attach_type(prog),

    btfRawById: (id) => rawBtf(lib.btf__load_from_kernel_by_id(id)),
    btfRawFromElf: (p) => rawBtf(lib.btf__parse_elf(cString(p), null)),
    // The object owns its BTF (freed by bpf_object__close): copied, not freed. NULL: no BTF (ENOENT).
    objectBtfRaw: (obj) => {
      const btf = lib.bpf_object__btf(obj);
      return btf === null ? -2 : rawBtf(btf, false);
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

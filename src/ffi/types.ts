/**
 * The runtime-neutral surface of libbpf (and the few libc calls we need) that the rest of
 * cgstore is written against. `src/ffi/` is the only place that knows which FFI runs it.
 *
 * Conventions, from libbpf 1.x: low-level calls return a non-negative result or `-errno`;
 * object-API calls return a handle or `null`, and then {@link Libbpf.errno} has the reason.
 * @internal
 */
import type { SymbolDef, Symbols } from "./symbols.ts";

/** An address the FFI can pass as a `void *`. Opaque: how it is made depends on the runtime. */
export type NativePointer = { readonly __nativePointer: unique symbol };

/** A `struct bpf_object *` / `struct bpf_map *` / `struct bpf_program *` returned by libbpf. */
export type NativeHandle = { readonly __nativeHandle: unique symbol };

export interface Libbpf {
  /** What was opened, for error messages: `libbpf.so.1` or `$LIBBPF_PATH` ("" until the first call opens it). */
  readonly path: string;

  /**
   * A pointer to `view`'s bytes that stays valid while `view` is alive. Only for views over an
   * explicit `ArrayBuffer`/`SharedArrayBuffer` (their storage never moves), and the caller
   * keeps `view` referenced as long as it uses the pointer.
   */
  pointer(view: ArrayBufferView): NativePointer;

  mapLookupElem(fd: number, key: NativePointer, value: NativePointer): number;
  mapLookupElemFlags(fd: number, key: NativePointer, value: NativePointer, flags: number): number;
  mapUpdateElem(fd: number, key: NativePointer, value: NativePointer, flags: number): number;
  /** `bpf_map_delete_elem`: 0 or `-errno`. */
  mapDeleteElem(fd: number, key: NativePointer): number;
  /** `key` null asks for the first key. */
  mapGetNextKey(fd: number, key: NativePointer | null, nextKey: NativePointer): number;
  mapCreate(
    mapType: number,
    name: string | null,
    keySize: number,
    valueSize: number,
    maxEntries: number,
    opts: NativePointer | null,
  ): number;
  /** `openFlags`: 0 (read-write) or `BPF_F_RDONLY`/`BPF_F_WRONLY` (through `bpf_map_get_fd_by_id_opts`). */
  mapGetFdById(id: number, openFlags?: number): number;
  objGetInfoByFd(fd: number, info: NativePointer, infoLen: NativePointer): number;
  objPin(fd: number, path: string): number;
  /** `fileFlags`: 0 (read-write) or `BPF_F_RDONLY`/`BPF_F_WRONLY` (through `bpf_obj_get_opts`). */
  objGet(path: string, fileFlags?: number): number;
  progAttach(progFd: number, targetFd: number, attachType: number, flags: number): number;
  progDetach2(progFd: number, targetFd: number, attachType: number): number;
  linkCreate(progFd: number, targetFd: number, attachType: number): number;
  /** `bpf_link_detach` (BPF_LINK_DETACH, kernel ≥ 5.9): 0 or `-errno`. */
  linkDetach(linkFd: number): number;
  /**
   * `bpf_prog_query` of a cgroup fd at `attachType`: the cgroup's own attach flags and the ids
   * of the programs attached there (with `effective`, those that run there, ancestors'
   * included), or `-errno`.
   */
  progQuery(targetFd: number, attachType: number, effective: boolean): { flags: number; ids: number[] } | number;
  /**
   * Turns libbpf's own messages (warnings, the verifier log) on (libbpf's default printer, to
   * stderr) or off (`libbpf_set_print(NULL)`). Process-wide.
   */
  setPrint(on: boolean): void;
  numPossibleCpus(): number;
  /** `libbpf_probe_bpf_map_type`: 1 when this process can create maps of `mapType`, 0 when not, or `-errno`. */
  probeMapType(mapType: number): number;

  objectOpenFile(path: string): NativeHandle | null;
  /**
   * `bpf_object__open_mem`: libbpf parses `elf` in place, so the caller must keep the buffer
   * alive (and unmoved: an ArrayBuffer's own backing store) until the object is loaded or closed.
   */
  objectOpenMem(elf: Uint8Array): NativeHandle | null;
  objectLoad(obj: NativeHandle): number;
  objectClose(obj: NativeHandle): void;
  objectFindMapByName(obj: NativeHandle, name: string): NativeHandle | null;
  objectFindProgramByName(obj: NativeHandle, name: string): NativeHandle | null;
  /** Names of every map / program in the object, in section order. */
  objectMapNames(obj: NativeHandle): string[];
  objectProgramNames(obj: NativeHandle): string[];
  mapFd(map: NativeHandle): number;
  programFd(prog: NativeHandle): number;
  programExpectedAttachType(prog: NativeHandle): number;

  /** The raw BTF blob of kernel BTF object `id` (copied out of libbpf), or `-errno`. */
  btfRawById(id: number): Uint8Array | number;
  /** The raw `.BTF` of an ELF object file (`btf__parse_elf`), or -errno. */
  btfRawFromElf(path: string): Uint8Array | number;
  /** The raw BTF of an opened object (`bpf_object__btf`; libbpf keeps it), copied out, or `-errno`. */
  objectBtfRaw(obj: NativeHandle): Uint8Array | number;

  /*
   * libc calls on byte paths, for cgroup directories: a cgroup name may be any bytes but "/"
   * and NUL, which string-path file APIs (Deno's) cannot address. Paths come without the
   * terminating NUL (the backend adds it; one inside is refused, as in every path and name).
   */
  /** opendir + readdir64 + closedir: each entry's `struct dirent64`, copied out, or `-errno`. */
  readDir(path: Uint8Array): Uint8Array[] | number;
  /**
   * `statx(2)` of `path` relative to `dirfd` (-100: the cwd; with an empty path and
   * AT_EMPTY_PATH, the fd itself): the inode number and `stx_mode`, or `-errno`.
   */
  statx(dirfd: number, path: Uint8Array, flags: number): { ino: number; mode: number } | number;
  /** `readlink(2)`: the link's target as bytes, or `-errno`. */
  readlink(path: Uint8Array): Uint8Array | number;
  /** `open(2)` without a mode; returns an fd or `-errno`. */
  open(path: Uint8Array, flags: number): number;
  /** `read(2)` into `buf`: bytes read or `-errno`. */
  read(fd: number, buf: Uint8Array): number;
  /** `write(2)` of `buf`: bytes written or `-errno`. */
  write(fd: number, buf: Uint8Array): number;
  /** `rmdir(2)`: 0 or `-errno`. */
  rmdir(path: Uint8Array): number;

  /* CGRP_STORAGE maps and their iterator scans. */
  /** `bpf_btf_load` of a raw BTF blob: a BTF fd, or `-errno`. */
  btfLoad(data: Uint8Array): number;
  /** `bpf_map__reuse_fd` (before load): the object's map becomes map fd `fd` (dup'ed). 0 or `-errno`. */
  objectMapReuseFd(map: NativeHandle, fd: number): number;
  /** `bpf_map__set_value_size` / `set_max_entries` (before load): 0 or `-errno`. */
  objectMapSetValueSize(map: NativeHandle, size: number): number;
  objectMapSetMaxEntries(map: NativeHandle, n: number): number;
  /** `bpf_map__set_initial_value` (before load; `data` must be the map's whole value): 0 or `-errno`. */
  objectMapSetInitialValue(map: NativeHandle, data: Uint8Array): number;
  /** `bpf_program__attach_iter` with `struct bpf_iter_attach_opts` bytes: a `struct bpf_link *` or null (see `errno`). */
  programAttachIter(prog: NativeHandle, opts: Uint8Array): NativeHandle | null;
  linkFd(link: NativeHandle): number;
  linkDestroy(link: NativeHandle): number;
  /** `bpf_iter_create(link_fd)`: an fd whose read(2) runs one iterator session, or `-errno`. */
  iterCreate(linkFd: number): number;
  /** `mmap(NULL, length, prot, flags, fd, 0)`: the address, or `-errno`. */
  mmap(length: number, prot: number, flags: number, fd: number): number;
  /** `munmap(address, length)`: 0 or `-errno`. */
  munmap(address: number, length: number): number;
  /**
   * An `ArrayBuffer` over `length` bytes of native memory at `address` (no copy). It does not
   * own the memory: whoever unmaps it must first make sure no view of it can be reached.
   */
  arrayBufferAt(address: number, length: number): ArrayBuffer;
  /** The address of `view`'s first byte, as a number (for pointers inside C structs). */
  addressOf(view: ArrayBufferView): number;
  /** `open_by_handle_at(mountFd, handle, flags)`: an fd, or `-errno`. */
  openByHandleAt(mountFd: number, handle: Uint8Array, flags: number): number;

  /** libc `close(2)`; returns 0 or `-errno`. */
  close(fd: number): number;
  /** `fcntl(fd, F_DUPFD_CLOEXEC, 0)`: a new close-on-exec fd for the same file, or `-errno`. */
  dupCloexec(fd: number): number;
  /** The fd's access mode (`fcntl(F_GETFL) & O_ACCMODE`: 0 read, 1 write, 2 read-write), or -errno. */
  accessMode(fd: number): number;
  /** The calling thread's errno, read right after a call that returned null. */
  errno(): number;
}

/**
 * What a runtime's FFI provides; `adapter.ts` builds {@link Libbpf} from it once for every
 * runtime. Each backend (`bun.ts`, `deno.ts`) is only this small set of primitives.
 */
export interface FfiRuntime {
  /** `$LIBBPF_PATH` if set (and readable without prompting), else `libbpf.so.1`. */
  libbpfPath(): string;
  /** dlopen `path` and bind `table`'s symbols; throws the FFI's own error when it cannot. */
  open<T extends Record<string, SymbolDef>>(path: string, table: T): Symbols<T>;
  /**
   * A small `u64` argument (flags) as this FFI takes it fastest, without allocating. Applied
   * by the adapter in each call's own wrapper, so every wrapper's call site stays monomorphic.
   */
  u64(n: number): number | bigint;
  /** See {@link Libbpf.pointer}. */
  pointer(view: ArrayBufferView): NativePointer;
  /** The NUL-terminated string at `p`. */
  readCString(p: NativeHandle): string;
  /** The u16 at `p + offset`. */
  readU16(p: NativeHandle, offset: number): number;
  /** A reader of the i32 at `p`, made once (errno is read after failed calls; no allocation). */
  int32Reader(p: NativeHandle): () => number;
  /** A copy of the `length` bytes at `p` (C may free or reuse them afterwards). */
  copyOut(p: NativeHandle, length: number): Uint8Array;
  /** See {@link Libbpf.arrayBufferAt}. */
  arrayBufferAt(address: number, length: number): ArrayBuffer;
  /** See {@link Libbpf.addressOf}. */
  addressOf(view: ArrayBufferView): number;
}

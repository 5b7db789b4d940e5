/**
 * The one table of C functions cgstore calls, in cgstore's own vocabulary; each runtime backend
 * translates the kinds into its FFI's types (`bun:ffi`, `Deno.dlopen`) and the adapter in
 * `adapter.ts` is written once against {@link Symbols}.
 * @internal
 */
import type { NativeHandle, NativePointer } from "./types.ts";

/**
 * Parameter kinds:
 * - `i32`, `u32`: numbers;
 * - `u64`: flags on the hot path, passed through `FfiRuntime.u64` (the fastest form per runtime);
 * - `size`: a `size_t` byte count (not hot);
 * - `pointer`: a {@link NativePointer} from `Libbpf.pointer` (cached by the caller), or null;
 * - `bytes`: a byte buffer lent for the call (NUL-terminated strings, out-parameters), or null;
 * - `handle`: a pointer C returned earlier (`struct bpf_object *` …), or null.
 */
export type ParamKind = "i32" | "u32" | "u64" | "size" | "pointer" | "bytes" | "handle";
/** Result kinds: `ssize` is a `ssize_t` (a number, or a bigint where the FFI says so); `handle` may be null. */
export type ResultKind = "i32" | "ssize" | "handle" | "void";

export interface SymbolDef {
  readonly params: readonly ParamKind[];
  readonly result: ResultKind;
}

/** libbpf 1.x (`libbpf.so.1`). */
export const LIBBPF_SYMBOLS = {
  bpf_map_lookup_elem: { params: ["i32", "pointer", "pointer"], result: "i32" },
  bpf_map_lookup_elem_flags: { params: ["i32", "pointer", "pointer", "u64"], result: "i32" },
  bpf_map_update_elem: { params: ["i32", "pointer", "pointer", "u64"], result: "i32" },
  bpf_map_delete_elem: { params: ["i32", "pointer"], result: "i32" },
  bpf_map_get_next_key: { params: ["i32", "pointer", "pointer"], result: "i32" },
  bpf_map_create: { params: ["i32", "bytes", "u32", "u32", "u32", "pointer"], result: "i32" },
  bpf_map_get_fd_by_id: { params: ["u32"], result: "i32" },
  bpf_map_get_fd_by_id_opts: { params: ["u32", "pointer"], result: "i32" },
  bpf_obj_get_info_by_fd: { params: ["i32", "pointer", "pointer"], result: "i32" },
  bpf_obj_pin: { params: ["i32", "bytes"], result: "i32" },
  bpf_obj_get: { params: ["bytes"], result: "i32" },
  bpf_obj_get_opts: { params: ["bytes", "pointer"], result: "i32" },
  bpf_prog_attach: { params: ["i32", "i32", "i32", "u32"], result: "i32" },
  bpf_prog_detach2: { params: ["i32", "i32", "i32"], result: "i32" },
  bpf_link_create: { params: ["i32", "i32", "i32", "handle"], result: "i32" },
  bpf_link_detach: { params: ["i32"], result: "i32" },
  bpf_prog_query: { params: ["i32", "i32", "u32", "bytes", "bytes", "bytes"], result: "i32" },
  libbpf_set_print: { params: ["handle"], result: "handle" },
  libbpf_num_possible_cpus: { params: [], result: "i32" },
  libbpf_probe_bpf_map_type: { params: ["i32", "handle"], result: "i32" },
  bpf_object__open_file: { params: ["bytes", "handle"], result: "handle" },
  bpf_object__open_mem: { params: ["bytes", "size", "handle"], result: "handle" },
  bpf_object__load: { params: ["handle"], result: "i32" },
  bpf_object__close: { params: ["handle"], result: "void" },
  bpf_object__find_map_by_name: { params: ["handle", "bytes"], result: "handle" },
  bpf_object__find_program_by_name: { params: ["handle", "bytes"], result: "handle" },
  bpf_object__next_map: { params: ["handle", "handle"], result: "handle" },
  bpf_object__next_program: { params: ["handle", "handle"], result: "handle" },
  bpf_map__name: { params: ["handle"], result: "handle" },
  bpf_program__name: { params: ["handle"], result: "handle" },
  bpf_map__fd: { params: ["handle"], result: "i32" },
  bpf_program__fd: { params: ["handle"], result: "i32" },
  bpf_program__expected_attach_type: { params: ["handle"], result: "i32" },
  btf__load_from_kernel_by_id: { params: ["u32"], result: "handle" },
  btf__parse_elf: { params: ["bytes", "handle"], result: "handle" },
  btf__raw_data: { params: ["handle", "bytes"], result: "handle" },
  btf__free: { params: ["handle"], result: "void" },
  bpf_object__btf: { params: ["handle"], result: "handle" },
  // CGRP_STORAGE maps and their iterator scans (cgrp-storage.ts, cgrp-iter.ts)
  bpf_btf_load: { params: ["bytes", "size", "handle"], result: "i32" },
  bpf_map__reuse_fd: { params: ["handle", "i32"], result: "i32" },
  bpf_map__set_value_size: { params: ["handle", "u32"], result: "i32" },
  bpf_map__set_max_entries: { params: ["handle", "u32"], result: "i32" },
  bpf_map__set_initial_value: { params: ["handle", "bytes", "size"], result: "i32" },
  bpf_program__attach_iter: { params: ["handle", "bytes"], result: "handle" },
  bpf_link__fd: { params: ["handle"], result: "i32" },
  bpf_link__destroy: { params: ["handle"], result: "i32" },
  bpf_iter_create: { params: ["i32"], result: "i32" },
} as const satisfies Record<string, SymbolDef>;

/** glibc (`libc.so.6`): byte-path file calls (see `Libbpf.readDir`), close, dup, errno. */
export const LIBC_SYMBOLS = {
  close: { params: ["i32"], result: "i32" },
  fcntl: { params: ["i32", "i32", "i32"], result: "i32" },
  __errno_location: { params: [], result: "handle" },
  opendir: { params: ["bytes"], result: "handle" },
  readdir64: { params: ["handle"], result: "handle" },
  closedir: { params: ["handle"], result: "i32" },
  statx: { params: ["i32", "bytes", "i32", "u32", "bytes"], result: "i32" },
  readlink: { params: ["bytes", "bytes", "size"], result: "ssize" },
  open: { params: ["bytes", "i32"], result: "i32" },
  read: { params: ["i32", "bytes", "size"], result: "ssize" },
  write: { params: ["i32", "bytes", "size"], result: "ssize" },
  rmdir: { params: ["bytes"], result: "i32" },
  // CGRP_STORAGE: scans read an mmap'd array in place; cgroup ids open by file handle
  mmap: { params: ["size", "size", "i32", "i32", "i32", "size"], result: "ssize" },
  munmap: { params: ["size", "size"], result: "i32" },
  open_by_handle_at: { params: ["i32", "bytes", "i32"], result: "i32" },
} as const satisfies Record<string, SymbolDef>;

/** What a parameter of each kind takes in JavaScript. */
type Param<K> = K extends "pointer" ? NativePointer | null
  : K extends "bytes" ? ArrayBufferView | null
  : K extends "handle" ? NativeHandle | null
  : K extends "u64" ? number | bigint
  : number;
/** What a result of each kind is in JavaScript. */
type Result<K> = K extends "handle" ? NativeHandle | null : K extends "void" ? void : K extends "ssize" ? number | bigint : number;

/** The JavaScript signatures of a symbol table, as every backend binds it. */
export type Symbols<T extends Record<string, SymbolDef>> = {
  readonly [N in keyof T]: (...args: Params<T[N]["params"]>) => Result<T[N]["result"]>;
};
/** A parameter-kind tuple as the JavaScript argument tuple (mapped over a type parameter, so it stays a tuple). */
type Params<P extends readonly ParamKind[]> = { -readonly [I in keyof P]: Param<P[I]> };

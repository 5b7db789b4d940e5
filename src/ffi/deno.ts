/**
 * libbpf through `Deno.dlopen`. Measured choices (see shared ffi-bun-deno notes):
 * - hot-path buffers are `"pointer"` parameters fed with `Deno.UnsafePointer.of(view)` made once
 *   per buffer by {@link Libbpf.pointer} and cached by the caller: ~8 ns per call, where
 *   `"buffer"` parameters cost ~22 ns (off V8's fast-call path) and a per-call
 *   `UnsafePointer.of` ~550 ns plus garbage;
 * - setup calls that take strings use `"buffer"` with a NUL-terminated copy (not hot);
 * - calls are synchronous (`nonblocking` costs 11–31 µs a call) and the library is never closed.
 * Deno's own type declarations are not visible to the Bun-side typecheck, so the little of the
 * FFI we use is described by {@link DenoFfi} below.
 * @internal
 */
import type { Libbpf, NativeHandle, NativePointer } from "./types.ts";
import { libbpfMissing } from "./load-error.ts";
import { cString, posixCalls } from "./posix.ts";

/** An opaque pointer object (`Deno.PointerObject`); `null` is NULL. */
type PointerObject = { readonly __denoPointer: unique symbol };
type Pointer = PointerObject | null;
type NativeType = "i32" | "u32" | "u64" | "usize" | "isize" | "pointer" | "buffer" | "void";
type Fn = (...args: never[]) => unknown;

/** The subset of the `Deno` namespace this backend uses, as Deno 2 declares it. */
interface DenoFfi {
  dlopen(path: string, symbols: Record<string, { parameters: NativeType[]; result: NativeType }>): {
    symbols: Record<string, Fn>;
  };
  UnsafePointer: { of(view: ArrayBufferView): Pointer };
  UnsafePointerView: {
    new (p: PointerObject): {
      getInt32(offset?: number): number;
      getUint16(offset?: number): number;
      copyInto(dst: Uint8Array, offset?: number): void;
    };
    getCString(p: PointerObject): string;
  };
  env: { get(name: string): string | undefined };
  permissions: { querySync(desc: { name: "env"; variable: string }): { state: string } };
}

const Deno = (globalThis as unknown as { Deno: DenoFfi }).Deno;

/**
 * `$LIBBPF_PATH` when this process may already read it. Reading env needs `--allow-env`, which
 * the library does not otherwise require; asking first keeps Deno from prompting on a terminal.
 */
function libbpfPath(): string {
  try {
    if (Deno.permissions.querySync({ name: "env", variable: "LIBBPF_PATH" }).state !== "granted") return "libbpf.so.1";
    return Deno.env.get("LIBBPF_PATH") || "libbpf.so.1";
  } catch {
    return "libbpf.so.1";
  }
}
const path = libbpfPath();

const LIBBPF = {
  bpf_map_lookup_elem: { parameters: ["i32", "pointer", "pointer"], result: "i32" },
  bpf_map_lookup_elem_flags: { parameters: ["i32", "pointer", "pointer", "u64"], result: "i32" },
  bpf_map_update_elem: { parameters: ["i32", "pointer", "pointer", "u64"], result: "i32" },
  bpf_map_get_next_key: { parameters: ["i32", "pointer", "pointer"], result: "i32" },
  bpf_map_delete_elem: { parameters: ["i32", "pointer"], result: "i32" },
  bpf_map_create: { parameters: ["i32", "buffer", "u32", "u32", "u32", "pointer"], result: "i32" },
  bpf_map_get_fd_by_id: { parameters: ["u32"], result: "i32" },
  bpf_obj_get_info_by_fd: { parameters: ["i32", "pointer", "pointer"], result: "i32" },
  bpf_obj_pin: { parameters: ["i32", "buffer"], result: "i32" },
  bpf_obj_get: { parameters: ["buffer"], result: "i32" },
  bpf_prog_attach: { parameters: ["i32", "i32", "i32", "u32"], result: "i32" },
  bpf_prog_detach2: { parameters: ["i32", "i32", "i32"], result: "i32" },
  bpf_link_create: { parameters: ["i32", "i32", "i32", "pointer"], result: "i32" },
  libbpf_num_possible_cpus: { parameters: [], result: "i32" },
  libbpf_probe_bpf_map_type: { parameters: ["i32", "pointer"], result: "i32" },
  bpf_object__open_file: { parameters: ["buffer", "pointer"], result: "pointer" },
  bpf_object__load: { parameters: ["pointer"], result: "i32" },
  bpf_object__close: { parameters: ["pointer"], result: "void" },
  bpf_object__find_map_by_name: { parameters: ["pointer", "buffer"], result: "pointer" },
  bpf_object__find_program_by_name: { parameters: ["pointer", "buffer"], result: "pointer" },
  bpf_object__next_map: { parameters: ["pointer", "pointer"], result: "pointer" },
  bpf_object__next_program: { parameters: ["pointer", "pointer"], result: "pointer" },
  bpf_map__name: { parameters: ["pointer"], result: "pointer" },
  bpf_program__name: { parameters: ["pointer"], result: "pointer" },
  bpf_map__fd: { parameters: ["pointer"], result: "i32" },
  bpf_program__fd: { parameters: ["pointer"], result: "i32" },
  bpf_program__expected_attach_type: { parameters: ["pointer"], result: "i32" },
  btf__load_from_kernel_by_id: { parameters: ["u32"], result: "pointer" },
  btf__raw_data: { parameters: ["pointer", "pointer"], result: "pointer" },
  btf__free: { parameters: ["pointer"], result: "void" },
} as const satisfies Record<string, { parameters: readonly NativeType[]; result: NativeType }>;

const LIBC = {
  close: { parameters: ["i32"], result: "i32" },
  fcntl: { parameters: ["i32", "i32", "i32"], result: "i32" },
  __errno_location: { parameters: [], result: "pointer" },
  opendir: { parameters: ["buffer"], result: "pointer" },
  readdir64: { parameters: ["pointer"], result: "pointer" },
  closedir: { parameters: ["pointer"], result: "i32" },
  statx: { parameters: ["i32", "buffer", "i32", "u32", "buffer"], result: "i32" },
  readlink: { parameters: ["buffer", "buffer", "usize"], result: "isize" },
  open: { parameters: ["buffer", "i32"], result: "i32" },
  read: { parameters: ["i32", "buffer", "usize"], result: "isize" },
  write: { parameters: ["i32", "buffer", "usize"], result: "isize" },
  rmdir: { parameters: ["buffer"], result: "i32" },
} as const;

/** Typed call signatures of what we declared: numbers, pointers and byte buffers. */
type Param<T> = T extends "pointer" ? Pointer : T extends "buffer" ? Uint8Array | null : T extends "u64" ? bigint : number;
type Result<T> = T extends "pointer" ? Pointer : T extends "void" ? void : T extends "isize" ? number | bigint : number;
type Symbols<D> = {
  [K in keyof D]: D[K] extends { parameters: infer P extends readonly unknown[]; result: infer R }
    ? (...args: { [I in keyof P]: Param<P[I]> }) => Result<R>
    : never;
};

function dlopen<D extends Record<string, { parameters: readonly NativeType[]; result: NativeType }>>(
  file: string,
  defs: D,
): Symbols<D> {
  return Deno.dlopen(file, defs as unknown as Record<string, { parameters: NativeType[]; result: NativeType }>)
    .symbols as unknown as Symbols<D>;
}

function open(): Symbols<typeof LIBBPF> {
  try {
    return dlopen(path, LIBBPF);
  } catch (e) {
    throw libbpfMissing(path, e);
  }
}

const lib = open();
const libc = dlopen("libc.so.6", LIBC);
const errnoView = new Deno.UnsafePointerView(libc.__errno_location()!);
const errno = () => errnoView.getInt32(0);


const asNative = (p: Pointer) => p as unknown as NativePointer;
const fromNative = (p: NativePointer | null) => p as unknown as Pointer;
const toHandle = (p: Pointer) => (p === null ? null : (p as unknown as NativeHandle));
const fromHandle = (h: NativeHandle) => h as unknown as Pointer;
const readName = (p: Pointer) => (p === null ? "" : Deno.UnsafePointerView.getCString(p));

function names(obj: NativeHandle, next: (o: Pointer, prev: Pointer) => Pointer, name: (p: Pointer) => Pointer) {
  const out: string[] = [];
  for (let p = next(fromHandle(obj), null); p !== null; p = next(fromHandle(obj), p)) out.push(readName(name(p)));
  return out;
}

/**
 * `u64` parameters take the fast path only when given a BigInt (a number costs ~270 ns more per
 * lookup, measured). Flags are small: these are preallocated so no call allocates one.
 */
const FLAGS = Array.from({ length: 16 }, (_, i) => BigInt(i));
const u64 = (n: number): bigint => FLAGS[n] ?? BigInt(n);

const lookup = lib.bpf_map_lookup_elem;
const lookupFlags = lib.bpf_map_lookup_elem_flags;
const update = lib.bpf_map_update_elem;
const getNextKey = lib.bpf_map_get_next_key;

export const libbpf: Libbpf = {
  path,
  pointer: (view) => {
    // A zero-length view has no storage: UnsafePointer.of gives NULL, which libbpf would take
    // for "no key". Every caller passes real buffers; refuse rather than pass NULL silently.
    const p = Deno.UnsafePointer.of(view);
    if (p === null) throw new RangeError("cgstore: cannot take the address of an empty buffer");
    return asNative(p);
  },
  mapLookupElem: (fd, k, v) => lookup(fd, fromNative(k), fromNative(v)),
  mapLookupElemFlags: (fd, k, v, flags) => lookupFlags(fd, fromNative(k), fromNative(v), u64(flags)),
  mapUpdateElem: (fd, k, v, flags) => update(fd, fromNative(k), fromNative(v), u64(flags)),
  mapDeleteElem: (fd, k) => lib.bpf_map_delete_elem(fd, fromNative(k)),
  mapGetNextKey: (fd, k, next) => getNextKey(fd, fromNative(k), fromNative(next)),
  mapCreate: (type, name, keySize, valueSize, maxEntries, opts) =>
    lib.bpf_map_create(type, name === null ? null : cString(name), keySize, valueSize, maxEntries, fromNative(opts)),
  mapGetFdById: (id) => lib.bpf_map_get_fd_by_id(id),
  objGetInfoByFd: (fd, info, len) => lib.bpf_obj_get_info_by_fd(fd, fromNative(info), fromNative(len)),
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
  objectFindMapByName: (obj, name) => toHandle(lib.bpf_object__find_map_by_name(fromHandle(obj), cString(name))),
  objectFindProgramByName: (obj, name) =>
    toHandle(lib.bpf_object__find_program_by_name(fromHandle(obj), cString(name))),
  objectMapNames: (obj) => names(obj, lib.bpf_object__next_map, lib.bpf_map__name),
  objectProgramNames: (obj) => names(obj, lib.bpf_object__next_program, lib.bpf_program__name),
  mapFd: (map) => lib.bpf_map__fd(fromHandle(map)),
  programFd: (prog) => lib.bpf_program__fd(fromHandle(prog)),
  programExpectedAttachType: (prog) => lib.bpf_program__expected_attach_type(fromHandle(prog)),

  btfRawById: (id) => {
    const btf = lib.btf__load_from_kernel_by_id(id);
    if (btf === null) return -errno();
    try {
      const size = new Uint32Array(new ArrayBuffer(4));
      const data = lib.btf__raw_data(btf, Deno.UnsafePointer.of(size));
      if (data === null) return -errno();
      const out = new Uint8Array(size[0]!); // a copy: btf__free frees libbpf's
      new Deno.UnsafePointerView(data).copyInto(out);
      return out;
    } finally {
      lib.btf__free(btf);
    }
  },

  readDir: (path) => {
    const dir = libc.opendir(cString(path));
    if (dir === null) return -errno();
    const out: Uint8Array[] = [];
    try {
      for (let e = libc.readdir64(dir); e !== null; e = libc.readdir64(dir)) {
        const view = new Deno.UnsafePointerView(e);
        const record = new Uint8Array(view.getUint16(16)); // d_reclen
        view.copyInto(record);
        out.push(record);
      }
    } finally {
      libc.closedir(dir);
    }
    return out;
  },
  ...posixCalls(libc, errno),
  errno,
};

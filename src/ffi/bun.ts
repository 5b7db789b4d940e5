/**
 * The `bun:ffi` primitives. Measured choices (see shared ffi-bun-deno notes):
 * - `pointer` kinds are `"ptr"` parameters passed the typed-array views themselves: as fast as a
 *   cached `ptr()` number (~2.5 ns) and immune to JSC moving small typed arrays' storage;
 * - the bound symbols are used as they are, and `u64` flags are passed as plain numbers;
 * - calls are synchronous, and the library is never `close()`d: calling a symbol after close
 *   segfaults on Bun 1.4.
 * `bun:ffi` is loaded with `import.meta.require` when this backend is first used: synchronous,
 * and invisible to Deno (which would fail to resolve a static `bun:ffi` import, even a type-only
 * one under `deno check`). The little of its API used here is described by {@link BunFfi}.
 * @internal
 */
import type { FfiRuntime, NativeHandle, NativePointer } from "./types.ts";
import type { ParamKind, ResultKind, SymbolDef, Symbols } from "./symbols.ts";

/** A `bun:ffi` pointer: a number (null is NULL). */
type Pointer = number;
type BunType = "i32" | "u32" | "u64" | "ptr" | "void" | "i64_fast";

/** The subset of `bun:ffi` this backend uses, as Bun 1.4 declares it. */
interface BunFfi {
  dlopen(path: string, symbols: Record<string, { args: BunType[]; returns: BunType }>): {
    symbols: Record<string, (...args: unknown[]) => unknown>;
  };
  read: { i32(p: Pointer, offset: number): number; u16(p: Pointer, offset: number): number };
  toArrayBuffer(p: Pointer, offset: number, length: number): ArrayBuffer;
  ptr(view: ArrayBufferView): Pointer;
  CString: new (p: Pointer) => { toString(): string };
}

const PARAM: Record<ParamKind, BunType> = {
  i32: "i32", u32: "u32", u64: "u64", size: "u64", pointer: "ptr", bytes: "ptr", handle: "ptr",
};
// ssize_t as i64_fast: a number while it fits in 2^53 (always, for byte counts).
const RESULT: Record<ResultKind, BunType> = { i32: "i32", ssize: "i64_fast", handle: "ptr", void: "void" };

/** The Bun backend's primitives; `bun:ffi` is loaded on this call. */
export function bunRuntime(): FfiRuntime {
  const ffi = (import.meta as ImportMeta & { require(id: string): unknown }).require("bun:ffi") as BunFfi;
  const raw = (p: NativeHandle) => p as unknown as Pointer;
  return {
    libbpfPath: () => process.env.LIBBPF_PATH || "libbpf.so.1",
    open<T extends Record<string, SymbolDef>>(path: string, table: T): Symbols<T> {
      const defs: Record<string, { args: BunType[]; returns: BunType }> = {};
      for (const [name, def] of Object.entries(table)) {
        defs[name] = { args: def.params.map((k) => PARAM[k]), returns: RESULT[def.result] };
      }
      return ffi.dlopen(path, defs).symbols as unknown as Symbols<T>;
    },
    u64: (n) => n,
    pointer: (view) => view as unknown as NativePointer,
    readCString: (p) => new ffi.CString(raw(p)).toString(),
    readU16: (p, offset) => ffi.read.u16(raw(p), offset),
    int32Reader: (p) => {
      const address = raw(p);
      return () => ffi.read.i32(address, 0);
    },
    copyOut: (p, length) => new Uint8Array(ffi.toArrayBuffer(raw(p), 0, length)).slice(),
    arrayBufferAt: (address, length) => ffi.toArrayBuffer(address, 0, length),
    addressOf: (view) => ffi.ptr(view),
  };
}

/**
 * The `Deno.dlopen` primitives. Measured choices (see shared ffi-bun-deno notes):
 * - `pointer` kinds are `"pointer"` parameters fed with `Deno.UnsafePointer.of(view)` made once
 *   per buffer by `Libbpf.pointer` and cached by the caller: ~8 ns per call, where `"buffer"`
 *   parameters cost ~22 ns (off V8's fast-call path) and a per-call `UnsafePointer.of` ~550 ns
 *   plus garbage;
 * - `bytes` kinds (setup calls: strings, out-parameters) are `"buffer"` parameters (not hot);
 * - `u64` parameters take the fast path only when given a BigInt (a number costs ~270 ns more
 *   per lookup, measured): flags are passed as preallocated BigInts;
 * - calls are synchronous (`nonblocking` costs 11–31 µs a call) and the library is never closed.
 * Deno's own type declarations are not visible to the Bun-side typecheck, so the little of the
 * FFI used here is described by {@link DenoFfi}.
 * @internal
 */
import type { FfiRuntime, NativeHandle, NativePointer } from "./types.ts";
import type { ParamKind, ResultKind, SymbolDef, Symbols } from "./symbols.ts";

/** An opaque pointer object (`Deno.PointerObject`); `null` is NULL. */
type PointerObject = { readonly __denoPointer: unique symbol };
type DenoType = "i32" | "u32" | "u64" | "usize" | "isize" | "pointer" | "buffer" | "void";
type Fn = (...args: never[]) => unknown;

/** The subset of the `Deno` namespace this backend uses, as Deno 2 declares it. */
interface DenoFfi {
  dlopen(path: string, symbols: Record<string, { parameters: DenoType[]; result: DenoType }>): {
    symbols: Record<string, Fn>;
  };
  UnsafePointer: {
    of(view: ArrayBufferView): PointerObject | null;
    create(value: bigint): PointerObject | null;
    value(p: PointerObject | null): bigint | number;
  };
  UnsafePointerView: {
    new (p: PointerObject): {
      getInt32(offset?: number): number;
      getUint16(offset?: number): number;
      copyInto(dst: Uint8Array, offset?: number): void;
    };
    getCString(p: PointerObject): string;
    getArrayBuffer(p: PointerObject, byteLength: number, offset?: number): ArrayBuffer;
  };
  env: { get(name: string): string | undefined };
  permissions: { querySync(desc: { name: "env"; variable: string }): { state: string } };
}

const PARAM: Record<ParamKind, DenoType> = {
  i32: "i32", u32: "u32", u64: "u64", size: "usize", pointer: "pointer", bytes: "buffer", handle: "pointer",
};
const RESULT: Record<ResultKind, DenoType> = { i32: "i32", ssize: "isize", handle: "pointer", void: "void" };

/** Preallocated BigInts for small flags, so no `u64` call allocates one. */
const FLAGS = Array.from({ length: 32 }, (_, i) => BigInt(i));
/**
 * Larger flag words (`ElemFlags.cpu(n)` = `BPF_F_CPU + n × 2^32`, ± EXIST) converted once and
 * kept: a per-CPU read loop passes the same few words over and over. Bounded, so a caller
 * cycling through arbitrary words cannot grow it without limit (beyond it they allocate).
 */
const BIG_FLAGS = new Map<number, bigint>();
const BIG_FLAGS_MAX = 4096;
function bigFlags(n: number): bigint {
  let b = BIG_FLAGS.get(n);
  if (b === undefined) {
    b = BigInt(n);
    if (BIG_FLAGS.size < BIG_FLAGS_MAX) BIG_FLAGS.set(n, b);
  }
  return b;
}
/** `n` as a BigInt (u64 parameters take the fast path only so); exact for any whole n < 2^53. */
export const u64 = (n: number): bigint => FLAGS[n] ?? bigFlags(n);

/** The Deno backend's primitives. */
export function denoRuntime(): FfiRuntime {
  const Deno = (globalThis as unknown as { Deno: DenoFfi }).Deno;
  const raw = (p: NativeHandle) => p as unknown as PointerObject;
  return {
    // Reading env needs --allow-env, which the library does not otherwise require; asking
    // first keeps Deno from prompting on a terminal.
    libbpfPath: () => {
      try {
        if (Deno.permissions.querySync({ name: "env", variable: "LIBBPF_PATH" }).state !== "granted") return "libbpf.so.1";
        return Deno.env.get("LIBBPF_PATH") || "libbpf.so.1";
      } catch {
        return "libbpf.so.1";
      }
    },
    open<T extends Record<string, SymbolDef>>(path: string, table: T): Symbols<T> {
      const defs: Record<string, { parameters: DenoType[]; result: DenoType }> = {};
      for (const [name, def] of Object.entries(table)) {
        defs[name] = { parameters: def.params.map((k) => PARAM[k]), result: RESULT[def.result] };
      }
      return Deno.dlopen(path, defs).symbols as unknown as Symbols<T>;
    },
    u64,
    pointer: (view) => {
      // A zero-length view has no storage: UnsafePointer.of gives NULL, which libbpf would take
      // for "no key". Every caller passes real buffers; refuse rather than pass NULL silently.
      const p = Deno.UnsafePointer.of(view);
      if (p === null) throw new RangeError("cgstore: cannot take the address of an empty buffer");
      return p as unknown as NativePointer;
    },
    readCString: (p) => Deno.UnsafePointerView.getCString(raw(p)),
    readU16: (p, offset) => new Deno.UnsafePointerView(raw(p)).getUint16(offset),
    int32Reader: (p) => {
      const view = new Deno.UnsafePointerView(raw(p));
      return () => view.getInt32(0);
    },
    arrayBufferAt: (address, length) => {
      const p = Deno.UnsafePointer.create(BigInt(address));
      if (p === null) throw new RangeError("cgstore: arrayBufferAt(NULL)");
      return Deno.UnsafePointerView.getArrayBuffer(p, length);
    },
    addressOf: (view) => Number(Deno.UnsafePointer.value(Deno.UnsafePointer.of(view))),
    copyOut: (p, length) => {
      const out = new Uint8Array(length);
      new Deno.UnsafePointerView(raw(p)).copyInto(out);
      return out;
    },
  };
}

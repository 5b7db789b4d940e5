/**
 * Picks the FFI backend for the running runtime. Only Bun exists so far; the Deno backend
 * plugs in here behind the same {@link Libbpf} interface.
 * @internal
 */
import type { Libbpf } from "./types.ts";

export type { Libbpf, NativeHandle, NativePointer } from "./types.ts";

async function load(): Promise<Libbpf> {
  if (typeof (globalThis as { Bun?: unknown }).Bun !== "undefined") {
    return (await import("./bun.ts")).libbpf;
  }
  throw new Error("cgstore: this runtime has no FFI backend yet; run it with Bun (bun >= 1.4.4).");
}

export const libbpf: Libbpf = await load();

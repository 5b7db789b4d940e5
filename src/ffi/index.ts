/**
 * Picks the FFI backend for the running runtime: `bun:ffi` under Bun, `Deno.dlopen` under Deno.
 * Each backend is imported only when its runtime is the one running, so Bun never evaluates
 * Deno code and Deno never resolves `bun:ffi`.
 * @internal
 */
import type { Libbpf } from "./types.ts";

export type { Libbpf, NativeHandle, NativePointer } from "./types.ts";

/** Which runtime is running cgstore. */
export const runtime: "bun" | "deno" | "other" =
  typeof (globalThis as { Bun?: unknown }).Bun !== "undefined"
    ? "bun"
    : typeof (globalThis as { Deno?: unknown }).Deno !== "undefined"
      ? "deno"
      : "other";

async function load(): Promise<Libbpf> {
  if (runtime === "bun") return (await import("./bun.ts")).libbpf;
  if (runtime === "deno") return (await import("./deno.ts")).libbpf;
  throw new Error(
    "cgstore: this runtime has no FFI backend; run it with Bun (>= 1.4.4) or Deno (>= 2.9, --allow-ffi).",
  );
}

export const libbpf: Libbpf = await load();

/**
 * The hot lookup with no cgstore code at all: libbpf opened with the runtime's own FFI
 * (bun:ffi or Deno.dlopen), the key and value in SharedArrayBuffer-backed views passed as the
 * cheapest pointer form (bun: the view; Deno: a pointer object made once), the same 250 ms
 * warm-up, bpf_map_lookup_elem as cgstore calls it without flags. What is left between this and C is the runtime, not the library.
 */
import { WARMUP_NS } from "./workloads.ts";

const nowNs = () => performance.now() * 1e6;

type Lookup = (fd: number, key: unknown, value: unknown) => number;

interface Bare {
  objGet(path: string): number;
  lookup: Lookup;
  cpus: number;
  pointer(v: ArrayBufferView): unknown;
}

async function open(): Promise<Bare> {
  const deno = (globalThis as { Deno?: { dlopen: (...a: unknown[]) => { symbols: Record<string, (...a: unknown[]) => number> }; UnsafePointer: { of(v: ArrayBufferView): unknown } } }).Deno;
  if (deno) {
    const s = deno.dlopen("libbpf.so.1", {
      bpf_obj_get: { parameters: ["buffer"], result: "i32" },
      bpf_map_lookup_elem: { parameters: ["i32", "pointer", "pointer"], result: "i32" },
      libbpf_num_possible_cpus: { parameters: [], result: "i32" },
    }).symbols;
    return {
      objGet: (p) => s.bpf_obj_get!(new TextEncoder().encode(`${p}\0`)),
      lookup: s.bpf_map_lookup_elem as Lookup,
      cpus: s.libbpf_num_possible_cpus!(),
      pointer: (v) => deno.UnsafePointer.of(v),
    };
  }
  const ffi = await import("bun:ffi");
  const s = ffi.dlopen("libbpf.so.1", {
    bpf_obj_get: { args: ["cstring"], returns: "i32" },
    bpf_map_lookup_elem: { args: ["i32", "ptr", "ptr"], returns: "i32" },
    libbpf_num_possible_cpus: { args: [], returns: "i32" },
  }).symbols;
  return {
    objGet: (p) => s.bpf_obj_get(Buffer.from(`${p}\0`)),
    lookup: s.bpf_map_lookup_elem as unknown as Lookup,
    cpus: s.libbpf_num_possible_cpus(),
    pointer: (v) => v,
  };
}

/** ns per lookup of {id, attachType} in the per-CPU map pinned at `pin`, + sum of 2 u64 fields. */
export async function bareLookup(pin: string, id: number, attachType: number, n: number): Promise<number> {
  const b = await open();
  const fd = b.objGet(pin);
  if (fd < 0) throw new Error(`bpf_obj_get ${pin}: ${fd}`);
  const key = new Uint32Array(new SharedArrayBuffer(16));
  key[0] = id >>> 0;
  key[1] = Math.floor(id / 2 ** 32);
  key[2] = attachType;
  const stride = 16, vals = new Uint32Array(new SharedArrayBuffer(stride * b.cpus));
  const kp = b.pointer(key), vp = b.pointer(vals), lookup = b.lookup, cpus = b.cpus;
  const loop = (k: number) => {
    let total = 0;
    for (let i = 0; i < k; i++) {
      if (lookup(fd, kp, vp) !== 0) throw new Error("lookup failed");
      for (let c = 0, w = 0; c < cpus; c++, w += 4) total += vals[w]! + vals[w + 1]! * 4294967296 + vals[w + 2]! + vals[w + 3]! * 4294967296;
    }
    return total;
  };
  const end = nowNs() + WARMUP_NS;
  do loop(10_000); while (nowNs() < end);
  const t0 = nowNs();
  const total = loop(n);
  return (nowNs() - t0) / n + total * 0;
}

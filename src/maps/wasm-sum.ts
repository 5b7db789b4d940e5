/**
 * Per-CPU values in shared WebAssembly memory, summed by an 847-byte WebAssembly module
 * (./sum.wat): i64 adds in registers, no allocation; four CPUs per step field by field at 16 CPUs
 * or more, CPU by CPU eight fields per step below. At 256 CPUs × 64 B it ran 5–6× faster than
 * the JavaScript sum of u32 halves under Bun 1.4.4 and Deno 2.9.6, and faster than the gcc -O2
 * C loop (0.55× / 0.70×; bench/RESULTS.md). Even one field over 2 CPUs is faster as a call into
 * WebAssembly than as JavaScript reads of the (shared, WebAssembly-owned) u32 halves.
 *
 * The values stay zero-copy: the kernel writes a lookup straight into the memory, and every
 * view (`bytes`, `words`, `view`) is a window on it. Memory is handed out in fixed-size arenas
 * whose `WebAssembly.Memory` is created at its maximum size and never grown, so a cached pointer
 * (the libbpf call's value pointer) never moves. Blocks of collected values are reused
 * (FinalizationRegistry), so cursors made per scan do not leak arena space.
 * @internal
 */

/** sum.wasm, assembled from ./sum.wat (test/unit/percpu-values.test.ts checks the two match). */
export const SUM_WASM_BASE64 =
  "AGFzbQEAAAABEAJgA39/fwF8YAV/f39/fwACFgEHY2dzdG9yZQZtZW1vcnkCAwGAgAQDAwIAAQcUAgNzdW0AAApzdW1fZmllbGRzAAEK/wUCogECBH4BfyABQQJ0IQcCQANAIAJBBEkNASADIAApAwB8IQMgBCAAIAFqKQMAfCEEIAUgACABQQF0aikDAHwhBSAGIAAgAUEDbGopAwB8IQYgACAHaiEAIAJBBGshAgwACwsCQANAIAJFDQEgAyAAKQMAfCEDIAAgAWohACACQQFrIQIMAAsLIAMgBHwgBSAGfHwhAyADQgBTBHwgA7oFIAO5CwvYBAICfwh+IAJBAWtBD0kEQAJAA0AgA0EISQ0BQgAhB0IAIQhCACEJQgAhCkIAIQtCACEMQgAhDUIAIQ4gACEFIAIhBgNAIAcgBSkDAHwhByAIIAUpAwh8IQggCSAFKQMQfCEJIAogBSkDGHwhCiALIAUpAyB8IQsgDCAFKQMofCEMIA0gBSkDMHwhDSAOIAUpAzh8IQ4gBSABaiEFIAZBAWsiBg0ACyAEIAdCAFMEfCAHugUgB7kLOQMAIAQgCEIAUwR8IAi6BSAIuQs5AwggBCAJQgBTBHwgCboFIAm5CzkDECAEIApCAFMEfCAKugUgCrkLOQMYIAQgC0IAUwR8IAu6BSALuQs5AyAgBCAMQgBTBHwgDLoFIAy5CzkDKCAEIA1CAFMEfCANugUgDbkLOQMwIAQgDkIAUwR8IA66BSAOuQs5AzggAEHAAGohACAEQcAAaiEEIANBCGshAwwACwsCQANAIANBBEkNAUIAIQdCACEIQgAhCUIAIQogACEFIAIhBgNAIAcgBSkDAHwhByAIIAUpAwh8IQggCSAFKQMQfCEJIAogBSkDGHwhCiAFIAFqIQUgBkEBayIGDQALIAQgB0IAUwR8IAe6BSAHuQs5AwAgBCAIQgBTBHwgCLoFIAi5CzkDCCAEIAlCAFMEfCAJugUgCbkLOQMQIAQgCkIAUwR8IAq6BSAKuQs5AxggAEEgaiEAIARBIGohBCADQQRrIQMMAAsLCwJAA0AgA0UNASAEIAAgASACEAA5AwAgAEEIaiEAIARBCGohBCADQQFrIQMMAAsLCw==";

/** Σ over `cpus` slots `stride` bytes apart of the u64 at byte `at` of the arena (as an f64). */
export type WasmSum = (at: number, stride: number, cpus: number) => number;

/** Every field's sum (`fields` u64s from `at`) as f64s at byte `out` of the arena. */
export type WasmSumFields = (at: number, stride: number, cpus: number, fields: number, out: number) => void;

/** A block of an arena: where a `PerCpuValues` lives. */
export interface WasmBlock {
  buffer: SharedArrayBuffer;
  byteOffset: number;
  sum: WasmSum;
  sumFields: WasmSumFields;
}

const PAGE = 65536;
/** Arena size: 16 pages (1 MiB) hold 64 values of 256 CPUs × 64 B; larger values get their own. */
const ARENA_PAGES = 16;
const ALIGN = 16;

interface Arena {
  buffer: SharedArrayBuffer;
  sum: WasmSum;
  sumFields: WasmSumFields;
  used: number;
  /** Freed blocks by size, for reuse. */
  free: Map<number, number[]>;
}

let module: WebAssembly.Module | null | undefined;
const arenas: Arena[] = [];
const reclaim = typeof FinalizationRegistry === "function"
  ? new FinalizationRegistry<{ arena: Arena; at: number; size: number }>(({ arena, at, size }) => {
    let list = arena.free.get(size);
    if (!list) arena.free.set(size, (list = []));
    list.push(at);
  })
  : null;

function compiled(): WebAssembly.Module | null {
  if (module === undefined) {
    try {
      const bin = atob(SUM_WASM_BASE64);
      const bytes = new Uint8Array(bin.length);
      for (let i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i);
      module = new WebAssembly.Module(bytes);
    } catch {
      module = null; // no WebAssembly (or no threads proposal): values fall back to plain SABs
    }
  }
  return module;
}

function newArena(bytes: number): Arena | null {
  const mod = compiled();
  if (!mod) return null;
  try {
    const pages = Math.max(ARENA_PAGES, Math.ceil(bytes / PAGE));
    // initial = maximum: the memory never grows, so its backing store never moves.
    const memory = new WebAssembly.Memory({ initial: pages, maximum: pages, shared: true });
    const instance = new WebAssembly.Instance(mod, { cgstore: { memory } });
    const arena: Arena = { buffer: memory.buffer as unknown as SharedArrayBuffer, sum: instance.exports.sum as WasmSum,
      sumFields: instance.exports.sum_fields as WasmSumFields, used: 0, free: new Map() };
    arenas.push(arena);
    return arena;
  } catch {
    module = null;
    return null;
  }
}

/**
 * A block of `size` bytes for `owner` in shared WebAssembly memory, returned to its arena once
 * `owner` is collected; null where WebAssembly shared memory is unavailable.
 */
export function wasmBlock(owner: object, size: number): WasmBlock | null {
  const need = Math.ceil(size / ALIGN) * ALIGN;
  let arena: Arena | undefined, at = -1;
  for (const a of arenas) {
    const reused = a.free.get(need)?.pop();
    if (reused !== undefined) {
      arena = a;
      at = reused;
      new Uint8Array(a.buffer, at, need).fill(0);
      break;
    }
    if (a.buffer.byteLength - a.used >= need) {
      arena = a;
      at = a.used;
      a.used += need;
      break;
    }
  }
  if (arena === undefined) {
    const fresh = newArena(need);
    if (!fresh) return null;
    arena = fresh;
    at = 0;
    fresh.used = need;
  }
  reclaim?.register(owner, { arena, at, size: need });
  return { buffer: arena.buffer, byteOffset: at, sum: arena.sum, sumFields: arena.sumFields };
}

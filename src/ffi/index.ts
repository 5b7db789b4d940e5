/**
 * `libbpf`: cgstore's one handle on libbpf and libc, opened on first use.
 *
 * Importing cgstore loads nothing: until the first call, every member of {@link libbpf} is a
 * stub that opens the backend for the running runtime (`bun:ffi` under Bun, `Deno.dlopen`
 * under Deno; both synchronous) and then replaces itself, and every other member, with the
 * backend's real function. Code that reads `libbpf.x` at call time therefore calls the bound C
 * function directly from then on. Code must not keep a member read before the first load (a
 * module-level `const f = libbpf.x`): that keeps the stub, which forwards every call. Read
 * members when calling, or after the library is open (a constructor of a handle that already
 * holds an fd).
 *
 * A libbpf that cannot be opened is a `BpfError` of kind "environment", thrown by the first
 * call (and every later one) with the path tried and the fix.
 * @internal
 */
import type { Libbpf } from "./types.ts";
import { bindLibbpf } from "./adapter.ts";
import { bunRuntime } from "./bun.ts";
import { denoRuntime } from "./deno.ts";
import { noFfiBackend } from "./load-error.ts";

export type { Libbpf, NativeHandle, NativePointer } from "./types.ts";

/** Which runtime is running cgstore. */
export const runtime: "bun" | "deno" | "other" =
  typeof (globalThis as { Bun?: unknown }).Bun !== "undefined"
    ? "bun"
    : typeof (globalThis as { Deno?: unknown }).Deno !== "undefined"
      ? "deno"
      : "other";

type Method = Exclude<keyof Libbpf, "path">;

/** Every function member of {@link Libbpf}; the type makes this list exactly complete. */
const METHODS: Record<Method, true> = {
  pointer: true, mapLookupElem: true, mapLookupElemFlags: true, mapUpdateElem: true, mapDeleteElem: true,
  mapGetNextKey: true, mapCreate: true, mapGetFdById: true, objGetInfoByFd: true, objPin: true, objGet: true,
  progAttach: true, progDetach2: true, linkCreate: true, numPossibleCpus: true, probeMapType: true,
  objectOpenFile: true, objectLoad: true, objectClose: true, objectFindMapByName: true,
  objectFindProgramByName: true, objectMapNames: true, objectProgramNames: true, mapFd: true, programFd: true,
  programExpectedAttachType: true, btfRawById: true, readDir: true, statx: true, readlink: true, open: true,
  read: true, write: true, rmdir: true, close: true, dupCloexec: true, errno: true,
};

let bound: Libbpf | undefined;
let failure: unknown;

/** Opens the backend once; afterwards {@link libbpf}'s members are the backend's own. */
function load(): Libbpf {
  if (bound) return bound;
  if (failure !== undefined) throw failure;
  try {
    if (runtime === "bun") bound = bindLibbpf(bunRuntime());
    else if (runtime === "deno") bound = bindLibbpf(denoRuntime());
    else throw noFfiBackend();
  } catch (e) {
    failure = e;
    throw e;
  }
  for (const name of Object.keys(METHODS) as Method[]) replaceStub(name, bound);
  Object.defineProperty(libbpf, "path", { value: bound.path, enumerable: true, writable: false });
  return bound;
}

type Fn = (...args: never[]) => unknown;
const stubs = new Map<string, Fn>();

/**
 * Puts the backend's function in place of `name`'s stub. A member someone replaced (a test's
 * wrapper around `pointer`) is left alone: the wrapper still reaches the backend through the stub.
 */
function replaceStub(name: Method, backend: Libbpf): void {
  const target = libbpf as unknown as Record<string, unknown>;
  if (target[name] === stubs.get(name)) target[name] = backend[name];
}

function stub(name: Method): Fn {
  const s: Fn = (...args) => {
    const backend = load();
    replaceStub(name, backend); // the stub was put back after the load: out of the way again
    return (backend[name] as Fn)(...args);
  };
  stubs.set(name, s);
  return s;
}

function lazyLibbpf(): Libbpf {
  const out: Record<string, unknown> = {};
  Object.defineProperty(out, "path", { get: () => load().path, enumerable: true, configurable: true });
  for (const name of Object.keys(METHODS) as Method[]) out[name] = stub(name);
  return out as unknown as Libbpf;
}

/** libbpf and the libc calls cgstore makes; opened on the first call (see the module comment). */
export const libbpf: Libbpf = lazyLibbpf();

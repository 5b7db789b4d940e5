/**
 * `libbpf`: cgstore's one handle on libbpf and libc, opened on first use.
 *
 * Importing cgstore loads nothing: until the first call, every member of {@link libbpf} is a
 * stub that opens the backend for the running runtime (`bun:ffi` under Bun, `Deno.dlopen`
 * under Deno; both synchronous) and then replaces itself, and every other member, with the
 * backend's real function. Code that reads `libbpf.x` at call time therefore calls the bound C
 * function directly from then on. Code must not keep a member read before the first load (a
 * module-level `const f = libbpf.x`): that keeps the stub, which forwards every call (allocating
 * its arguments). Read members at call time, e.g. a module-level
 * `const lookupElem = (fd: number, k: NativePointer, v: NativePointer) => libbpf.mapLookupElem(fd, k, v);`
 * (measured as fast as the old captured function on both runtimes), or keep a reference to
 * `libbpf` itself (as the scan cursor's `sys` does).
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
type Fn = (...args: never[]) => unknown;

let bound: Libbpf | undefined;
let printing: boolean | undefined;
let failure: unknown;
const stubs = new Map<string, Fn>();

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
  for (const name of stubs.keys()) replaceStub(name as Method, bound);
  if (printing !== undefined) bound.setPrint(printing);
  (libbpf as { path: string }).path = bound.path;
  return bound;
}

/**
 * Turns libbpf's own messages (its warnings, and the verifier's log when a load fails) on or
 * off, process-wide. On by default: libbpf prints warnings to stderr, as it does for C programs.
 * The `cgstore` command turns them off unless `--verbose`. Opens nothing: when libbpf is not
 * open yet, the setting is applied as it opens.
 */
export function setLibbpfLogging(on: boolean): void {
  printing = on;
  if (bound) bound.setPrint(on);
}

/** Whether libbpf's own messages are on (see {@link setLibbpfLogging}). */
export function libbpfLogging(): boolean {
  return printing ?? true;
}

/**
 * Puts the backend's function in place of `name`'s stub. A member someone replaced (a test's
 * wrapper around `pointer`) is left alone: the wrapper still reaches the backend through the stub.
 */
function replaceStub(name: Method, backend: Libbpf): void {
  const target = libbpf as unknown as Record<string, unknown>;
  if (target[name] === stubs.get(name)) target[name] = backend[name];
}

/** A member that loads the backend, then calls (and puts in its place) the real function. */
function stub<N extends Method>(name: N): Libbpf[N] {
  const s: Fn = (...args) => {
    const backend = load();
    replaceStub(name, backend); // the stub was put back after the load: out of the way again
    return (backend[name] as Fn)(...args);
  };
  stubs.set(name, s);
  return s as unknown as Libbpf[N];
}

/**
 * libbpf and the libc calls cgstore makes; opened on the first call (see the module comment).
 * An object literal of plain data properties, every member there from the start: its shape
 * never changes (the loader only replaces values), so V8 keeps it in fast mode (an accessor or
 * added properties would turn it into a dictionary) and property loads on it stay cheap.
 */
export const libbpf: Libbpf = {
  path: "",
  pointer: stub("pointer"),
  mapLookupElem: stub("mapLookupElem"),
  mapLookupElemFlags: stub("mapLookupElemFlags"),
  mapUpdateElem: stub("mapUpdateElem"),
  mapDeleteElem: stub("mapDeleteElem"),
  mapGetNextKey: stub("mapGetNextKey"),
  mapCreate: stub("mapCreate"),
  mapGetFdById: stub("mapGetFdById"),
  objGetInfoByFd: stub("objGetInfoByFd"),
  objPin: stub("objPin"),
  objGet: stub("objGet"),
  progAttach: stub("progAttach"),
  progDetach2: stub("progDetach2"),
  linkCreate: stub("linkCreate"),
  linkDetach: stub("linkDetach"),
  progQuery: stub("progQuery"),
  setPrint: stub("setPrint"),
  numPossibleCpus: stub("numPossibleCpus"),
  probeMapType: stub("probeMapType"),
  objectOpenFile: stub("objectOpenFile"),
  objectOpenMem: stub("objectOpenMem"),
  objectLoad: stub("objectLoad"),
  objectClose: stub("objectClose"),
  objectFindMapByName: stub("objectFindMapByName"),
  objectFindProgramByName: stub("objectFindProgramByName"),
  objectMapNames: stub("objectMapNames"),
  objectProgramNames: stub("objectProgramNames"),
  mapFd: stub("mapFd"),
  programFd: stub("programFd"),
  programExpectedAttachType: stub("programExpectedAttachType"),
  btfRawById: stub("btfRawById"),
  btfRawFromElf: stub("btfRawFromElf"),
  objectBtfRaw: stub("objectBtfRaw"),
  readDir: stub("readDir"),
  statx: stub("statx"),
  readlink: stub("readlink"),
  open: stub("open"),
  read: stub("read"),
  write: stub("write"),
  rmdir: stub("rmdir"),
  btfLoad: stub("btfLoad"),
  objectMapReuseFd: stub("objectMapReuseFd"),
  objectMapSetValueSize: stub("objectMapSetValueSize"),
  objectMapSetMaxEntries: stub("objectMapSetMaxEntries"),
  objectMapSetInitialValue: stub("objectMapSetInitialValue"),
  programAttachIter: stub("programAttachIter"),
  linkFd: stub("linkFd"),
  linkDestroy: stub("linkDestroy"),
  iterCreate: stub("iterCreate"),
  mmap: stub("mmap"),
  munmap: stub("munmap"),
  arrayBufferAt: stub("arrayBufferAt"),
  addressOf: stub("addressOf"),
  openByHandleAt: stub("openByHandleAt"),
  close: stub("close"),
  dupCloexec: stub("dupCloexec"),
  accessMode: stub("accessMode"),
  errno: stub("errno"),
};

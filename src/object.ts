/** BPF objects (`.bpf.o` files), their programs, and attaching programs to cgroups. */
import { readFileSync } from "node:fs";
import { libbpf, libbpfLogging, type NativeHandle } from "./ffi/index.ts";
import { BpfError, BpfRuleError, bpfError, closedError } from "./errors.ts";
import type { Cgroup } from "./cgroup/handle.ts";
import { mapFromFd, type AnyStorageMap } from "./maps/open.ts";
import { disarm, releaseWhenCollected } from "./finalize.ts";
import { pinFd } from "./pin.ts";
import { attachProgram, type AttachOptions } from "./attach/attach.ts";
import type { AttachMode, CgroupAttachment } from "./attach/attachment.ts";

export type { AttachOptions } from "./attach/attach.ts";
export { CgroupAttachment, openLink, type AttachMethod, type AttachMode, type LinkInfo } from "./attach/attachment.ts";
import { EMBEDDED_ROOT } from "./bundled.ts";
import { Btf } from "./btf/btf.ts";
import { layoutFromBtfMaps } from "./btf/object-file.ts";

const LIBBPF_ERRNO_FORMAT = 4001;

/**
 * A BPF ELF object opened with libbpf: `open` → `load` → `map(name)` / `program(name)`.
 * ```ts
 * using obj = BpfObject.open(bundledObject("counter.bpf.o")).load();
 * using link = obj.program("count_egress").attachCgroup("/sys/fs/cgroup/app");
 * using stats = obj.map("pcpu_stats");
 * ```
 * Closing the object unloads what nothing else holds; attachments and map handles keep their
 * own references and stay valid. An object dropped without `close()` is closed when the
 * garbage collector collects it (its programs keep it alive while they are referenced).
 */
export class BpfObject implements Disposable {
  /** The `.bpf.o` file it was opened from (for one opened from bytes: the name given). */
  readonly path: string;
  private handle: NativeHandle | null;
  private loaded = false;
  /** The ELF bytes of an object opened from memory: libbpf reads them in place until load. */
  private readonly held: HeldObject;

  private constructor(handle: NativeHandle, path: string, elf: Uint8Array | null) {
    this.handle = handle;
    this.path = path;
    this.held = { handle, elf };
    releaseWhenCollected(this, closeObject, this.held);
  }

  /**
   * Opens (parses) a `.bpf.o` file, or an object's bytes (`name` labels it in messages).
   * Nothing reaches the kernel until `load()`. A path under `/$bunfs/` (a file embedded in a
   * `bun build --compile` binary, which only Bun can read) is read here and opened from memory.
   */
  static open(source: string | Uint8Array, name = "<memory>"): BpfObject {
    if (typeof source !== "string") return BpfObject.openBytes(source, name);
    if (source.startsWith(EMBEDDED_ROOT)) {
      let bytes: Uint8Array;
      try {
        bytes = readFileSync(source);
      } catch (e) {
        const errno = Math.abs(Number((e as { errno?: unknown }).errno)) || 2;
        throw bpfError("open", -errno, `read ${source}`, "a file embedded in this executable by `bun build --compile`");
      }
      return BpfObject.openBytes(bytes, source);
    }
    const handle = libbpf.objectOpenFile(source);
    if (handle === null) throw openError(source);
    return new BpfObject(handle, source, null);
  }

  private static openBytes(bytes: Uint8Array, name: string): BpfObject {
    // A copy in an ArrayBuffer of its own: a backing store the garbage collector never moves,
    // kept alive with the object until libbpf is done with it.
    const elf = new Uint8Array(new ArrayBuffer(bytes.byteLength));
    elf.set(bytes);
    const handle = libbpf.objectOpenMem(elf);
    if (handle === null) throw openError(name);
    return new BpfObject(handle, name, elf);
  }

  /** Creates the maps and loads every program into the kernel. */
  load(): this {
    const h = this.live();
    const rc = libbpf.objectLoad(h);
    if (rc < 0) {
      throw bpfError("load", rc, `bpf_object__load(${this.path})`,
        -rc === 1 ? undefined : libbpfLogging() ? "libbpf printed the reason (and any verifier log) on stderr above"
        : "libbpf's log is off: setLibbpfLogging(true) (cgstore --verbose) shows the reason and any verifier log");
    }
    this.loaded = true;
    this.held.elf = null; // loading ends libbpf's use of the ELF bytes
    return this;
  }

  /** Names of the object's maps (including `.bss`/`.data` maps libbpf makes). */
  get mapNames(): string[] {
    return libbpf.objectMapNames(this.live());
  }

  /** Names of the object's programs (function names). */
  get programNames(): string[] {
    return libbpf.objectProgramNames(this.live());
  }

  /**
   * A handle to map `name`, which must be cgroup storage. The handle owns a duplicate fd, so it
   * stays usable after the object is closed.
   */
  map(name: string): AnyStorageMap {
    const h = this.live();
    const map = libbpf.objectFindMapByName(h, name);
    if (map === null) {
      throw new BpfError("open", `${this.path} has no map "${name}"`, { kind: "not-found", hint: `it has: ${this.mapNames.join(", ")}` });
    }
    this.requireLoaded(`map("${name}")`);
    const fd = libbpf.dupCloexec(libbpf.mapFd(map));
    if (fd < 0) throw bpfError("open", fd, `map "${name}" of ${this.path}`);
    const handle = mapFromFd(fd, `map "${name}" of ${this.path}`);
    // Its types, for when the kernel's BTF cannot be read (that needs CAP_SYS_ADMIN): the object's
    // own BTF, copied now (the object may be closed first), parsed only if it is ever needed.
    const raw = libbpf.objectBtfRaw(h);
    if (typeof raw !== "number") handle.knowObjectLayout(() => layoutFromBtfMaps(new Btf(raw), name, this.path));
    return handle;
  }

  /** Program `name` (its C function name). */
  program(name: string): BpfProgram {
    const prog = libbpf.objectFindProgramByName(this.live(), name);
    if (prog === null) {
      throw new BpfError("open", `${this.path} has no program "${name}"`, { kind: "not-found", hint: `it has: ${this.programNames.join(", ")}` });
    }
    return new BpfProgram(this, prog, name);
  }

  /** Frees the object. Idempotent. Map handles and attachments made from it stay valid. */
  close(): void {
    if (this.handle === null) return;
    disarm(this);
    libbpf.objectClose(this.handle);
    this.handle = null;
    this.held.elf = null;
  }

  [Symbol.dispose](): void {
    this.close();
  }

  /** @internal */
  requireLoaded(what: string): void {
    if (!this.loaded) throw new BpfRuleError("load", `${what}: call load() on ${this.path} first`);
  }

  /** The libbpf handle; throws once the object is closed (its programs are freed with it). @internal */
  live(): NativeHandle {
    if (this.handle === null) throw closedError("open", `BPF object ${this.path}`);
    return this.handle;
  }
}

/** What the leak net closes: the libbpf object, and the bytes it may still read until then. */
interface HeldObject {
  readonly handle: NativeHandle;
  elf: Uint8Array | null;
}

function closeObject(held: HeldObject): void {
  libbpf.objectClose(held.handle);
}

function openError(what: string): BpfError {
  const errno = libbpf.errno();
  return bpfError("open", errno, `bpf_object__open(${what})`,
    errno === 2 ? "no such file (in a checkout, build the BPF objects: make -C native)"
    : errno === LIBBPF_ERRNO_FORMAT ? "not a BPF ELF object (compile it with clang -target bpf)"
    : undefined);
}

/** A program of a `BpfObject`. */
export class BpfProgram {
  /** Its C function name. */
  readonly name: string;
  private readonly object: BpfObject;
  private readonly handle: NativeHandle;

  /** @internal */
  constructor(object: BpfObject, handle: NativeHandle, name: string) {
    this.object = object;
    this.handle = handle;
    this.name = name;
  }

  /** The program's fd (after load). Owned by the object. */
  get fd(): number {
    this.object.live(); // libbpf frees the program with its object
    return libbpf.programFd(this.handle);
  }

  /** The attach type its section name implies (`AttachType.CGROUP_INET_EGRESS` …). */
  get expectedAttachType(): number {
    this.object.live();
    return libbpf.programExpectedAttachType(this.handle);
  }

  /**
   * Pins the program at `path` on a bpf filesystem: it stays loaded after the object is closed
   * and the process exits, until the pin is removed (`rm`).
   * @throws BpfError `rule` (EEXIST) when `path` is taken.
   */
  pin(path: string): void {
    pinFd(this.fd, path, `program ${this.name}`);
  }

  /**
   * Attaches the program to a cgroup (a path, absolute or under `cgroupRoot()`, a `Cgroup`, or
   * an open fd of a cgroup directory). Storage entries for this cgroup are created now.
   *
   * `options.mode` says how it shares the cgroup (`"multi"`, the default; `"override"`;
   * `"exclusive"`: see {@link AttachMode}). A `multi` attachment is a link: pin it
   * (`attachment.pin(path)`) to keep it attached after this process exits. A link dropped
   * without `close()` or a pin is detached when the garbage collector collects its handle (and
   * at exit): keep the handle for as long as it should stay attached. `override` and
   * `exclusive` attach with `bpf_prog_attach`, which cgstore detaches at process exit.
   * @throws BpfError `rule` (EPERM) when what is attached there forbids it (another mode at the
   * same cgroup, an exclusive program above), naming it; `not-found` when a `Cgroup` handle's
   * cgroup was removed (even if a new cgroup now has its path: it is not the one the handle names).
   */
  attachCgroup(cgroup: string | number | Cgroup, options: AttachOptions = {}): CgroupAttachment {
    this.object.requireLoaded(`attachCgroup(${this.name})`);
    return attachProgram(this, cgroup, options);
  }
}

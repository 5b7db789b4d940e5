/** BPF objects (`.bpf.o` files), their programs, and attaching programs to cgroups. */
import { closeSync, constants, openSync, readFileSync } from "node:fs";
import { inodeOfFd } from "./bytepath.ts";
import { libbpf, type NativeHandle } from "./ffi/index.ts";
import { BpfError, BpfRuleError, bpfError, closedError } from "./errors.ts";
import { AttachFlags, attachTypeName, isCgroupAttachType } from "./constants.ts";
import { cgroupPath, fsError } from "./cgroup/mount.ts";
import type { Cgroup } from "./cgroup/handle.ts";
import { mapFromFd, type AnyStorageMap } from "./maps/open.ts";
import { closeWhenCollected, disarm, releaseWhenCollected } from "./finalize.ts";
import { EMBEDDED_ROOT } from "./bundled.ts";

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
        -rc === 1 ? undefined : "libbpf printed the reason (and any verifier log) on stderr above");
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
    return mapFromFd(fd, `map "${name}" of ${this.path}`);
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

/** How to attach: a bpf_link (detached when its fd closes, so at process exit), or the legacy
 * `bpf_prog_attach` with `BPF_F_ALLOW_MULTI` (stays until detached). */
export type AttachMethod = "link" | "prog_attach";

/** Options of `BpfProgram.attachCgroup`. */
export interface AttachOptions {
  /** Defaults to the program's expected attach type (from its `SEC("cgroup_skb/egress")`). */
  attachType?: number;
  /** Default: a link, falling back to `prog_attach` on kernels without cgroup links (< 5.7). */
  method?: AttachMethod;
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
   * Attaches the program to a cgroup (a path, absolute or under `cgroupRoot()`, a `Cgroup`, or
   * an open fd of a cgroup directory). Storage entries for this cgroup are created now. Call
   * `detach()` (or `using`) to undo it; entries survive detach until the cgroup goes.
   *
   * A link (`method: "link"`) dropped without `detach()` is detached when the garbage collector
   * collects its handle (and at exit): keep the handle for as long as it should stay attached.
   * A legacy `prog_attach` attachment stays until `detach()`, and is detached at process exit.
   * @throws BpfError `not-found` when a `Cgroup` handle's cgroup was removed (even if a new
   * cgroup now has its path: it is not the one the handle names).
   */
  attachCgroup(cgroup: string | number | Cgroup, options: AttachOptions = {}): CgroupAttachment {
    this.object.requireLoaded(`attachCgroup(${this.name})`);
    const attachType = options.attachType ?? this.expectedAttachType;
    if (!isCgroupAttachType(attachType)) {
      throw new BpfRuleError("attach", `${attachTypeName(attachType)} is not a cgroup attach point; pass options.attachType (e.g. AttachType.CGROUP_INET_EGRESS)`);
    }
    const path = typeof cgroup === "number" ? undefined : typeof cgroup === "string" ? cgroupPath(cgroup) : cgroup.path;
    const target = path === undefined ? (cgroup as number) : openDir(path);
    const where = `${this.name} to ${path ?? `cgroup fd ${target}`} at ${attachTypeName(attachType)}`;
    try {
      if (typeof cgroup === "object" && inodeOfFd(target) !== cgroup.id) {
        throw new BpfError("attach", `cgroup ${cgroup.path} (id ${cgroup.id}) was removed; another cgroup has its path now`,
          { kind: "not-found", hint: "create or open the cgroup again" });
      }
      const progFd = this.fd;
      if (options.method !== "prog_attach") {
        const link = libbpf.linkCreate(progFd, target, attachType);
        if (link >= 0) return new CgroupAttachment("link", link, -1, -1, attachType, path);
        // EINVAL: kernels before 5.7 have no cgroup links; anything else is a real refusal.
        if (options.method === "link" || link !== -22) throw attachError(link, where);
      }
      const rc = libbpf.progAttach(progFd, target, attachType, AttachFlags.ALLOW_MULTI);
      if (rc < 0) throw attachError(rc, where);
      // Detaching later needs the program and the exact cgroup attached to: a path reopened
      // then may name a new cgroup made under the same name.
      const progDup = libbpf.dupCloexec(progFd);
      const cgFd = libbpf.dupCloexec(target);
      if (progDup < 0 || cgFd < 0) {
        // Without both we could never detach it: undo the attach rather than leave it behind.
        libbpf.progDetach2(progFd, target, attachType);
        if (progDup >= 0) libbpf.close(progDup);
        if (cgFd >= 0) libbpf.close(cgFd);
        throw bpfError("attach", progDup < 0 ? progDup : cgFd, `${where}: duplicating fds for a later detach`);
      }
      return new CgroupAttachment("prog_attach", -1, progDup, cgFd, attachType, path);
    } finally {
      if (path !== undefined) closeSync(target);
    }
  }
}

function openDir(path: string): number {
  try {
    return openSync(path, constants.O_RDONLY | constants.O_DIRECTORY);
  } catch (e) {
    throw fsError("cannot open cgroup", path, e);
  }
}

function attachError(rc: number, where: string) {
  return bpfError("attach", rc, where,
    rc === -1 ? "a program is already attached there without BPF_F_ALLOW_MULTI (exclusive), or you lack CAP_NET_ADMIN"
    : rc === -22 ? "the attach type does not match the program's type (e.g. a cgroup_skb program attaches only at CGROUP_INET_INGRESS/EGRESS)"
    : rc === -9 ? "the target is not an open cgroup v2 directory"
    : undefined);
}

/**
 * Legacy attachments outlive the process; detach them at exit unless the user did. The set
 * also keeps their handles from being collected (only links are left to the fd-leak net).
 */
const legacy = new Set<CgroupAttachment>();
let exitHook = false;

function detachAllLegacy(): void {
  for (const a of legacy) {
    try {
      a.detach();
    } catch {
      // keep detaching the others
    }
  }
}

/** One program attached to one cgroup at one attach type. */
export class CgroupAttachment implements Disposable {
  /** `link`: detached when the link fd closes (also at process exit, or when the handle is collected). */
  readonly method: AttachMethod;
  readonly attachType: number;
  /** The cgroup's path, when attached by path or `Cgroup`. */
  readonly cgroupPath: string | undefined;
  private readonly linkFd: number;
  /** Legacy attachments: duplicates of the program's fd and of the cgroup's, for `detach()`. */
  private readonly progFd: number;
  private readonly cgroupFd: number;
  private live = true;

  /** @internal */
  constructor(method: AttachMethod, linkFd: number, progFd: number, cgroupFd: number, attachType: number,
    cgroupPath: string | undefined) {
    this.method = method;
    this.linkFd = linkFd;
    this.progFd = progFd;
    this.cgroupFd = cgroupFd;
    this.attachType = attachType;
    this.cgroupPath = cgroupPath;
    if (method === "link") {
      closeWhenCollected(this, linkFd);
    } else {
      legacy.add(this);
      if (!exitHook) {
        exitHook = true;
        process.on("exit", detachAllLegacy);
      }
    }
  }

  /** True until `detach()`. */
  get attached(): boolean {
    return this.live;
  }

  /**
   * Detaches the program from the cgroup it was attached to, through an fd of that cgroup kept
   * since attach time: never from a cgroup made later under the same path. Idempotent. The
   * cgroup's storage entries stay until it is removed.
   */
  detach(): void {
    if (!this.live) return;
    if (this.method === "link") {
      this.live = false;
      disarm(this);
      libbpf.close(this.linkFd);
      return;
    }
    const rc = libbpf.progDetach2(this.progFd, this.cgroupFd, this.attachType);
    // ENOENT: already detached (removing the cgroup detaches everything attached to it).
    // Anything else leaves it attached and this handle live, so detach() can be retried.
    if (rc < 0 && rc !== -2) throw bpfError("detach", rc, `bpf_prog_detach2 at ${this.cgroupPath ?? "cgroup"}`);
    this.live = false;
    legacy.delete(this);
    libbpf.close(this.progFd);
    libbpf.close(this.cgroupFd);
  }

  [Symbol.dispose](): void {
    this.detach();
  }
}

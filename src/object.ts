/** BPF objects (`.bpf.o` files), their programs, and attaching programs to cgroups. */
import { closeSync, constants, openSync } from "node:fs";
import { libbpf, type NativeHandle } from "./ffi/index.ts";
import { BpfError, BpfRuleError, bpfError, closedError } from "./errors.ts";
import { AttachFlags, attachTypeName, isCgroupAttachType } from "./constants.ts";
import { cgroupPath } from "./cgroup/mount.ts";
import type { Cgroup } from "./cgroup/handle.ts";
import { mapFromFd, type AnyStorageMap } from "./maps/open.ts";

const LIBBPF_ERRNO_FORMAT = 4001;

/**
 * A BPF ELF object opened with libbpf: `open` → `load` → `map(name)` / `program(name)`.
 * ```ts
 * using obj = BpfObject.open("native/build/counter.bpf.o").load();
 * using link = obj.program("count_egress").attachCgroup("/sys/fs/cgroup/app");
 * using stats = obj.map("pcpu_stats");
 * ```
 * Closing the object unloads what nothing else holds; attachments and map handles keep their
 * own references and stay valid.
 */
export class BpfObject implements Disposable {
  private handle: NativeHandle | null;
  private loaded = false;

  private constructor(handle: NativeHandle, readonly path: string) {
    this.handle = handle;
  }

  /** Opens (parses) a `.bpf.o` file. Nothing reaches the kernel until `load()`. */
  static open(path: string): BpfObject {
    const handle = libbpf.objectOpenFile(path);
    if (handle === null) {
      const errno = libbpf.errno();
      throw bpfError("open", errno, `bpf_object__open_file(${path})`,
        errno === 2 ? "no such file (build the BPF objects: make -C native)"
        : errno === LIBBPF_ERRNO_FORMAT ? "not a BPF ELF object (compile it with clang -target bpf)"
        : undefined);
    }
    return new BpfObject(handle, path);
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
    libbpf.objectClose(this.handle);
    this.handle = null;
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
  /** @internal */
  constructor(private readonly object: BpfObject, private readonly handle: NativeHandle, readonly name: string) {}

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
      const progFd = this.fd;
      if (options.method !== "prog_attach") {
        const link = libbpf.linkCreate(progFd, target, attachType);
        if (link >= 0) return new CgroupAttachment("link", link, -1, -1, attachType, path);
        // EINVAL: kernels before 5.7 have no cgroup links; anything else is a real refusal.
        if (options.method === "link" || link !== -22) throw attachError(link, where);
      }
      const rc = libbpf.progAttach(progFd, target, attachType, AttachFlags.ALLOW_MULTI);
      if (rc < 0) throw attachError(rc, where);
      // One fd per legacy attachment: a cgroup attached by path is reopened at detach time.
      const progDup = libbpf.dupCloexec(progFd);
      const cgFd = path === undefined ? libbpf.dupCloexec(target) : -1;
      if (progDup < 0 || (path === undefined && cgFd < 0)) {
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
    throw new Error(`cgstore: cannot open cgroup ${path}: ${(e as Error).message}`, { cause: e });
  }
}

function attachError(rc: number, where: string) {
  return bpfError("attach", rc, where,
    rc === -1 ? "a program is already attached there without BPF_F_ALLOW_MULTI (exclusive), or you lack CAP_NET_ADMIN"
    : rc === -22 ? "the attach type does not match the program's type (e.g. a cgroup_skb program attaches only at CGROUP_INET_INGRESS/EGRESS)"
    : rc === -9 ? "the target is not an open cgroup v2 directory"
    : undefined);
}

/** Legacy attachments outlive the process; detach them at exit unless the user did. */
const legacy = new Set<CgroupAttachment>();
let exitHook = false;

/** One program attached to one cgroup at one attach type. */
export class CgroupAttachment implements Disposable {
  private live = true;

  /** @internal */
  constructor(
    /** `link`: detached when the link fd closes (also at process exit). */
    readonly method: AttachMethod,
    private readonly linkFd: number,
    private readonly progFd: number,
    /** Legacy attachments by fd keep a duplicate; by path, -1 (reopened at detach). */
    private readonly cgroupFd: number,
    readonly attachType: number,
    /** The cgroup's path, when attached by path. */
    readonly cgroupPath: string | undefined,
  ) {
    if (method === "prog_attach") {
      legacy.add(this);
      if (!exitHook) {
        exitHook = true;
        process.on("exit", () => {
          for (const a of legacy) {
            try {
              a.detach();
            } catch {
              // keep detaching the others
            }
          }
        });
      }
    }
  }

  /** True until `detach()`. */
  get attached(): boolean {
    return this.live;
  }

  /** Detaches the program. Idempotent. The cgroup's storage entries stay until it is removed. */
  detach(): void {
    if (!this.live) return;
    if (this.method === "link") {
      this.live = false;
      libbpf.close(this.linkFd);
      return;
    }
    let target = this.cgroupFd;
    if (target < 0) {
      try {
        target = openSync(this.cgroupPath!, constants.O_RDONLY | constants.O_DIRECTORY);
      } catch {
        this.forget(); // the cgroup is gone, and removing it detached everything
        return;
      }
    }
    const rc = libbpf.progDetach2(this.progFd, target, this.attachType);
    if (this.cgroupFd < 0) closeSync(target);
    // ENOENT: already detached (e.g. the cgroup was removed and re-created meanwhile).
    // Anything else leaves it attached and this handle live, so detach() can be retried.
    if (rc < 0 && rc !== -2) throw bpfError("detach", rc, `bpf_prog_detach2 at ${this.cgroupPath ?? "cgroup"}`);
    this.forget();
  }

  private forget(): void {
    this.live = false;
    legacy.delete(this);
    libbpf.close(this.progFd);
    if (this.cgroupFd >= 0) libbpf.close(this.cgroupFd);
  }

  [Symbol.dispose](): void {
    this.detach();
  }
}

/**
 * `CgroupAttachment`: one program attached to one cgroup at one attach type, through a bpf_link
 * (which can be pinned, reopened from its pin and detached from anywhere) or a legacy
 * `bpf_prog_attach`.
 */
import { libbpf } from "../ffi/index.ts";
import { decodeLinkInfo, LINK_INFO, LinkType, type RawLinkInfo } from "../ffi/structs.ts";
import { BpfRuleError, bpfError, closedError, EINVAL, ENOENT } from "../errors.ts";
import { attachTypeName } from "../constants.ts";
import { resolveCgroupPath } from "../cgroup/resolve.ts";
import { closeWhenCollected, disarm } from "../finalize.ts";
import { objectInfo, openPinned, pinFd, unpinIfSame } from "../pin.ts";

/** How to attach: a bpf_link (detached when nothing holds it: no fd, no pin), or the legacy
 * `bpf_prog_attach` (stays until detached; cgstore detaches it at process exit). */
export type AttachMethod = "link" | "prog_attach";

/**
 * How an attachment shares its cgroup and attach type (the kernel's attach flags):
 * - `multi` (`BPF_F_ALLOW_MULTI`): programs attached here all run, and programs in
 *   sub-cgroups run too. Links are always `multi`.
 * - `override` (`BPF_F_ALLOW_OVERRIDE`): the only program here; a sub-cgroup may attach its own,
 *   which then runs instead of this one for that subtree.
 * - `exclusive` (no flag): the only program here, and nothing may attach below it.
 *
 * The kernel keeps one mode per cgroup and attach type: an attach in another mode than the
 * programs already there is refused (EPERM), and an `override` or `exclusive` attach where one
 * of the same mode is attached replaces that program.
 */
export type AttachMode = "multi" | "override" | "exclusive";

/** What the kernel says of a link (`bpf_obj_get_info_by_fd`). */
export interface LinkInfo {
  /** Kernel-wide link id (`bpftool link show id N`). */
  readonly id: number;
  /** The attached program's id. */
  readonly programId: number;
  /** The cgroup's id; 0 once detached (also when the cgroup was removed). */
  readonly cgroupId: number;
  readonly attachType: number;
}

/** @internal */
export interface AttachmentInit {
  method: AttachMethod;
  mode: AttachMode;
  attachType: number;
  cgroupPath: string | undefined;
  programId: number;
  /** Links. */
  linkFd?: number;
  linkId?: number;
  pinnedAt?: string;
  /** Legacy attachments: duplicates of the program's fd and of the cgroup's, for `detach()`. */
  progFd?: number;
  cgroupFd?: number;
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

function readLinkInfo(fd: number, what: string): RawLinkInfo {
  return decodeLinkInfo(objectInfo(fd, LINK_INFO.size, "info", what));
}

/**
 * One program attached to one cgroup at one attach type.
 *
 * Releasing and detaching are different things for a link, which the kernel keeps attached
 * while anything holds it (this handle's fd, another fd, a pin):
 * - `close()` (and `using`) releases this handle: the program stays attached while a pin or
 *   another fd holds the link; an unpinned link held only here is detached.
 * - `unpin()` removes the pin this handle made or was opened from: the link then detaches as
 *   soon as no fd holds it either.
 * - `detach()` detaches the link for every holder at once (`BPF_LINK_DETACH`, kernel ≥ 5.9),
 *   even while pins or other processes hold it; those holders keep a defunct link.
 *
 * A legacy `prog_attach` attachment has no kernel object to hold: `close()` is `detach()`.
 */
export class CgroupAttachment implements Disposable {
  readonly method: AttachMethod;
  readonly mode: AttachMode;
  readonly attachType: number;
  /** The cgroup's path, when attached by path or `Cgroup` (or resolved when reopened from a pin). */
  readonly cgroupPath: string | undefined;
  /** The program's kernel id. */
  readonly programId: number;
  /** The link's kernel id (0 for a legacy attachment). */
  readonly linkId: number;
  private linkFd: number;
  private readonly progFd: number;
  private readonly cgroupFd: number;
  private pinPath: string | undefined;
  private live = true;

  /** @internal */
  constructor(init: AttachmentInit) {
    this.method = init.method;
    this.mode = init.mode;
    this.attachType = init.attachType;
    this.cgroupPath = init.cgroupPath;
    this.programId = init.programId;
    this.linkFd = init.linkFd ?? -1;
    this.linkId = init.linkId ?? 0;
    this.pinPath = init.pinnedAt;
    this.progFd = init.progFd ?? -1;
    this.cgroupFd = init.cgroupFd ?? -1;
    if (this.method === "link") {
      closeWhenCollected(this, this.linkFd);
    } else {
      legacy.add(this);
      if (!exitHook) {
        exitHook = true;
        process.on("exit", detachAllLegacy);
      }
    }
  }

  /**
   * Opens the link pinned at `pin` (by `attachment.pin(path)`, `bpftool`, or any loader): a
   * handle to inspect it, `detach()` it, `unpin()` it, or pin it elsewhere. Closing the handle
   * leaves the attachment as it was.
   * @throws BpfError `not-found` when nothing is pinned there, `rule` when the pin holds no
   * cgroup link.
   */
  static open(pin: string): CgroupAttachment {
    const fd = openPinned(pin, "bpf-link");
    let info: RawLinkInfo;
    try {
      info = readLinkInfo(fd, pin);
      if (info.type !== LinkType.CGROUP) {
        throw new BpfRuleError("open", `${pin} holds a link of type ${info.type}, not a cgroup link`);
      }
    } catch (e) {
      libbpf.close(fd);
      throw e;
    }
    // The cached id → path map may predate the cgroup: one fresh walk then (a one-off cost).
    const path = info.cgroupId === 0 ? null
      : resolveCgroupPath(info.cgroupId) ?? resolveCgroupPath(info.cgroupId, { fresh: true });
    return new CgroupAttachment({
      method: "link", mode: "multi", attachType: info.attachType, cgroupPath: path ?? undefined,
      programId: info.progId, linkFd: fd, linkId: info.id, pinnedAt: pin,
    });
  }

  /**
   * True while the program is attached: for a link, what the kernel says now (false once
   * anyone detached it or its cgroup was removed); for a legacy attachment, until `detach()`
   * or until another program replaced it (`override`/`exclusive`).
   */
  get attached(): boolean {
    if (!this.live) return false;
    if (this.method === "link") return readLinkInfo(this.linkFd, `link ${this.linkId}`).cgroupId !== 0;
    return this.stillOurs();
  }

  /** Where this handle pinned the link, or the pin it was opened from; undefined after `unpin()`. */
  get pinnedAt(): string | undefined {
    return this.pinPath;
  }

  /** The link as the kernel describes it now. Links only. */
  info(): LinkInfo {
    const fd = this.requireLink("info");
    const i = readLinkInfo(fd, `link ${this.linkId}`);
    return { id: i.id, programId: i.progId, cgroupId: i.cgroupId, attachType: i.attachType };
  }

  /**
   * Pins the link at `path` on a bpf filesystem: the attachment then outlives this handle and
   * this process, until the pin is removed (`unpin()`, `rm`) or someone calls `detach()`.
   * Links only: a legacy attachment has no kernel object to pin.
   * @throws BpfError `rule` (EEXIST) when `path` is taken.
   */
  pin(path: string): void {
    const fd = this.requireLink("pin");
    pinFd(fd, path, `link ${this.linkId} (${attachTypeName(this.attachType)} at ${this.cgroupPath ?? "a cgroup"})`);
    this.pinPath = path;
  }

  /**
   * Removes the pin this handle made or was opened from, if it still holds this link (a pin
   * path reused by another link is left alone). The link detaches once no fd holds it either:
   * at `close()` of the last handle. True when a pin was removed. Works after `close()` too.
   */
  unpin(): boolean {
    const path = this.pinPath;
    if (path === undefined) return false;
    const removed = unpinIfSame(path, "bpf-link", this.linkId, (fd) => readLinkInfo(fd, path).id);
    this.pinPath = undefined;
    return removed;
  }

  /**
   * Detaches the program from the cgroup. A link is detached for every holder, pinned or not
   * (`BPF_LINK_DETACH`), and this handle's fd is closed. A legacy attachment is detached through
   * an fd of the exact cgroup kept since attach time (never a cgroup made later under the same
   * path), and only if its program is still the one attached there. Idempotent. The cgroup's
   * storage entries stay until the cgroup is removed.
   */
  detach(): void {
    if (!this.live) return;
    if (this.method === "link") {
      const rc = libbpf.linkDetach(this.linkFd);
      // EINVAL: a kernel before 5.9 has no BPF_LINK_DETACH; closing still detaches an unpinned link.
      if (rc < 0 && !(rc === -EINVAL && this.pinPath === undefined)) {
        throw bpfError("detach", rc, `bpf_link_detach(link ${this.linkId})`,
          rc === -EINVAL ? "this kernel cannot detach a pinned link (BPF_LINK_DETACH needs 5.9): unpin() it and close every handle" : undefined,
          rc === -EINVAL ? "unsupported" : undefined);
      }
      this.release();
      return;
    }
    if (this.stillOurs()) {
      const rc = libbpf.progDetach2(this.progFd, this.cgroupFd, this.attachType);
      // ENOENT: already detached (removing the cgroup detaches everything attached to it).
      // Anything else leaves it attached and this handle live, so detach() can be retried.
      if (rc < 0 && rc !== -ENOENT) throw bpfError("detach", rc, `bpf_prog_detach2 at ${this.cgroupPath ?? "cgroup"}`);
    }
    this.release();
  }

  /**
   * Releases this handle. An unpinned link held by nothing else is detached; a pinned one stays
   * attached. A legacy attachment is detached (as `detach()`). Idempotent.
   */
  close(): void {
    if (this.method === "link") this.release();
    else this.detach();
  }

  [Symbol.dispose](): void {
    this.close();
  }

  /**
   * Whether the program attached at the cgroup is still this one. For `override`/`exclusive` the
   * kernel detaches whatever single program is there, so a replaced attachment must not detach.
   */
  private stillOurs(): boolean {
    const q = libbpf.progQuery(this.cgroupFd, this.attachType, false);
    return typeof q === "number" ? true : q.ids.includes(this.programId);
  }

  private requireLink(op: "pin" | "info"): number {
    if (this.method !== "link") {
      throw new BpfRuleError(op, `a ${this.mode} prog_attach attachment has no link to ${op === "pin" ? "pin" : "describe"}`,
        'attach with method "link" (mode "multi") to get a pinnable link');
    }
    if (!this.live) throw closedError(op, `link ${this.linkId}`);
    return this.linkFd;
  }

  private release(): void {
    if (!this.live) return;
    this.live = false;
    if (this.method === "link") {
      disarm(this);
      libbpf.close(this.linkFd);
      this.linkFd = -1;
      return;
    }
    legacy.delete(this);
    libbpf.close(this.progFd);
    libbpf.close(this.cgroupFd);
  }
}

/** `CgroupAttachment.open(pin)`: the link pinned at `pin`. */
export function openLink(pin: string): CgroupAttachment {
  return CgroupAttachment.open(pin);
}

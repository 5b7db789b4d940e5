/**
 * Attaching a loaded program to a cgroup in one of the kernel's three modes, and explaining a
 * refusal by what is already attached (the kernel answers every conflict with a bare EPERM).
 * @internal
 */
import { closeSync, constants, openSync } from "node:fs";
import { dirname } from "node:path";
import { inodeOfFd, readLink } from "../bytepath.ts";
import { libbpf } from "../ffi/index.ts";
import { decodeLinkInfo, decodeProgInfo, LINK_INFO, PROG_INFO } from "../ffi/structs.ts";
import { BpfError, BpfRuleError, bpfError, typeMismatch, EPERM } from "../errors.ts";
import { AttachFlags, attachTypeName, isCgroupAttachType } from "../constants.ts";
import { cgroupPath, cgroupRoot, fsError } from "../cgroup/mount.ts";
import type { Cgroup } from "../cgroup/handle.ts";
import { objectInfo } from "../pin.ts";
import { CgroupAttachment, type AttachMethod, type AttachMode } from "./attachment.ts";

/** Options of `BpfProgram.attachCgroup`. */
export interface AttachOptions {
  /** Defaults to the program's expected attach type (from its `SEC("cgroup_skb/egress")`). */
  attachType?: number;
  /**
   * How the attachment shares the cgroup (see {@link AttachMode}). Default `"multi"`. A link is
   * always `multi`: `override` and `exclusive` attach through `bpf_prog_attach`.
   */
  mode?: AttachMode;
  /**
   * Default: for `multi`, a link, falling back to `prog_attach` on kernels without cgroup links
   * (< 5.7); for `override` and `exclusive`, `prog_attach` (the only way the kernel offers).
   */
  method?: AttachMethod;
}

/** What attaching needs of a program. */
export interface AttachableProgram {
  readonly fd: number;
  readonly name: string;
  /** Its section's attach type, when known (a reopened pin does not know it). */
  readonly expectedAttachType: number | undefined;
}

const MODE_FLAGS: Record<AttachMode, number> = {
  multi: AttachFlags.ALLOW_MULTI, override: AttachFlags.ALLOW_OVERRIDE, exclusive: 0,
};

function modeOfFlags(flags: number): AttachMode {
  return flags & AttachFlags.ALLOW_MULTI ? "multi" : flags & AttachFlags.ALLOW_OVERRIDE ? "override" : "exclusive";
}

function checkMode(options: AttachOptions): { mode: AttachMode; method: AttachMethod | undefined } {
  const mode = options.mode ?? "multi";
  if (!Object.hasOwn(MODE_FLAGS, mode)) typeMismatch("attach", "options.mode", '"multi", "override" or "exclusive"', mode);
  const method = options.method;
  if (method !== undefined && method !== "link" && method !== "prog_attach") {
    typeMismatch("attach", "options.method", '"link" or "prog_attach"', method);
  }
  if (mode !== "multi" && method === "link") {
    throw new BpfRuleError("attach",
      `mode "${mode}" cannot be a link: the kernel attaches every cgroup link as multi (BPF_F_ALLOW_MULTI); ` +
      `${mode} attachments exist only through bpf_prog_attach`,
      `use mode "multi" for a link (pinnable, detached with its last holder), or method "prog_attach" (the default for ${mode})`);
  }
  return { mode, method: mode === "multi" ? method : "prog_attach" };
}

/**
 * Attaches `prog` to a cgroup (a path, absolute or under `cgroupRoot()`, a `Cgroup`, or an open
 * fd of a cgroup directory). See `BpfProgram.attachCgroup`.
 */
export function attachProgram(prog: AttachableProgram, cgroup: string | number | Cgroup, options: AttachOptions = {}): CgroupAttachment {
  const { mode, method } = checkMode(options);
  const attachType = options.attachType ?? prog.expectedAttachType;
  if (attachType === undefined) {
    throw new BpfRuleError("attach", `${prog.name}: its attach type is not known (a program opened from a pin); pass options.attachType`);
  }
  if (!isCgroupAttachType(attachType)) {
    throw new BpfRuleError("attach", `${attachTypeName(attachType)} is not a cgroup attach point; pass options.attachType (e.g. AttachType.CGROUP_INET_EGRESS)`);
  }
  const path = typeof cgroup === "number" ? undefined : typeof cgroup === "string" ? cgroupPath(cgroup) : cgroup.path;
  const target = path === undefined ? (cgroup as number) : openDir(path);
  const where = `${prog.name} to ${path ?? `cgroup fd ${target}`} at ${attachTypeName(attachType)}`;
  const refused = (rc: number) => attachError(rc, where, target, path, attachType, mode);
  try {
    if (typeof cgroup === "object" && inodeOfFd(target) !== cgroup.id) {
      throw new BpfError("attach", `cgroup ${cgroup.path} (id ${cgroup.id}) was removed; another cgroup has its path now`,
        { kind: "not-found", hint: "create or open the cgroup again" });
    }
    const progFd = prog.fd;
    if (method !== "prog_attach") {
      const link = libbpf.linkCreate(progFd, target, attachType);
      if (link >= 0) {
        const info = decodeLinkInfo(objectInfo(link, LINK_INFO.size, "attach", `link of ${where}`));
        return new CgroupAttachment({
          method: "link", mode, attachType, cgroupPath: path, programId: info.progId, linkFd: link, linkId: info.id,
        });
      }
      // EINVAL: kernels before 5.7 have no cgroup links; anything else is a real refusal.
      if (method === "link" || link !== -22) throw refused(link);
    }
    const programId = decodeProgInfo(objectInfo(progFd, PROG_INFO.size, "attach", `program ${prog.name}`)).id;
    const rc = libbpf.progAttach(progFd, target, attachType, MODE_FLAGS[mode]);
    if (rc < 0) throw refused(rc);
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
    return new CgroupAttachment({
      method: "prog_attach", mode, attachType, cgroupPath: path, programId, progFd: progDup, cgroupFd: cgFd,
    });
  } finally {
    if (path !== undefined) closeSync(target);
  }
}

function openDir(path: string): number {
  try {
    return openSync(path, constants.O_RDONLY | constants.O_DIRECTORY);
  } catch (e) {
    throw fsError("cannot open cgroup", path, e);
  }
}

function attachError(rc: number, where: string, target: number, path: string | undefined, attachType: number, mode: AttachMode): BpfError {
  if (rc === -EPERM) {
    const conflict = explainConflict(target, path, attachType, mode);
    if (conflict) return new BpfError("attach", `${where}: ${conflict.what}`, { errno: EPERM, kind: "rule", hint: conflict.fix });
  }
  return bpfError("attach", rc, where,
    rc === -EPERM ? "you lack CAP_NET_ADMIN + CAP_BPF (or root)"
    : rc === -22 ? "the attach type does not match the program's type (e.g. a cgroup_skb program attaches only at CGROUP_INET_INGRESS/EGRESS)"
    : rc === -9 ? "the target is not an open cgroup v2 directory"
    : undefined);
}

/**
 * Why the kernel refused an attach with EPERM, when it was a conflict with what is attached
 * (the kernel's rules in `__cgroup_bpf_attach` and `hierarchy_allows_attach`), or undefined
 * when nothing attached explains it (then it was privilege).
 */
function explainConflict(target: number, path: string | undefined, attachType: number, mode: AttachMode): { what: string; fix: string } | undefined {
  const at = attachTypeName(attachType);
  const own = libbpf.progQuery(target, attachType, false);
  if (typeof own === "number") return undefined; // may not even query: privilege
  const here = modeOfFlags(own.flags);
  if (own.ids.length > 0 && here !== mode) {
    return {
      what: `the cgroup already has ${own.ids.length} ${here} program(s) at ${at} (id ${own.ids.join(", ")}), and the kernel keeps one mode per cgroup and attach type`,
      fix: here === "multi"
        ? `attach with mode "multi" (a link is always multi)`
        : `detach the ${here} program first, or attach with mode "${here}" and method "prog_attach" to replace it`,
    };
  }
  // An exclusive program in an ancestor forbids attaching anything below it; a multi or
  // override one allows it. The kernel walks up to the first ancestor with programs there.
  let dir = path ?? readLink(`/proc/self/fd/${target}`) ?? undefined;
  const root = cgroupRoot();
  while (dir !== undefined && dir !== root && dir.startsWith(`${root}/`)) {
    dir = dirname(dir);
    let fd: number;
    try {
      fd = openSync(dir, constants.O_RDONLY | constants.O_DIRECTORY);
    } catch {
      return undefined;
    }
    try {
      const q = libbpf.progQuery(fd, attachType, false);
      if (typeof q === "number") return undefined;
      if (q.flags & AttachFlags.ALLOW_MULTI) return undefined;
      if (q.ids.length === 0) continue;
      if (q.flags & AttachFlags.ALLOW_OVERRIDE) return undefined;
      return {
        what: `${dir === root ? "the root cgroup" : `ancestor cgroup ${dir}`} has an exclusive program at ${at} (id ${q.ids.join(", ")}): the kernel allows nothing more to attach in its subtree`,
        fix: "detach it, or attach it there with mode \"override\" (sub-cgroups may then attach their own) or \"multi\"",
      };
    } finally {
      closeSync(fd);
    }
  }
  return undefined;
}

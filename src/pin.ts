/**
 * Pins on a bpf filesystem, for every kind of BPF object cgstore hands out (maps, programs,
 * links): pinning an fd, opening a pin as the kind it must be, and removing a pin only while it
 * still holds the object the caller means.
 * @internal
 */
import { rmSync } from "node:fs";
import { libbpf } from "./ffi/index.ts";
import { infoBuffer } from "./ffi/structs.ts";
import { BpfError, BpfRuleError, bpfError, typeMismatch, EEXIST, EINVAL, ENOENT, EPERM, type BpfOp } from "./errors.ts";
import { fdKind, onBpffs } from "./maps/source.ts";

/** Pins `fd` at `path`. `what` names the object in messages (`link 12`, `map "stats"`). */
export function pinFd(fd: number, path: string, what: string): void {
  if (typeof path !== "string") typeMismatch("pin", "a pin path", "a string", path);
  const rc = libbpf.objPin(fd, path);
  if (rc >= 0) return;
  // A taken path is the caller's conflict, not the kernel's failure: kind "rule", errno kept.
  if (rc === -EEXIST) {
    throw new BpfError("pin", `bpf_obj_pin(${path}) of ${what}`,
      { errno: EEXIST, kind: "rule", hint: `${path} already exists: unpin (rm) what is there, or pick another path` });
  }
  const bpffs = onBpffs(path);
  throw bpfError("pin", rc, `bpf_obj_pin(${path}) of ${what}`,
    !bpffs || rc === -EINVAL ? `${path} must be inside a mounted bpf filesystem (mount -t bpf bpf /sys/fs/bpf)`
    : rc === -ENOENT ? `the directory of ${path} does not exist (mkdir it on the bpf filesystem first)`
    : undefined,
    !bpffs ? "environment" : undefined);
}

/** The anon-inode kinds pins hold, and how messages name them. */
export type PinKind = "bpf-map" | "bpf-prog" | "bpf-link";
const NOUN: Record<PinKind, string> = { "bpf-map": "map", "bpf-prog": "program", "bpf-link": "link" };

/**
 * An fd of its own for the object pinned at `path`, which must be of `kind`; anything else is
 * closed and refused (kind "rule") naming what is there.
 */
export function openPinned(path: string, kind: PinKind, op: BpfOp = "open"): number {
  if (typeof path !== "string") typeMismatch(op, "a pin path", "a string", path);
  const fd = libbpf.objGet(path);
  if (fd < 0) {
    // Off bpffs the kernel says EACCES or EPERM; that is no pin, not a lack of privilege.
    const bpffs = onBpffs(path);
    throw bpfError(op, fd, `bpf_obj_get(${path})`,
      !bpffs ? `${path} is not on a bpf filesystem; pins live under one (mount -t bpf bpf /sys/fs/bpf)`
      : fd === -ENOENT ? `nothing is pinned at ${path}` : fd === -EINVAL ? `${path} is not a pinned BPF object` : undefined,
      bpffs ? undefined : "not-found");
  }
  const found = fdKind(fd);
  if (found !== kind) {
    libbpf.close(fd);
    throw new BpfRuleError(op, `${path} holds ${found ? `a ${NOUN[found as PinKind] ?? found}` : "no BPF object"}, not a ${NOUN[kind]}`);
  }
  return fd;
}

/** `bpf_obj_get_info_by_fd` into a zero-filled buffer of `size` bytes. */
export function objectInfo(fd: number, size: number, op: BpfOp, what: string): Uint8Array {
  const buf = infoBuffer(size);
  const len = new Uint32Array(new ArrayBuffer(4));
  len[0] = size;
  const rc = libbpf.objGetInfoByFd(fd, libbpf.pointer(buf), libbpf.pointer(len));
  if (rc < 0) throw bpfError(op, rc, `bpf_obj_get_info_by_fd(${what})`);
  return buf;
}

/**
 * Removes the pin at `path` if it still holds the object `idOf` identifies as `id` (a pin
 * replaced by another object since is left alone, and refused). True when removed, false when
 * nothing is pinned there any more.
 */
export function unpinIfSame(path: string, kind: PinKind, id: number, idOf: (fd: number) => number): boolean {
  let fd: number;
  try {
    fd = openPinned(path, kind, "pin");
  } catch (e) {
    if (e instanceof BpfError && e.errno === ENOENT) return false;
    throw e;
  }
  try {
    const there = idOf(fd);
    if (there !== id) {
      throw new BpfRuleError("pin", `${path} now holds another ${NOUN[kind]} (id ${there}, not ${id}); left in place`);
    }
  } finally {
    libbpf.close(fd);
  }
  try {
    rmSync(path);
  } catch (e) {
    const errno = Math.abs((e as { errno?: number }).errno ?? EPERM);
    if (errno === ENOENT) return false;
    throw bpfError("pin", -errno, `unlink(${path})`);
  }
  return true;
}

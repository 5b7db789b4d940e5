/**
 * Keys of BPF_MAP_TYPE_CGRP_STORAGE maps. The kernel's key is an open fd of the cgroup's
 * directory; cgstore takes a cgroup in any form a user has one (a `Cgroup`, a path, a cgroup
 * id, or an fd of their own) and resolves it once to an fd that the map caches, so a lookup by
 * a reused key is one syscall and allocates nothing. A cached fd whose cgroup was removed
 * makes the kernel answer ENOENT (`css_tryget_online_from_dir`); it is then closed and
 * forgotten.
 */
import { constants } from "node:fs";
import { libbpf, type NativePointer } from "../ffi/index.ts";
import { encodeCgroupFileHandle } from "../ffi/structs.ts";
import { BpfRuleError, ENOENT, ENOTDIR, typeMismatch, type BpfOp } from "../errors.ts";
import { closeFd, inodeOfFd, openDirectory, statPath, toBytePath } from "../bytepath.ts";
import { Cgroup } from "../cgroup/handle.ts";
import { cgroupPath, cgroupPathError, cgroupRoot } from "../cgroup/mount.ts";
import { resolveCgroupPath } from "../cgroup/resolve.ts";
import { releaseWhenCollected } from "../finalize.ts";

/**
 * A cgroup as a CGRP_STORAGE key:
 * - a `Cgroup` handle;
 * - a path: absolute (under the cgroup2 mount), or relative to the mount with or without a
 *   leading "/" (`/app/web`, as `cgstore dump` prints it);
 * - a cgroup id, `number` or `bigint` (the directory's inode number, as on the other maps);
 * - `{ fd }`: an open fd of the cgroup directory, the caller's (used as it is, never closed).
 */
export type CgroupKey = Cgroup | string | number | bigint | { readonly fd: number };

const KEY_FORMS = "a Cgroup, a cgroup path, a cgroup id (number or bigint) or { fd } of an open cgroup directory";
/** Cached fds beyond this close the oldest: a map scanned once over 100k cgroups must not hold 100k fds. */
const MAX_CACHED_FDS = 1024;
// O_DIRECTORY differs by architecture: take the platform's (as bytepath.ts does).
const { O_RDONLY, O_DIRECTORY } = constants;
const O_CLOEXEC = 0o2000000;
const ESTALE = 116, EPERM = 1, EOPNOTSUPP = 95;

let mountFd = -1;

/** The cgroup with id `id` opened by file handle (no walk), or by its path when that is refused; -1 when none. */
function openById(id: number): number {
  if (mountFd < 0) mountFd = openDirectory(toBytePath(cgroupRoot())) ?? -1;
  const fd = libbpf.openByHandleAt(mountFd, encodeCgroupFileHandle(id), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd >= 0) return fd;
  if (fd === -ESTALE || fd === -ENOENT || fd === -ENOTDIR) return -1;
  if (fd !== -EPERM && fd !== -EOPNOTSUPP) throw cgroupPathError("cannot open cgroup id", String(id), -fd);
  // No CAP_DAC_READ_SEARCH: find the path by a walk of the tree, and check it is still that cgroup.
  const path = resolveCgroupPath(id, { fresh: true });
  return path === null ? -1 : openChecked(path, id);
}

/** An fd for `path`, or -1 if it is gone or (with `id`) now another cgroup. */
function openChecked(path: string, id?: number): number {
  const fd = openDirectory(toBytePath(path));
  if (fd === null) return -1;
  if (id !== undefined && inodeOfFd(fd) !== id) {
    closeFd(fd);
    return -1;
  }
  return fd;
}

/** A path as a CGRP_STORAGE key means: absolute under the mount, else relative to it. */
export function cgroupKeyPath(path: string): string {
  const root = cgroupRoot();
  if (path === root || path.startsWith(`${root}/`)) return cgroupPath(path);
  return cgroupPath(path.replace(/^\/+/, ""));
}

function closeAll(fds: Map<number, number>): void {
  for (const fd of fds.values()) closeFd(fd);
  fds.clear();
}

/** The fd cache of one map, and the 4-byte key buffer its element operations pass. @internal */
export class CgroupFds {
  /** cgroup id → fd this cache owns. */
  private readonly byId = new Map<number, number>();
  /** path key → cgroup id, resolved once. */
  private readonly idByPath = new Map<string, number>();
  private readonly word = new Int32Array(new ArrayBuffer(8));
  /** The key buffer's pointer. */
  readonly pointer: NativePointer = libbpf.pointer(this.word);
  /** The cgroup id of the last key (0 for `{ fd }` keys), and whether its fd came from the cache. */
  lastId = 0;
  private lastPath: string | undefined;

  constructor(owner: object) {
    releaseWhenCollected(owner, closeAll, this.byId);
  }

  /**
   * Writes `key`'s fd into the key buffer and returns its pointer; -1 (nothing written) when
   * the cgroup does not exist. Allocates nothing for an id or a `Cgroup` already cached.
   */
  resolve(op: BpfOp, key: CgroupKey): NativePointer | null {
    let id: number;
    this.lastPath = undefined;
    if (typeof key === "number") {
      if (!(key >= 1 && key <= Number.MAX_SAFE_INTEGER) || !Number.isInteger(key)) badId(op, key);
      id = key;
    } else if (typeof key === "bigint") {
      if (key < 1n || key > BigInt(Number.MAX_SAFE_INTEGER)) badId(op, key);
      id = Number(key);
    } else if (key instanceof Cgroup) {
      id = key.id;
      if (!this.byId.has(id)) return this.store(id, openChecked(key.path, id));
    } else if (typeof key === "string") {
      this.lastPath = key;
      const known = this.idByPath.get(key);
      if (known !== undefined && this.byId.has(known)) id = known;
      else return this.openPath(op, key);
    } else if (typeof key === "object" && key !== null && "fd" in key) {
      const fd = key.fd;
      if (typeof fd !== "number") typeMismatch(op, "the key's fd", "a number", fd);
      if (!Number.isInteger(fd) || fd < 0 || fd > 0x7fffffff) throw new BpfRuleError(op, `a cgroup fd is a whole number ≥ 0; got ${fd}`);
      this.lastId = 0;
      this.word[0] = fd;
      return this.pointer;
    } else {
      return typeMismatch(op, "a key", KEY_FORMS, key);
    }
    const fd = this.byId.get(id);
    if (fd !== undefined) {
      this.lastId = id;
      this.word[0] = fd;
      return this.pointer;
    }
    return this.store(id, openById(id));
  }

  private openPath(op: BpfOp, key: string): NativePointer | null {
    if (key === "") throw new BpfRuleError(op, "an empty string is not a cgroup path", 'the root is "/" (or cgroupRoot())');
    const full = cgroupKeyPath(key);
    const st = statPath(toBytePath(full));
    if (typeof st === "number") {
      if (st === -ENOENT || st === -ENOTDIR) return null;
      throw cgroupPathError("cannot stat cgroup", full, -st);
    }
    if (!st.isDir || typeof statPath(toBytePath(`${full}/cgroup.procs`)) === "number") {
      throw new BpfRuleError(op, `${full} is not a cgroup v2 directory (it has no cgroup.procs)`,
        `cgroup v2 is mounted at ${cgroupRoot()}; pass a directory below it`);
    }
    this.idByPath.set(key, st.ino);
    return this.store(st.ino, this.byId.get(st.ino) ?? openChecked(full, st.ino));
  }

  private store(id: number, fd: number): NativePointer | null {
    this.lastId = id;
    if (fd < 0) return null;
    if (!this.byId.has(id)) {
      if (this.byId.size >= MAX_CACHED_FDS) {
        for (const [oldId, oldFd] of this.byId) {
          this.byId.delete(oldId);
          closeFd(oldFd);
          break;
        }
      }
      this.byId.set(id, fd);
    }
    this.word[0] = fd;
    return this.pointer;
  }

  /**
   * After the kernel answered ENOENT for the last key: true when its cached fd's cgroup was
   * removed (the fd is then closed and forgotten, and a path key re-resolves next time).
   */
  forgetIfRemoved(): boolean {
    const id = this.lastId;
    const fd = this.byId.get(id);
    if (fd === undefined) return false;
    // A removed cgroup's directory keeps its fd but loses its files.
    const st = libbpf.statx(fd, CGROUP_PROCS, 0);
    if (st !== -ENOENT) return false;
    this.byId.delete(id);
    closeFd(fd);
    if (this.lastPath !== undefined) this.idByPath.delete(this.lastPath);
    return true;
  }

  /** The fd the last `resolve` wrote. */
  get lastFd(): number {
    return this.word[0]!;
  }

  /** `cgroup 42` or the path, for messages. */
  describe(key: CgroupKey): string {
    if (key instanceof Cgroup) return `cgroup ${key.path} (id ${key.id})`;
    if (typeof key === "string") return `cgroup ${key}`;
    if (typeof key === "object" && key !== null) return `cgroup fd ${key.fd}`;
    return `cgroup ${String(key)}`;
  }

  /** Closes every cached fd. */
  close(): void {
    closeAll(this.byId);
    this.idByPath.clear();
  }
}

const CGROUP_PROCS = new TextEncoder().encode("cgroup.procs");

function badId(op: BpfOp, id: unknown): never {
  throw new BpfRuleError(op, `a cgroup id is a whole number from 1 to 2^53-1 (got ${String(id)})`,
    "take it from cgroupId(path) or a Cgroup's id: the inode number of the cgroup2 directory");
}

/** The `Cgroup` handle: create or open a cgroup, move processes in, remove what it created. */
import { mkdirSync } from "node:fs";
import { dirname, join } from "node:path";
import { listDir, readText, removeDir, statPath, toBytePath, writeText } from "../bytepath.ts";
import { BpfError, EBUSY, EEXIST, ENOENT, ENOTDIR, ENOTEMPTY } from "../errors.ts";
import { cgroupId, cgroupPath, cgroupPathError, fsError } from "./mount.ts";
import { removeCgroupDir, type RemoveOptions } from "./remove.ts";

const ESRCH = 3;

/** A directory this process made with mkdir, and its inode (to recognise it later). */
interface Made {
  path: string;
  ino: number;
}

/** The inode at `path` now, or null when nothing is there. */
function inodeAt(path: string): number | null {
  const st = statPath(toBytePath(path));
  if (typeof st !== "number") return st.ino;
  if (st === -ENOENT || st === -ENOTDIR) return null;
  throw cgroupPathError("cannot stat cgroup", path, -st);
}

/**
 * A cgroup v2 directory. A handle removes only what it created:
 * - `Cgroup.open(path)` never removes anything on dispose;
 * - `Cgroup.create(path)` creates the cgroup (and missing parents). When it did create it
 *   (`owned`), dispose removes it, and then the parents it created, **only if empty**. A
 *   cgroup that still holds processes or child cgroups is left in place and dispose throws a
 *   `BpfError` with errno EBUSY saying what is inside. When the cgroup already existed,
 *   `create` opens it as `open` does (`owned` is false) and dispose removes nothing.
 * - Moving processes out is explicit: `remove({ evict: true })`; child cgroups go with
 *   `remove({ recursive: true })`.
 *
 * ```ts
 * using cg = Cgroup.create("my-test");   // under cgroupRoot()
 * cg.addProcess(child.pid);
 * // … child exits (or: cg.remove({ evict: true }) before the scope ends)
 * ```
 */
export class Cgroup implements Disposable {
  /** Absolute path of the directory. */
  readonly path: string;
  /** The cgroup id (inode number): what storage keys hold. */
  readonly id: number;
  /**
   * True when this handle created the cgroup: dispose removes it (and the parents `create`
   * made), if it is empty by then. False for `open()` and for `create()` of an existing cgroup.
   */
  readonly owned: boolean;
  /** Parent directories `create` made, deepest first; removed after the cgroup when empty. */
  private readonly madeParents: Made[];
  private gone = false;

  private constructor(path: string, owned: boolean, madeParents: Made[]) {
    this.path = path;
    this.id = cgroupId(path);
    this.owned = owned;
    this.madeParents = madeParents;
  }

  /**
   * Creates the cgroup (absolute, or relative to `cgroupRoot()`), and any missing parents. If
   * it exists already it is opened, not owned: dispose will not remove it.
   * @throws BpfError `not-found`/`permission` (with the errno) when a directory cannot be made,
   * BpfRuleError when the nearest existing ancestor is not a cgroup v2 directory.
   */
  static create(path: string): Cgroup {
    const full = cgroupPath(path);
    const missing: string[] = [];
    let dir = full;
    while (inodeAt(dir) === null) {
      missing.unshift(dir);
      const up = dirname(dir);
      if (up === dir) break;
      dir = up;
    }
    if (missing.length === 0) return new Cgroup(full, false, []);
    cgroupId(dir); // refuses to mkdir anywhere but below a cgroup
    const made: Made[] = [];
    let ownLeaf = false;
    try {
      for (const d of missing) {
        try {
          mkdirSync(d);
        } catch (e) {
          if ((e as { errno?: number }).errno === -EEXIST) continue; // made by someone else meanwhile: theirs, not ours
          throw fsError("cannot create cgroup", d, e);
        }
        const ino = inodeAt(d);
        if (ino === null) continue; // removed meanwhile: the next step says so with its errno
        if (d === full) ownLeaf = true;
        made.unshift({ path: d, ino });
      }
      return new Cgroup(full, ownLeaf, ownLeaf ? made.slice(1) : []);
    } catch (e) {
      removeMade(made); // what this call made, deepest first: a failed create leaves nothing behind
      throw e;
    }
  }

  /** An existing cgroup. Disposing the handle removes nothing. */
  static open(path: string): Cgroup {
    return new Cgroup(cgroupPath(path), false, []);
  }

  /** True once `remove()` (or dispose) removed it, or found it already gone. */
  get removed(): boolean {
    return this.gone;
  }

  /** Moves process `pid` (all its threads) into this cgroup. */
  addProcess(pid: number): void {
    const rc = writeText(toBytePath(join(this.path, "cgroup.procs")), `${pid}\n`);
    if (rc === -ESRCH) throw new BpfError("cgroup", `cannot move pid ${pid} into ${this.path}: no such process`, { errno: ESRCH, kind: "not-found" });
    if (rc < 0) throw cgroupPathError(`cannot move pid ${pid} into`, this.path, -rc);
  }

  /** Pids of the processes in this cgroup (not its children). */
  processes(): number[] {
    const text = readText(toBytePath(join(this.path, "cgroup.procs")));
    if (text === null) throw cgroupPathError("cannot read the processes of", this.path, ENOENT);
    return text.split("\n").filter(Boolean).map(Number);
  }

  /** Child cgroups' absolute paths (names that are not UTF-8 show U+FFFD). */
  children(): string[] {
    const entries = listDir(toBytePath(this.path));
    if (entries === null) throw cgroupPathError("cannot list", this.path, ENOENT);
    const decoder = new TextDecoder();
    return entries.filter((e) => e.isDir).map((e) => join(this.path, decoder.decode(e.name)));
  }

  /**
   * Removes this cgroup now, whether or not this handle created it (an explicit call; only
   * dispose is limited to owned cgroups). By default only an empty cgroup is removed:
   * - `evict: true` moves the processes inside to the parent cgroup first;
   * - `recursive: true` removes every child cgroup first (with the same `evict`), including
   *   ones cgstore did not create.
   *
   * Idempotent. If the path now names another cgroup (this one was removed and a new one made
   * under the same name) nothing is removed: that one is not this handle's. Then the parents
   * `create` made are removed if they are empty (left in place, silently, if not: something
   * else lives there now). Storage entries of removed cgroups vanish shortly afterwards.
   * @throws BpfError with errno EBUSY (and a hint) when processes or child cgroups are inside
   * that the options do not allow to move or remove; the cgroup is then left as it was.
   */
  remove(options: RemoveOptions = {}): void {
    if (this.gone) return;
    if (inodeAt(this.path) === this.id) removeCgroupDir(toBytePath(this.path), options);
    this.gone = true;
    removeMade(this.madeParents);
  }

  /**
   * Removes the cgroup if this handle created it (`owned`) and it is empty; see `remove()`.
   * @throws BpfError EBUSY when an owned cgroup still holds processes or child cgroups.
   */
  [Symbol.dispose](): void {
    if (this.owned) this.remove();
  }
}

/** rmdir of directories this process made, deepest first, while they are empty and still ours. */
function removeMade(made: Made[]): void {
  for (const m of made) {
    if (inodeAt(m.path) !== m.ino) continue; // gone, or another directory by now
    const rc = removeDir(toBytePath(m.path));
    if (rc === -EBUSY || rc === -ENOTEMPTY) return; // holds something else now: not ours to take
  }
}

/**
 * Removing cgroups. rmdir(2) removes an empty cgroup only (plain rm -r fails: the interface
 * files cannot be unlinked); moving processes out and removing child cgroups are explicit
 * options, because a cgroup that is not empty usually belongs to someone.
 */
import { joinBytes, listDir, readText, removeDir, statPath, toBytePath, writeText, type BytePath } from "../bytepath.ts";
import { BpfError, BpfRuleError, EBUSY, ENOENT } from "../errors.ts";
import { cgroupPathError, cgroupRoot } from "./mount.ts";
import { displayName } from "./resolve.ts";

/** Options of `Cgroup.remove()`. */
export interface RemoveOptions {
  /**
   * Move the processes still inside to the parent cgroup first. Default false: a cgroup with
   * processes is left in place and `remove()` throws EBUSY.
   */
  evict?: boolean;
  /**
   * Remove every child cgroup first, depth-first and with the same `evict`, whoever created
   * them. Default false: a cgroup with child cgroups is left in place and `remove()` throws EBUSY.
   */
  recursive?: boolean;
}

const ESRCH = 3;
/** rmdir attempts while the kernel still counts exiting processes (or new ones keep arriving). */
const MAX_ATTEMPTS = 50;
const RETRY_MS = 10;

const sleeper = new Int32Array(new SharedArrayBuffer(4));
function sleepMs(ms: number): void {
  Atomics.wait(sleeper, 0, 0, ms);
}

function pidsIn(dir: BytePath): string[] {
  return (readText(joinBytes(dir, "cgroup.procs")) ?? "").split("\n").filter(Boolean);
}

function childDirs(dir: BytePath): BytePath[] {
  return (listDir(dir) ?? []).filter((e) => e.isDir).map((e) => joinBytes(dir, e.name));
}

function busy(dir: BytePath, why: string, hint: string): BpfError {
  return new BpfError("cgroup", `cannot remove cgroup ${displayName(dir)}: ${why}`, { errno: EBUSY, hint });
}

/**
 * Removes the cgroup at `dir` (with its children when `recursive`, moving processes to the
 * parent when `evict`). Returns false when it was already gone.
 * @throws BpfError with errno EBUSY when it still holds processes or child cgroups the options
 * do not allow to touch; the kernel's errno for anything else.
 * @internal
 */
export function removeCgroupDir(dir: BytePath, options: RemoveOptions = {}): boolean {
  const st = statPath(dir);
  if (typeof st === "number") {
    if (st === -ENOENT) return false;
    throw cgroupPathError("cannot remove cgroup", displayName(dir), -st);
  }
  // Evicting the root's children would empty the whole machine's hierarchy before rmdir failed.
  const root = statPath(toBytePath(cgroupRoot()));
  if (typeof root !== "number" && root.ino === st.ino) {
    throw new BpfRuleError("cgroup", `${displayName(dir)} is the cgroup2 root, which cannot be removed`, "pass a cgroup below it");
  }
  return removeBelowRoot(dir, options);
}

function removeBelowRoot(dir: BytePath, options: RemoveOptions): boolean {
  for (let attempt = 1; ; attempt++) {
    if (options.recursive) for (const child of childDirs(dir)) removeBelowRoot(child, options);
    const rc = removeDir(dir);
    if (rc === 0) return true;
    if (rc === -ENOENT) return false; // removed by someone else meanwhile
    if (rc !== -EBUSY) throw cgroupPathError("cannot remove cgroup", displayName(dir), -rc);
    // EBUSY: processes inside, child cgroups, or processes still exiting.
    const children = childDirs(dir);
    if (children.length > 0 && !options.recursive) {
      throw busy(dir, `it has ${children.length} child cgroup(s) (${children.slice(0, 3).map(displayName).join(", ")})`,
        "remove them first, or call remove({ recursive: true }) to remove the whole subtree");
    }
    const pids = pidsIn(dir);
    if (pids.length > 0 && !options.evict) {
      throw busy(dir, `it has ${pids.length} process(es) (pid ${pids.slice(0, 5).join(", ")})`,
        "move them out first, or call remove({ evict: true }) to move them to the parent cgroup");
    }
    if (attempt >= MAX_ATTEMPTS) {
      throw busy(dir, pids.length > 0 ? "processes keep arriving" : "processes that exited are still counted",
        "an exited process stays counted until its parent reaps it (a zombie); wait for it, then retry");
    }
    const parentProcs = joinBytes(dir, "../cgroup.procs");
    for (const pid of pids) {
      const w = writeText(parentProcs, `${pid}\n`);
      // ESRCH: it exited meanwhile. Anything else (EBUSY: the parent enables controllers for its
      // children, so it may hold no process) will not change by retrying.
      if (w < 0 && w !== -ESRCH) {
        throw new BpfError("cgroup", `cannot move pid ${pid} out of ${displayName(dir)} to its parent`, {
          errno: -w,
          hint: w === -EBUSY ? "the parent enables controllers in cgroup.subtree_control, so it may hold no processes; move them elsewhere first" : undefined,
        });
      }
    }
    if (pids.length === 0) sleepMs(RETRY_MS);
  }
}

/**
 * `rm -r` for a cgroup tree: removes `path` (absolute, bytes allowed: names need not be UTF-8)
 * and every cgroup below it, moving the processes inside each to its parent first. Same as
 * `Cgroup.remove({ evict: true, recursive: true })` without a handle. Does nothing when the
 * path is gone; refuses the cgroup2 root.
 */
export function removeCgroupTree(path: string | Uint8Array): void {
  removeCgroupDir(toBytePath(path), { evict: true, recursive: true });
}

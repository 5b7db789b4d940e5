/** cgroup v2: where it is mounted, cgroup ids, and a small create/join/remove helper. */
import { existsSync, mkdirSync, readFileSync, readdirSync, statSync, writeFileSync } from "node:fs";
import {
  inodeOf, joinBytes, listDir, readText, removeDir, toBytePath, writeText, type BytePath,
} from "./bytepath.ts";
import { EBUSY, ENOENT, errnoName } from "./errors.ts";
import { isAbsolute, join, resolve } from "node:path";

let root: string | undefined;

/** Parses `/proc/self/mountinfo` text; returns the first cgroup2 mount point, or null. @internal */
export function cgroup2MountFrom(mountinfo: string): string | null {
  for (const line of mountinfo.split("\n")) {
    const sep = line.indexOf(" - ");
    if (sep < 0) continue;
    const fsType = line.slice(sep + 3).split(" ")[0];
    if (fsType === "cgroup2") {
      // Field 5 is the mount point; the kernel escapes space, tab, newline and backslash as \ooo.
      const mountPoint = line.slice(0, sep).split(" ")[4]!;
      return mountPoint.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));
    }
  }
  return null;
}

/**
 * The cgroup v2 mount point, read from `/proc/self/mountinfo` (it is not always
 * `/sys/fs/cgroup`: hybrid systems mount it at `/sys/fs/cgroup/unified`). Cached.
 */
export function cgroupRoot(): string {
  if (root !== undefined) return root;
  const found = cgroup2MountFrom(readFileSync("/proc/self/mountinfo", "utf8"));
  if (found === null) {
    throw new Error(
      "cgstore: no cgroup v2 filesystem is mounted (none in /proc/self/mountinfo). " +
        "Mount one: mount -t cgroup2 none /sys/fs/cgroup/unified",
    );
  }
  return (root = found);
}

/** An absolute path: relative ones are taken under `cgroupRoot()`. */
export function cgroupPath(path: string): string {
  return isAbsolute(path) ? resolve(path) : join(cgroupRoot(), path);
}

/**
 * The cgroup id of a cgroup v2 directory (absolute, or relative to `cgroupRoot()`): the number
 * the kernel puts in storage keys, which is the directory's inode number.
 */
export function cgroupId(path: string): number {
  const full = cgroupPath(path);
  let st;
  try {
    st = statSync(full, { bigint: true });
  } catch (e) {
    throw new Error(`cgstore: cannot stat cgroup ${full}: ${(e as Error).message}`, { cause: e });
  }
  if (!st.isDirectory() || !existsSync(join(full, "cgroup.procs"))) {
    throw new Error(`cgstore: ${full} is not a cgroup v2 directory (cgroup v2 is at ${cgroupRoot()})`);
  }
  return Number(st.ino);
}

/** A cgroup found by the walk: its path as bytes (for the filesystem) and as display text. */
interface Found {
  bytes: BytePath;
  display: string;
}
const pathById = new Map<number, Found>();
let lastWalk = 0;
/** Re-walking the tree for every unknown id would make a scan of removed cgroups quadratic. */
const MIN_WALK_INTERVAL_MS = 1000;
const strictUtf8 = new TextDecoder("utf-8", { fatal: true });

/**
 * Directory names may hold any byte but "/" and NUL. Valid UTF-8 is shown as it is; otherwise
 * every byte ≥ 0x80 is written as `\xNN`, so no two names look alike and nothing is lost.
 */
export function displayName(name: Uint8Array): string {
  try {
    return strictUtf8.decode(name);
  } catch {
    return Array.from(name, (b) => (b < 0x80 ? String.fromCharCode(b) : `\\x${b.toString(16).padStart(2, "0")}`)).join("");
  }
}

/** Records `dir` (inode `ino`) and every cgroup below it; readdir's d_ino is the cgroup id. */
function walk(dir: Found, ino: number): void {
  pathById.set(ino, dir);
  let entries;
  try {
    entries = listDir(dir.bytes) ?? []; // null: removed while we walked
  } catch {
    return; // unreadable (EACCES…): ids below it stay unresolved
  }
  for (const e of entries) {
    if (e.isDir) walk({ bytes: joinBytes(dir.bytes, e.name), display: `${dir.display}/${displayName(e.name)}` }, e.ino);
  }
}

/**
 * The path of the cgroup with this id, or null if no such cgroup exists (it was removed).
 * Walks the cgroup tree once and caches; an unknown id re-walks at most once a second unless
 * `fresh` is set. Names that are not valid UTF-8 come back with `\xNN` escapes (see
 * `displayName`), so such a path is for showing, not for opening.
 */
export function resolveCgroupPath(id: number | bigint, options: { fresh?: boolean } = {}): string | null {
  const key = Number(id);
  const cached = pathById.get(key);
  if (cached !== undefined) {
    try {
      if (inodeOf(cached.bytes) === key) return cached.display;
    } catch {
      // unreadable now: look again below
    }
    pathById.delete(key);
  }
  const now = Date.now();
  if (!options.fresh && now - lastWalk < MIN_WALK_INTERVAL_MS) return null;
  lastWalk = now;
  pathById.clear();
  const root = cgroupRoot();
  const rootBytes = toBytePath(root);
  walk({ bytes: rootBytes, display: root }, inodeOf(rootBytes) ?? -1);
  return pathById.get(key)?.display ?? null;
}

const sleeper = new Int32Array(new SharedArrayBuffer(4));
function sleepMs(ms: number): void {
  Atomics.wait(sleeper, 0, 0, ms);
}

/**
 * A cgroup directory: create one, move processes in, remove it with everything below it.
 * ```ts
 * using cg = Cgroup.create("my-test");   // under cgroupRoot()
 * cg.addProcess(child.pid);
 * ```
 */
export class Cgroup implements Disposable {
  /** Absolute path of the directory. */
  readonly path: string;
  /** The cgroup id (inode number): what storage keys hold. */
  readonly id: number;

  private constructor(path: string) {
    this.path = path;
    this.id = cgroupId(path);
  }

  /** Creates the cgroup (parents too); an existing one is opened as it is. */
  static create(path: string): Cgroup {
    const full = cgroupPath(path);
    mkdirSync(full, { recursive: true });
    return new Cgroup(full);
  }

  /** An existing cgroup. */
  static open(path: string): Cgroup {
    return new Cgroup(cgroupPath(path));
  }

  /** Moves process `pid` (all its threads) into this cgroup. */
  addProcess(pid: number): void {
    writeFileSync(join(this.path, "cgroup.procs"), `${pid}\n`);
  }

  /** Pids of the processes in this cgroup (not its children). */
  processes(): number[] {
    return readFileSync(join(this.path, "cgroup.procs"), "utf8").split("\n").filter(Boolean).map(Number);
  }

  /** Child cgroups' absolute paths. */
  children(): string[] {
    return readdirSync(this.path, { withFileTypes: true })
      .filter((d) => d.isDirectory())
      .map((d) => join(this.path, d.name));
  }

  /**
   * Removes this cgroup and every cgroup below it, moving any process still inside to the
   * parent first. Idempotent. Storage entries of removed cgroups vanish shortly afterwards.
   */
  remove(): void {
    removeCgroupTree(this.path);
  }

  [Symbol.dispose](): void {
    this.remove();
  }
}

/**
 * rmdir -r for cgroups (plain rm -r fails: the interface files cannot be unlinked). Works on
 * bytes all the way down: a child's name need not be UTF-8.
 */
export function removeCgroupTree(path: string | Uint8Array): void {
  const dir = toBytePath(path);
  const entries = listDir(dir);
  if (entries === null) return; // already gone
  for (const e of entries) if (e.isDir) removeCgroupTree(joinBytes(dir, e.name));
  const parentProcs = joinBytes(dir, "../cgroup.procs");
  const procs = joinBytes(dir, "cgroup.procs");
  for (let attempt = 0; ; attempt++) {
    const rc = removeDir(dir);
    if (rc === 0 || rc === -ENOENT) return;
    if (rc !== -EBUSY || attempt >= 50) {
      throw new Error(`cgstore: cannot remove cgroup ${displayName(dir)}: ${errnoName(-rc)}` +
        (rc === -EBUSY ? " (processes that will not leave, or a child cgroup created meanwhile)" : ""));
    }
    // Processes still inside (or exiting): move the live ones out, give the rest a moment.
    for (const pid of (readText(procs) ?? "").split("\n").filter(Boolean)) {
      writeText(parentProcs, `${pid}\n`); // fails only for a pid that exited meanwhile
    }
    sleepMs(10);
  }
}

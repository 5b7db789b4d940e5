/** From a cgroup id back to its path: a cached walk of the cgroup tree. */
import { inodeOf, joinBytes, listDir, toBytePath, type BytePath } from "../bytepath.ts";
import { cgroupRoot } from "./mount.ts";

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

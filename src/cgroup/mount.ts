/** cgroup v2: where it is mounted, absolute cgroup paths, and cgroup ids. */
import { readFileSync } from "node:fs";
import { isAbsolute, join, resolve } from "node:path";
import { joinBytes, statPath, toBytePath } from "../bytepath.ts";
import { BpfError, BpfRuleError, EACCES, ENOENT, ENOTDIR, EPERM, environmentError } from "../errors.ts";

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
 * @throws BpfError of kind `"environment"` when no cgroup2 filesystem is mounted.
 */
export function cgroupRoot(): string {
  return (root ??= cgroup2MountIn(readFileSync("/proc/self/mountinfo", "utf8")));
}

/** {@link cgroup2MountFrom}, or the `environment` error saying none is mounted. @internal */
export function cgroup2MountIn(mountinfo: string): string {
  const found = cgroup2MountFrom(mountinfo);
  if (found === null) {
    throw environmentError("cgroup", "no cgroup v2 filesystem is mounted (none in /proc/self/mountinfo)",
      "mount one: mount -t cgroup2 none /sys/fs/cgroup/unified");
  }
  return found;
}

/** An absolute path: relative ones are taken under `cgroupRoot()`. */
export function cgroupPath(path: string): string {
  return isAbsolute(path) ? resolve(path) : join(cgroupRoot(), path);
}

/**
 * The error for a cgroup path the filesystem refused (`errno` positive, as the kernel answered):
 * a missing path (ENOENT, or ENOTDIR for a prefix that is a file) is `not-found`, EACCES/EPERM
 * `permission`, anything else `kernel`. @internal
 */
export function cgroupPathError(what: string, path: string, errno: number, cause?: unknown): BpfError {
  if (errno === ENOENT || errno === ENOTDIR) {
    return new BpfError("cgroup", `${what} ${path}: no such cgroup`, {
      errno, kind: "not-found", cause,
      hint: `cgroup paths are absolute or relative to the cgroup2 mount ${root ?? "(see cgroupRoot())"}`,
    });
  }
  if (errno === EACCES || errno === EPERM) {
    return new BpfError("cgroup", `${what} ${path}`, { errno, kind: "permission", cause, hint: "run as root, or as the owner of the cgroup (delegation)" });
  }
  return new BpfError("cgroup", `${what} ${path}`, { errno, cause });
}

/**
 * {@link cgroupPathError} for an error a `node:fs` call threw (its `errno` is negative), or the
 * error itself when it carries no errno. @internal
 */
export function fsError(what: string, path: string, e: unknown): unknown {
  const errno = (e as { errno?: unknown } | null)?.errno;
  return typeof errno === "number" && errno !== 0 ? cgroupPathError(what, path, Math.abs(errno), e) : e;
}

/**
 * The cgroup id of a cgroup v2 directory (absolute, or relative to `cgroupRoot()`): the number
 * the kernel puts in storage keys, which is the directory's inode number.
 * @throws BpfError `not-found` (ENOENT/ENOTDIR) for a path that does not exist, `permission`
 * for one this process may not look at, and a BpfRuleError for a path that is not a cgroup v2
 * directory.
 */
export function cgroupId(path: string): number {
  const full = cgroupPath(path);
  const bytes = toBytePath(full);
  const st = statPath(bytes);
  if (typeof st === "number") throw cgroupPathError("cannot stat cgroup", full, -st);
  if (!st.isDir || typeof statPath(joinBytes(bytes, "cgroup.procs")) === "number") {
    throw new BpfRuleError("cgroup", `${full} is not a cgroup v2 directory (it has no cgroup.procs)`,
      `cgroup v2 is mounted at ${cgroupRoot()}; pass a directory below it`);
  }
  return st.ino;
}

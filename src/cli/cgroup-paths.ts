/** How `serve` and `top` name cgroups: paths below the cgroup2 mount, both ways. */
import { statSync } from "node:fs";
import { join, resolve } from "node:path";
import { cgroupRoot, resolveCgroupPath } from "../index.ts";
import { UsageError } from "./errors.ts";

/**
 * The directory a `--cgroup` argument names: an absolute path under the cgroup2 mount as it
 * is, anything else (`/nu-persist`, `nu-persist`: what `dump` prints) relative to the mount.
 * @throws UsageError (exit 2) naming the path when no such cgroup directory exists.
 */
export function cgroupDirArg(arg: string, help: string): string {
  const root = cgroupRoot();
  const under = (p: string) => p === root || p.startsWith(`${root}/`);
  const tries = [...(under(resolve(arg)) ? [resolve(arg)] : []), resolve(join(root, arg))].filter(under);
  for (const dir of tries) {
    try {
      if (statSync(dir).isDirectory()) return dir;
    } catch (e) {
      // Present but not ours to look at: let the command report the permission it lacks.
      if ((e as { code?: string }).code === "EACCES") return dir;
    }
  }
  throw new UsageError(`--cgroup ${arg}: no such cgroup (${tries.length > 0 ? `${[...new Set(tries)].join(" or ")} is not a directory` : "outside the cgroup2 mount"}); ` +
    `give its path relative to the cgroup2 mount ${root} (as dump prints it, e.g. /system.slice) or an absolute path under it`, help);
}

/**
 * A resolver for one scrape or refresh: a cgroup id's path below the cgroup2 mount ("/" for the
 * root), or null once the cgroup is gone. Resolution uses the cached id → path map; a cgroup
 * created since the last walk gets one fresh walk of the tree, at most one per resolver, so a
 * screen of removed cgroups costs one walk, not one each.
 */
export function cgroupPathResolver(): (id: number) => string | null {
  const root = cgroupRoot();
  let walked = false;
  return (id) => {
    let path = resolveCgroupPath(id);
    if (path === null && !walked) {
      walked = true;
      path = resolveCgroupPath(id, { fresh: true });
    }
    return path === null ? null : path === root ? "/" : path.slice(root.length);
  };
}

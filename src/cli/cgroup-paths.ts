/** How `serve` and `top` show a cgroup id: its path below the cgroup2 mount. */
import { cgroupRoot, resolveCgroupPath } from "../index.ts";

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

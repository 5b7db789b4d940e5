/**
 * Where `serve` and `top` get their numbers: the bundled counter attached to every cgroup of a
 * subtree (`--cgroup`, new cgroups picked up on refresh), or a pinned map of the user's (`--map`).
 */
import {
  closeFd, inodeOf, inodeOfFd, joinBytes, listDir, openDirectory, toBytePath, type BytePath,
} from "../bytepath.ts";
import {
  BpfObject, bundledObjectBytes, Collector, cgroupPath, openMap, type AnyStorageMap, type CgroupAttachment,
} from "../index.ts";
import { UsageError } from "./errors.ts";
import { applyLayoutChoice, LAYOUT_OPTIONS, layoutChoice, type LayoutChoice } from "./layout-options.ts";
import { cgroupDirArg } from "./cgroup-paths.ts";


/** Every cgroup under `dir` (inclusive) with its id, as byte paths (names may be any bytes). */
function cgroupDirs(dir: BytePath, ino: number, out: { path: BytePath; id: number }[] = []) {
  out.push({ path: dir, id: ino });
  let entries;
  try {
    entries = listDir(dir) ?? []; // null: removed meanwhile
  } catch {
    return out; // unreadable: its subtree is skipped, the rest is still served
  }
  for (const e of entries) if (e.isDir) cgroupDirs(joinBytes(dir, e.name), e.ino, out);
  return out;
}

/** The options every Source-based command takes (spread into its parseArgs options). */
export const SOURCE_OPTIONS = {
  cgroup: { type: "string" },
  map: { type: "string" },
  ...LAYOUT_OPTIONS,
} as const;

/** The source a command line names: exactly one of --cgroup or --map. */
export function sourceFrom(
  values: { cgroup?: string; map?: string; btf?: string; schema?: string },
  command: string,
  help: string,
): { cgroup?: string; map?: string; layout: LayoutChoice; command: string } {
  if ((values.cgroup === undefined) === (values.map === undefined)) {
    throw new UsageError(`${command} needs exactly one of --cgroup <dir> or --map <pinned map path>`, help);
  }
  return {
    cgroup: values.cgroup === undefined ? undefined : cgroupDirArg(values.cgroup, help),
    map: values.map,
    layout: layoutChoice(values, help),
    command,
  };
}

export class Source {
  readonly map: AnyStorageMap;
  readonly collector: Collector;
  /** The subtree, for --cgroup. */
  readonly dir: string | undefined;
  private readonly obj: BpfObject | undefined;
  private readonly attached = new Map<number, CgroupAttachment[]>();

  private constructor(map: AnyStorageMap, collector: Collector, obj: BpfObject | undefined, dir: string | undefined) {
    this.map = map;
    this.collector = collector;
    this.obj = obj;
    this.dir = dir;
  }

  static async open(opts: { cgroup?: string; map?: string; workers?: number; layout?: LayoutChoice; command?: string }): Promise<Source> {
    const dir = opts.cgroup === undefined ? undefined : cgroupPath(opts.cgroup);
    let obj: BpfObject | undefined, map: AnyStorageMap | undefined, s: Source | undefined;
    try {
      obj = dir === undefined ? undefined : BpfObject.open(await bundledObjectBytes("counter.bpf.o"), "counter.bpf.o").load();
      // --map only reads: read-only, so a pin this user can read (0644) suffices. (The bundled
      // counter's map falls back to its object file's BTF by itself.)
      map = obj ? obj.map("pcpu_stats") : openMap(opts.map!, { access: "read" });
      if (!obj) applyLayoutChoice(map, opts.layout ?? {}, opts.command ?? "serve");
      const collector = await Collector.create(map, { workers: opts.workers ?? 0, capacity: 65536 });
      s = new Source(map, collector, obj, dir);
      s.refresh();
      return s;
    } catch (e) {
      // Leave nothing behind: attachments, the collector's Workers, the map, the object.
      if (s) await s.close();
      else {
        map?.close();
        obj?.close();
      }
      throw e;
    }
  }

  /** Cgroups the counter is attached to (--cgroup). */
  get cgroups(): number {
    return this.attached.size;
  }

  /**
   * Attaches to new cgroups of the subtree (--cgroup), closes the links of cgroups that are gone
   * (a long-running exporter under pod churn would otherwise run out of fds), then rediscovers
   * keys.
   */
  refresh(): void {
    if (this.obj && this.dir !== undefined) {
      const top = toBytePath(this.dir);
      const seen = new Set<number>();
      for (const { path, id } of cgroupDirs(top, inodeOf(top) ?? -1)) {
        seen.add(id);
        if (this.attached.has(id)) continue;
        let fd: number | null;
        try {
          fd = openDirectory(path);
        } catch {
          continue; // unreadable (EACCES…): skipped, as a walk skips it
        }
        if (fd === null) continue; // removed meanwhile
        try {
          // Removed and re-created under the same name since the walk: a new cgroup, attached
          // on a later refresh under its own id.
          if (inodeOfFd(fd) !== id) continue;
          // Record each attachment as it succeeds, so a failure halfway is not attached twice
          // by the next refresh and is detached by close().
          const list: CgroupAttachment[] = [];
          this.attached.set(id, list);
          list.push(this.obj.program("count_egress").attachCgroup(fd));
          list.push(this.obj.program("count_ingress").attachCgroup(fd));
        } finally {
          closeFd(fd);
        }
      }
      for (const [id, list] of this.attached) {
        if (seen.has(id)) continue;
        // The cgroup was removed: its links only pin a dead cgroup now. Closing them frees it.
        for (const a of list) a.detach();
        this.attached.delete(id);
      }
    }
    this.collector.refresh();
  }

  /** Stops the collector, detaches what it attached, closes the map. */
  async close(): Promise<void> {
    await this.collector.close();
    for (const list of this.attached.values()) for (const a of list) a.detach();
    this.map.close();
    this.obj?.close();
  }
}

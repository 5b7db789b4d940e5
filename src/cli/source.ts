/**
 * Where `serve` and `top` get their numbers: the bundled counter attached to every cgroup of a
 * subtree (`--cgroup`, new cgroups picked up on refresh), or a pinned map of the user's (`--map`).
 */
import {
  closeFd, inodeOf, inodeOfFd, joinBytes, listDir, openDirectory, readText, toBytePath, type BytePath,
} from "../bytepath.ts";
import { isCgroupAttachType } from "../constants.ts";
import { errorKind } from "../errors.ts";
import {
  BpfObject, BUNDLED_OBJECTS, bundledObjectBytes, CgrpStorageMap, Collector, cgroupPath, openMap, type AnyStorageMap,
  type BundledObjectName, type CgroupAttachment,
} from "../index.ts";
import { UsageError } from "./errors.ts";
import { applyLayoutChoice, LAYOUT_OPTIONS, layoutChoice, type LayoutChoice } from "./layout-options.ts";
import { cgroupDirArg } from "./cgroup-paths.ts";


/** A cgroup of the served subtree, as one walk found it. */
interface WalkedCgroup {
  path: BytePath;
  id: number;
  /** Depth below the subtree's root (0: the root). */
  depth: number;
  /** Id of its parent in the walk (-1 for the root). */
  parent: number;
  hasChildren: boolean;
}

/** Every cgroup under `dir` (inclusive), parents before children, as byte paths (names may be any bytes). */
function cgroupDirs(dir: BytePath, ino: number, depth = 0, parent = -1, out: WalkedCgroup[] = []): WalkedCgroup[] {
  const me: WalkedCgroup = { path: dir, id: ino, depth, parent, hasChildren: false };
  out.push(me);
  let entries;
  try {
    entries = listDir(dir) ?? []; // null: removed meanwhile
  } catch {
    return out; // unreadable: its subtree is skipped, the rest is still served
  }
  for (const e of entries) {
    if (!e.isDir) continue;
    me.hasChildren = true;
    cgroupDirs(joinBytes(dir, e.name), e.ino, depth + 1, ino, out);
  }
  return out;
}

/** Does the cgroup hold processes of its own (not only in its children)? */
function holdsProcesses(dir: BytePath): boolean {
  try {
    return /\d/.test(readText(joinBytes(dir, "cgroup.procs")) ?? "");
  } catch {
    return false;
  }
}

/**
 * Which cgroups of a subtree get the programs. `own`: where processes live (leaves, and inner
 * cgroups holding processes themselves); a program attached to a cgroup also runs for its
 * descendants' sockets, into the attached cgroup's storage, so attaching to a parent without
 * processes would only count its children a second time. `subtree`: every cgroup.
 */
export type AttachPolicy = "own" | "subtree";

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

/** An object file, or `bundled:<name>` for one shipped with cgstore. */
async function openObject(spec: string): Promise<BpfObject> {
  if (!spec.startsWith("bundled:")) return BpfObject.open(spec);
  const name = spec.slice("bundled:".length);
  if (!(BUNDLED_OBJECTS as readonly string[]).includes(name)) {
    throw new UsageError(`object ${spec}: cgstore ships ${BUNDLED_OBJECTS.map((o) => `bundled:${o}`).join(", ")}`, "");
  }
  return BpfObject.open(await bundledObjectBytes(name as BundledObjectName), name);
}

/** What `Source.open` serves. */
export interface SourceOptions {
  /** The subtree to attach the programs to (with `object`, or the bundled counter). */
  cgroup?: string;
  /** A pinned map to export as it is. */
  map?: string;
  workers?: number;
  /**
   * With `cgroup`: the object to load (default the bundled counter) and its map's name.
   * `bundled:<name>` names one of the objects shipped with cgstore (`BUNDLED_OBJECTS`).
   */
  object?: string;
  mapName?: string;
  /** Programs to attach (default: every program of the object with a cgroup attach type). */
  programs?: string[];
  /**
   * Where to attach. Default `subtree` (what `top` shows); `serve` passes its config's. A
   * cgrp_storage map's programs are attached once, at the subtree's root: its values belong to
   * each socket's own cgroup, so every cgroup's series is its own traffic whatever the policy.
   */
  policy?: AttachPolicy;
  /** Called with the open map before the collector is made (declare rules); returns the fields to collect. */
  prepare?: (map: AnyStorageMap) => string[] | undefined;
  /** Collector capacity (keys at once), default 65536. */
  capacity?: number;
  /** With `map`: how to name the fields when the map's BTF cannot be read (`--btf`, `--schema`). */
  layout?: LayoutChoice;
  /** The command, for the one line saying the BTF could not be read. */
  command?: string;
}

export class Source {
  readonly map: AnyStorageMap;
  readonly collector: Collector;
  /** The subtree, for --cgroup. */
  readonly dir: string | undefined;
  readonly policy: AttachPolicy;
  /** A cgrp_storage map: one value per cgroup, its own (no attach type, nothing counted twice). */
  readonly perCgroup: boolean;
  private readonly obj: BpfObject | undefined;
  private readonly programs: string[];
  private readonly attached = new Map<number, CgroupAttachment[]>();
  /** Attached cgroup → its nearest attached ancestor (own policy), from the last refresh. */
  private readonly attachedParent = new Map<number, number>();
  /** Attached cgroup → depth below the subtree's root, from the last refresh. */
  private readonly depths = new Map<number, number>();

  private constructor(map: AnyStorageMap, collector: Collector, obj: BpfObject | undefined, dir: string | undefined, programs: string[], policy: AttachPolicy) {
    this.map = map;
    this.collector = collector;
    this.obj = obj;
    this.dir = dir;
    this.programs = programs;
    this.policy = policy;
    this.perCgroup = map instanceof CgrpStorageMap;
  }

  static async open(opts: SourceOptions): Promise<Source> {
    const dir = opts.cgroup === undefined ? undefined : cgroupPath(opts.cgroup);
    let obj: BpfObject | undefined, map: AnyStorageMap | undefined, s: Source | undefined;
    try {
      obj = dir === undefined ? undefined : (await openObject(opts.object ?? "bundled:counter.bpf.o")).load();
      const mapName = opts.mapName ?? "pcpu_stats";
      // --map only reads: read-only, so a pin this user can read (0644) suffices. (A loaded
      // object's map falls back to the object's own BTF by itself.)
      map = obj ? obj.map(mapName) : openMap(opts.map!, { access: "read" });
      if (!obj) applyLayoutChoice(map, opts.layout ?? {}, opts.command ?? "serve");
      const programs = obj === undefined ? [] : opts.programs ?? obj.programNames.filter((p) => isCgroupAttachType(obj!.program(p).expectedAttachType));
      if (obj && programs.length === 0) throw new UsageError(`${obj.path} has no cgroup programs to attach`, "");
      const fields = opts.prepare?.(map);
      // A cgrp_storage map is polled by one iterator run (of the served subtree) in this thread.
      const collector = map instanceof CgrpStorageMap
        ? await Collector.create(map, { capacity: opts.capacity ?? 65536, fields, root: dir })
        : await Collector.create(map, { workers: opts.workers ?? 0, capacity: opts.capacity ?? 65536, fields });
      s = new Source(map, collector, obj, dir, programs, opts.policy ?? "subtree");
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

  /** The nearest attached ancestor of an attached cgroup (own policy): its storage counts this one's traffic too. */
  attachedAncestor(id: number): number | undefined {
    return this.attachedParent.get(id);
  }

  /** Depth of an attached cgroup below the subtree's root. */
  depthOf(id: number): number | undefined {
    return this.depths.get(id);
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
    const failures: unknown[] = [];
    if (this.obj && this.dir !== undefined && this.perCgroup) {
      // Once, at the root: the programs run for every socket below it.
      if (this.attached.size === 0) {
        const list: CgroupAttachment[] = [];
        this.attached.set(0, list);
        for (const p of this.programs) list.push(this.obj.program(p).attachCgroup(this.dir));
      }
    } else if (this.obj && this.dir !== undefined) {
      const top = toBytePath(this.dir);
      const seen = new Set<number>();
      this.attachedParent.clear();
      this.depths.clear();
      /** Nearest attached ancestor of each walked cgroup (itself if attached). */
      const nearest = new Map<number, number>();
      for (const { path, id, depth, parent, hasChildren } of cgroupDirs(top, inodeOf(top) ?? -1)) {
        const above = nearest.get(parent);
        if (this.policy === "own" && hasChildren && !holdsProcesses(path)) {
          // An inner cgroup without processes of its own: its children are counted where they are.
          if (above !== undefined) nearest.set(id, above);
          continue;
        }
        seen.add(id);
        nearest.set(id, id);
        this.depths.set(id, depth);
        if (above !== undefined) this.attachedParent.set(id, above);
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
          try {
            for (const p of this.programs) list.push(this.obj.program(p).attachCgroup(fd));
          } catch (e) {
            // Removed between the walk and the attach (the kernel refuses a dying cgroup with
            // ENOENT): nothing to attach to. Anything else is reported, the rest still served.
            for (const a of list) a.detach();
            this.attached.delete(id);
            seen.delete(id);
            if (errorKind(e) !== "not-found") failures.push(e);
          }
        } finally {
          closeFd(fd);
        }
      }
      for (const [id, list] of this.attached) {
        if (seen.has(id)) continue;
        // The cgroup was removed (its links only pin a dead cgroup now: closing them frees it),
        // or it no longer qualifies (a leaf that got children and holds no processes).
        for (const a of list) a.detach();
        this.attached.delete(id);
      }
    }
    this.collector.refresh();
    if (failures.length > 0) throw failures[0];
  }

  /** Stops the collector, detaches what it attached, closes the map. */
  async close(): Promise<void> {
    await this.collector.close();
    for (const list of this.attached.values()) for (const a of list) a.detach();
    this.map.close();
    this.obj?.close();
  }
}

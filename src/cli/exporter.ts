/**
 * What `cgstore serve` exports: every map of an `ExporterConfig`, each an open `Source`, its
 * rows labelled (map, cgroup, cgroup_id, attach_type, the labels the cgroup path implies, the
 * user's decoded labels) and turned into families by the map's plan.
 * @internal
 */
import { dirname, resolve } from "node:path";
import { attachTypeName } from "../constants.ts";
import { cgroupLabels } from "../cgroup/labels.ts";
import type { AnyStorageMap } from "../maps/open.ts";
import { metricName, type MetricFamily } from "../collector/exposition.ts";
import {
  defaultPlan, rowFamilies, statsFamilies, type CollectorStats, type FamilyPlan, type Row,
} from "../collector/collector-families.ts";
import { cgroupPathResolver } from "./cgroup-paths.ts";
import { ConfigError } from "./yaml-reader.ts";
import { CONFIG_HELP, type ExporterConfig, type MapConfig, type UserLabel } from "./config.ts";
import { OwnSeries } from "./own-series.ts";
import { Source } from "./source.ts";

/** A user label's value for a cgroup path: the decoders in turn; undefined drops the label. */
export function decodeLabel(label: UserLabel, path: string): string | undefined {
  let v: string | undefined = path;
  for (const d of label.decoders) {
    if ("regexp" in d) {
      const m = d.regexp.exec(v);
      v = m === null ? undefined : m[1] ?? m[0];
    } else v = Object.hasOwn(d.static_map, v) ? d.static_map[v]! : d.default ?? v;
    if (v === undefined) return undefined;
  }
  return v;
}

/** Histogram bucket bounds as ebpf_exporter computes them. */
function bucketBounds(kind: "exp2" | "linear", min: number, multiplier: number, n: number): number[] {
  return Array.from({ length: n }, (_, i) => (kind === "exp2" ? 2 ** (min + i) : min + i) * multiplier);
}

/** Opens the map's fields against its layout: the fields to collect and the plan over them. */
function planFor(cfg: MapConfig, prefix: string, map: AnyStorageMap): { fields: string[] | undefined; plan?: FamilyPlan } {
  if (cfg.series === "subtree" && map.info.typeName === "cgrp_storage") {
    throw new ConfigError(`${cfg.seriesAt ?? cfg.at}: map "${map.info.name}" is a cgrp_storage map: each value is its own cgroup's (its programs are attached once, at the subtree's root), so there are no subtree totals`,
      CONFIG_HELP);
  }
  if (cfg.fields === undefined && cfg.histograms.length === 0) return { fields: undefined };
  const perCpu = map.info.typeName.startsWith("percpu");
  const fields: string[] = [];
  const column = (path: string): number => {
    const i = fields.indexOf(path);
    return i >= 0 ? i : fields.push(path) - 1;
  };
  const at = (where: string, e: unknown): ConfigError => new ConfigError(`${where}: ${(e as Error).message}`, CONFIG_HELP);
  const rules: Record<string, string> = {};
  for (const f of cfg.fields ?? []) if (f.rule) rules[f.field] = f.rule;
  try {
    if (Object.keys(rules).length > 0) map.aggregate(rules as never);
  } catch (e) {
    throw at(cfg.at, e);
  }
  const mapName = map.info.name;
  const plan: FamilyPlan = { scalars: [], histograms: [] };
  for (const f of cfg.fields ?? []) {
    let rule;
    try {
      rule = map.field(f.field as never).rule;
      column(f.field);
    } catch (e) {
      throw at(f.at, e);
    }
    plan.scalars.push({
      name: metricName(prefix, f.name ?? f.field),
      type: f.type ?? (perCpu && rule !== "sum" ? "gauge" : "counter"),
      help: f.help ?? `Field "${f.field}" of BPF map ${mapName}${perCpu ? `, ${rule} over CPUs` : ""}, per cgroup.`,
      column: column(f.field),
    });
  }
  for (const h of cfg.histograms) {
    let columns: number[], sumColumn: number | undefined;
    try {
      const t = map.layout!.field(h.field).type;
      if (t.kind !== "array" || t.length < 2) throw new Error(`"${h.field}" is a ${t.kind}; a histogram needs an array of at least 2 counters`);
      columns = Array.from({ length: t.length }, (_, i) => {
        map.field(`${h.field}[${i}]` as never);
        return column(`${h.field}[${i}]`);
      });
      if (h.sum !== undefined) {
        map.field(h.sum as never);
        sumColumn = column(h.sum);
      }
    } catch (e) {
      throw at(h.at, e);
    }
    plan.histograms.push({
      name: metricName(prefix, h.name ?? h.field),
      help: h.help ?? `Histogram of BPF map ${mapName} field "${h.field}" (${h.buckets} buckets), per cgroup.`,
      columns,
      bounds: bucketBounds(h.buckets, h.min, h.multiplier, columns.length - 1),
      sumColumn,
    });
  }
  return { fields, plan };
}

/** One exported map. */
class ExportedMap {
  readonly source: Source;
  private readonly cfg: MapConfig;
  private readonly plan: FamilyPlan;
  private readonly own: OwnSeries | undefined;
  private readonly derived = new Map<string, Record<string, string>>();

  constructor(source: Source, cfg: MapConfig, plan: FamilyPlan) {
    this.source = source;
    this.cfg = cfg;
    this.plan = plan;
    const counters = new Array<boolean>(source.collector.fields.length).fill(false);
    for (const s of plan.scalars) if (s.type === "counter") counters[s.column] = true;
    for (const h of plan.histograms) for (const c of [...h.columns, h.sumColumn ?? -1]) if (c >= 0) counters[c] = true;
    // Only attached subtrees can double count; a pinned map's keys are exported as they are.
    // A cgrp_storage map's values are each cgroup's own already.
    this.own = source.dir !== undefined && source.policy === "own" && !source.perCgroup ? new OwnSeries(counters) : undefined;
  }

  /** The labels a cgroup path implies (cached: paths repeat every scrape). */
  private pathLabels(path: string): Record<string, string> {
    let l = this.derived.get(path);
    if (l === undefined) {
      l = {};
      if (this.cfg.cgroupLabels) Object.assign(l, cgroupLabels(path));
      for (const u of this.cfg.labels) {
        const v = decodeLabel(u, path);
        if (v !== undefined) l[u.name] = v;
      }
      if (this.derived.size > 4 * this.source.collector.slots().length + 1024) this.derived.clear();
      this.derived.set(path, l);
    }
    return l;
  }

  families(pathOf: (id: number) => string | null): MetricFamily[] {
    const c = this.source.collector;
    const mapName = this.cfg.name ?? c.map.info.name;
    const subtree = this.source.dir !== undefined && this.source.policy === "subtree" && !this.source.perCgroup;
    const rows: (Row & { key: string; parent: string | undefined })[] = c.slots().map((slot) => {
      const values = new Float64Array(c.fields.length);
      c.read(slot, values);
      const id = c.table.cgroupId(slot), at = c.table.attachType(slot);
      const path = pathOf(id) ?? "";
      const labels: Record<string, string> = { map: mapName, cgroup: path, cgroup_id: String(id) };
      if (at !== undefined) labels.attach_type = attachTypeName(at);
      Object.assign(labels, this.pathLabels(path));
      if (subtree) Object.assign(labels, { scope: "subtree", depth: String(this.source.depthOf(id) ?? "") });
      const parent = this.source.attachedAncestor(id);
      return { labels, values, key: `${id}/${at}`, parent: parent === undefined ? undefined : `${parent}/${at}` };
    });
    this.own?.adjust(rows);
    return rowFamilies(this.plan, rows);
  }
}

/** Every map of a config, opened, attached and collected. */
export class Exporter {
  readonly prefix: string;
  readonly maps: ExportedMap[];
  readonly stats: CollectorStats = { errors: 0 };

  private constructor(prefix: string, maps: ExportedMap[]) {
    this.prefix = prefix;
    this.maps = maps;
  }

  static async open(config: ExporterConfig, opts: { workers: number; counter: string }): Promise<Exporter> {
    const maps: ExportedMap[] = [];
    const base = config.file === undefined ? process.cwd() : dirname(config.file);
    try {
      for (const cfg of config.maps) {
        let plan: FamilyPlan | undefined;
        const source = await Source.open({
          cgroup: cfg.cgroup,
          map: cfg.pin,
          object: cfg.object === undefined || cfg.object.startsWith("bundled:") ? cfg.object : resolve(base, cfg.object),
          mapName: cfg.map,
          programs: cfg.programs,
          policy: cfg.series,
          workers: opts.workers,
          prepare: (map) => {
            const p = planFor(cfg, config.prefix, map);
            plan = p.plan;
            return p.fields;
          },
        });
        maps.push(new ExportedMap(source, cfg, plan ?? defaultPlan(source.collector, config.prefix)));
      }
    } catch (e) {
      for (const m of maps) await m.source.close();
      throw e;
    }
    return new Exporter(config.prefix, maps);
  }

  /** Keys polled, over all maps. */
  get keys(): number {
    return this.maps.reduce((n, m) => n + m.source.collector.slots().length, 0);
  }

  /** Rescans cgroups (attaching, detaching) and keys. */
  refresh(): void {
    for (const m of this.maps) m.source.refresh();
  }

  /** Polls every map once; a failing map is counted and reported, the others still served. */
  async poll(): Promise<void> {
    let ms = 0;
    for (const m of this.maps) {
      try {
        const r = await m.source.collector.poll();
        ms += r.ms;
        this.stats.last = { ...r, ms };
      } catch (e) {
        this.stats.errors++;
        console.error(`cgstore serve: ${(e as Error).message}`);
      }
    }
  }

  /** Every map's families (same-named families of several maps merged) and the collector's own. */
  families(): MetricFamily[] {
    // Paths resolved here, not in the formatter: at most one fresh tree walk per scrape.
    const pathOf = cgroupPathResolver();
    const byName = new Map<string, MetricFamily>();
    for (const m of this.maps) {
      for (const f of m.families(pathOf)) {
        const seen = byName.get(f.name);
        if (seen === undefined) byName.set(f.name, f);
        else if (seen.type === f.type) byName.set(f.name, { ...seen, samples: [...seen.samples, ...f.samples] });
        else throw new Error(`metric ${f.name} is a ${seen.type} in one map and a ${f.type} in another`);
      }
    }
    const polls = this.maps.reduce((n, m) => n + m.source.collector.pollCount, 0);
    return [...byName.values(), ...statsFamilies(this.prefix, this.keys, polls, this.stats)];
  }

  async close(): Promise<void> {
    for (const m of this.maps) await m.source.close();
  }
}

/**
 * A collector's rows as metric families for `formatMetrics`. `rowFamilies` turns rows (labels +
 * the row's values) into families by a plan: scalar columns as counters or gauges, array
 * columns as histograms. `collectorFamilies` is the default plan over a collector (one family
 * per collected field, one series per key labelled with the map, the cgroup, its id and the
 * attach type) plus the collector's own metrics. Reads the results table only: the caller says
 * how a cgroup id is labelled (`cgstore serve` resolves it to a path, walking the cgroup tree).
 */
import { attachTypeName } from "../constants.ts";
import type { Collector, PollResult } from "./collector.ts";
import { metricName, type MetricFamily, type MetricSample } from "./exposition.ts";

/** What the serving loop knows about its polls. */
export interface CollectorStats {
  last?: PollResult;
  errors: number;
}

export interface CollectorFamiliesOptions {
  /** Metric name prefix, default `cgstore`. */
  prefix?: string;
  /** The `cgroup` label of a cgroup id (e.g. its path below the cgroup2 mount; "" if gone). */
  cgroupLabel(cgroupId: number): string;
}

/** One scalar column exported as a family. */
export interface ScalarPlan {
  name: string;
  help: string;
  type: "counter" | "gauge";
  column: number;
}

/** Array columns exported as one histogram: bucket i counts observations ≤ `bounds[i]`. */
export interface HistogramPlan {
  name: string;
  help: string;
  /** One column per bucket, in order; the last one is the `+Inf` bucket. */
  columns: number[];
  /** Upper bounds of all buckets but the last (`bounds.length === columns.length - 1`). */
  bounds: number[];
  /** Column of the observed values' sum, if the map keeps one. */
  sumColumn?: number;
}

export interface FamilyPlan {
  scalars: ScalarPlan[];
  histograms: HistogramPlan[];
}

/** One series source: its labels and the row's values (by column). */
export interface Row {
  labels: Readonly<Record<string, string>>;
  values: Float64Array;
}

/** The rows as families, by `plan`. */
export function rowFamilies(plan: FamilyPlan, rows: readonly Row[]): MetricFamily[] {
  const out: MetricFamily[] = plan.scalars.map((p) => ({
    name: p.name, type: p.type, help: p.help,
    samples: rows.map((r): MetricSample => ({ labels: r.labels, value: r.values[p.column]! })),
  }));
  for (const h of plan.histograms) {
    const samples: MetricSample[] = [];
    for (const r of rows) {
      let cumulative = 0;
      h.columns.forEach((col, i) => {
        cumulative += r.values[col]!;
        const le = i < h.bounds.length ? String(h.bounds[i]) : "+Inf";
        samples.push({ labels: { ...r.labels, le }, value: cumulative, suffix: "_bucket" });
      });
      if (h.sumColumn !== undefined) samples.push({ labels: r.labels, value: r.values[h.sumColumn]!, suffix: "_sum" });
      samples.push({ labels: r.labels, value: cumulative, suffix: "_count" });
    }
    out.push({ name: h.name, type: "histogram", help: h.help, samples });
  }
  return out;
}

/**
 * The default plan for a collector: each field a counter when its total only grows (summed over
 * CPUs, or a shared map's value), a gauge when it is a max, min, or, or first of CPUs.
 */
export function defaultPlan(c: Collector, prefix: string): FamilyPlan {
  const { name: mapName, typeName } = c.map.info;
  const perCpu = typeName.startsWith("percpu");
  return {
    scalars: c.fields.map((field, i) => ({
      name: metricName(prefix, field),
      type: perCpu && c.rules[i] !== "sum" ? "gauge" : "counter",
      help: `Field "${field}" of BPF map ${mapName} (${typeName})` +
        `${perCpu ? (c.rules[i] === "sum" ? ", summed over CPUs" : `, ${c.rules[i]} over CPUs`) : ""}, per cgroup.`,
      column: i,
    })),
    histograms: [],
  };
}

/** The collector's own metrics. */
export function statsFamilies(prefix: string, keys: number, polls: number, stats: CollectorStats): MetricFamily[] {
  const one = (value: number): MetricSample[] => [{ value }];
  return [
    { name: `${prefix}_collector_keys`, type: "gauge", help: "Keys the collector polls.", samples: one(keys) },
    { name: `${prefix}_collector_polls_total`, type: "counter", help: "Polls done.", samples: one(polls) },
    {
      name: `${prefix}_collector_poll_duration_seconds`, type: "gauge", help: "Wall time of the last poll.",
      samples: one((stats.last?.ms ?? 0) / 1000),
    },
    { name: `${prefix}_collector_errors_total`, type: "counter", help: "Polls or refreshes that failed.", samples: one(stats.errors) },
  ];
}

/** The collector's current rows (it does not poll) and its own metrics, as families. */
export function collectorFamilies(c: Collector, stats: CollectorStats, options: CollectorFamiliesOptions): MetricFamily[] {
  const prefix = options.prefix ?? "cgstore";
  const mapName = c.map.info.name;
  const out = new Float64Array(c.fields.length);
  const slots = c.slots();
  const rows = slots.map((slot): Row => {
    c.read(slot, out);
    const id = c.table.cgroupId(slot), at = c.table.attachType(slot);
    const labels: Record<string, string> = { map: mapName, cgroup: options.cgroupLabel(id), cgroup_id: String(id) };
    if (at !== undefined) labels.attach_type = attachTypeName(at);
    return { labels, values: Float64Array.from(out) };
  });
  return [...rowFamilies(defaultPlan(c, prefix), rows), ...statsFamilies(prefix, slots.length, c.pollCount, stats)];
}

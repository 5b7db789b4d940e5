/**
 * A collector's rows as metric families for `formatMetrics`: one counter family per collected
 * field, one series per key, labelled with the map, the cgroup, its id and the attach type;
 * plus the collector's own metrics. Reads the results table only: the caller says how a cgroup
 * id is labelled (`cgstore serve` resolves it to a path, walking the cgroup tree).
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

/** The collector's current rows (it does not poll) and its own metrics, as families. */
export function collectorFamilies(c: Collector, stats: CollectorStats, options: CollectorFamiliesOptions): MetricFamily[] {
  const prefix = options.prefix ?? "cgstore";
  const { name: mapName, typeName } = c.map.info;
  const out = new Float64Array(c.fields.length);
  const slots = c.slots();
  const series = slots.map((slot) => {
    c.read(slot, out);
    const id = c.table.cgroupId(slot), at = c.table.attachType(slot);
    const labels: Record<string, string> = { map: mapName, cgroup: options.cgroupLabel(id), cgroup_id: String(id) };
    if (at !== undefined) labels.attach_type = attachTypeName(at);
    return { labels, values: Float64Array.from(out) };
  });
  const perCpu = typeName.startsWith("percpu");
  const families: MetricFamily[] = c.fields.map((field, i) => ({
    name: metricName(prefix, field),
    // A sum of per-CPU counters only grows; a max, min or first of them need not: a gauge.
    type: perCpu && c.rules[i] !== "sum" ? "gauge" : "counter",
    help: `Field "${field}" of BPF map ${mapName} (${typeName})` +
      `${perCpu ? (c.rules[i] === "sum" ? ", summed over CPUs" : `, ${c.rules[i]} over CPUs`) : ""}, per cgroup.`,
    samples: series.map((s): MetricSample => ({ labels: s.labels, value: s.values[i]! })),
  }));
  const one = (value: number): MetricSample[] => [{ value }];
  families.push(
    { name: `${prefix}_collector_keys`, type: "gauge", help: "Keys the collector polls.", samples: one(slots.length) },
    { name: `${prefix}_collector_polls_total`, type: "counter", help: "Polls done.", samples: one(c.pollCount) },
    {
      name: `${prefix}_collector_poll_duration_seconds`, type: "gauge", help: "Wall time of the last poll.",
      samples: one((stats.last?.ms ?? 0) / 1000),
    },
    { name: `${prefix}_collector_errors_total`, type: "counter", help: "Polls or refreshes that failed.", samples: one(stats.errors) },
  );
  return families;
}

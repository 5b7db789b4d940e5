/**
 * `/metrics`: a collector's rows in the Prometheus text exposition format (0.0.4), or
 * OpenMetrics 1.0 when asked. One counter family per collected field, one series per key,
 * labelled with the map, the cgroup's path and id, and the attach type; plus the collector's
 * own metrics.
 */
import { attachTypeName } from "../constants.ts";
import { cgroupRoot } from "../cgroup/mount.ts";
import { resolveCgroupPath } from "../cgroup/resolve.ts";
import type { Collector, PollResult } from "./collector.ts";

export const TEXT_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8";
export const OPENMETRICS_CONTENT_TYPE = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/** Label values: backslash, double quote and line feed are the characters to escape. */
export function escapeLabel(value: string): string {
  return value.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n");
}

/** HELP text: backslash and line feed. */
function escapeHelp(text: string): string {
  return text.replace(/\\/g, "\\\\").replace(/\n/g, "\\n");
}

/** A metric name from a field path: `[a-zA-Z_:][a-zA-Z0-9_:]*`. */
export function metricName(prefix: string, path: string): string {
  const name = `${prefix}_${path}`.replace(/[^a-zA-Z0-9_:]/g, "_").replace(/_+/g, "_");
  return /^[a-zA-Z_:]/.test(name) ? name : `_${name}`;
}

export interface CollectorStats {
  last?: PollResult;
  errors: number;
}

/** Renders the collector's current rows (it does not poll). */
export function formatMetrics(c: Collector, stats: CollectorStats, openMetrics: boolean, prefix = "cgstore"): string {
  const lines: string[] = [];
  const root = cgroupRoot();
  const out = new Float64Array(c.fields.length);
  const slots = c.slots();
  let walked = false;
  const series = slots.map((slot) => {
    c.read(slot, out);
    const id = c.table.cgroupId(slot), at = c.table.attachType(slot);
    let path = resolveCgroupPath(id);
    if (path === null && !walked) {
      // A cgroup created since the last walk: allow one fresh walk per scrape.
      walked = true;
      path = resolveCgroupPath(id, { fresh: true });
    }
    const labels = [
      `map="${escapeLabel(c.map.info.name)}"`,
      `cgroup="${escapeLabel(path === null ? "" : path === root ? "/" : path.slice(root.length))}"`,
      `cgroup_id="${id}"`,
      ...(at === undefined ? [] : [`attach_type="${escapeLabel(attachTypeName(at))}"`]),
    ].join(",");
    return { labels, values: Float64Array.from(out) };
  });
  const family = (name: string, type: "counter" | "gauge", help: string, samples: [string, number][]) => {
    // Counters: OpenMetrics names the family without _total and the samples with it; the
    // 0.0.4 text format names both with it.
    const base = type === "counter" ? name.replace(/_total$/, "") : name;
    const sample = type === "counter" ? `${base}_total` : base;
    const head = openMetrics ? base : sample;
    lines.push(`# HELP ${head} ${escapeHelp(help)}`, `# TYPE ${head} ${type}`);
    for (const [labels, v] of samples) lines.push(`${sample}${labels ? `{${labels}}` : ""} ${v}`);
  };
  c.fields.forEach((field, i) => {
    family(metricName(prefix, field), "counter",
      `Field "${field}" of BPF map ${c.map.info.name} (${c.map.info.typeName})` +
        `${c.map.info.typeName.startsWith("percpu") ? ", summed over CPUs" : ""}, per cgroup.`,
      series.map((s) => [s.labels, s.values[i]!]));
  });
  family(`${prefix}_collector_keys`, "gauge", "Keys the collector polls.", [["", slots.length]]);
  family(`${prefix}_collector_polls_total`, "counter", "Polls done.", [["", c.pollCount]]);
  family(`${prefix}_collector_poll_duration_seconds`, "gauge", "Wall time of the last poll.",
    [["", (stats.last?.ms ?? 0) / 1000]]);
  family(`${prefix}_collector_errors_total`, "counter", "Polls or refreshes that failed.", [["", stats.errors]]);
  if (openMetrics) lines.push("# EOF");
  return lines.join("\n") + "\n";
}

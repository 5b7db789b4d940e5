/**
 * Metric families as text: the Prometheus text exposition format (0.0.4), or OpenMetrics 1.0
 * when asked. A pure formatter: it is given every name, label value and number already
 * resolved (cgroup paths included; see `collectorFamilies`) and touches nothing else.
 */

export const TEXT_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8";
export const OPENMETRICS_CONTENT_TYPE = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/**
 * How a family's samples behave: counters only go up (or reset); gauges go either way; a
 * histogram's samples are its cumulative `_bucket`s (label `le`), `_sum` and `_count`.
 */
export type MetricType = "counter" | "gauge" | "histogram";

/** One series of a family: its labels (written in insertion order) and its current value. */
export interface MetricSample {
  /** Label names must be valid (`[a-zA-Z_][a-zA-Z0-9_]*`); values may hold any text. */
  readonly labels?: Readonly<Record<string, string>>;
  readonly value: number;
  /** Histograms: `_bucket`, `_sum` or `_count`, appended to the family name. */
  readonly suffix?: "_bucket" | "_sum" | "_count";
}

/** A metric family: one HELP and TYPE header, then its samples. */
export interface MetricFamily {
  /**
   * A valid metric name (see {@link metricName}). For a counter, with or without `_total`:
   * the formatter adds or drops it where each format wants it.
   */
  readonly name: string;
  readonly type: MetricType;
  /** Free text; backslashes and line feeds are escaped. */
  readonly help: string;
  /** May be empty: the family is still declared. */
  readonly samples: readonly MetricSample[];
}

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

function formatLabels(labels: Readonly<Record<string, string>> | undefined): string {
  if (labels === undefined) return "";
  const pairs = Object.entries(labels).map(([name, value]) => `${name}="${escapeLabel(value)}"`);
  return pairs.length === 0 ? "" : `{${pairs.join(",")}}`;
}

/** A sample value; infinities as both formats spell them. */
function formatValue(v: number): string {
  return v === Infinity ? "+Inf" : v === -Infinity ? "-Inf" : String(v);
}

/** The families as one exposition document (ending in `# EOF` for OpenMetrics). */
export function formatMetrics(families: readonly MetricFamily[], openMetrics: boolean): string {
  const lines: string[] = [];
  for (const { name, type, help, samples } of families) {
    // Counters: OpenMetrics names the family without _total and the samples with it; the
    // 0.0.4 text format names both with it.
    const base = type === "counter" ? name.replace(/_total$/, "") : name;
    const sample = type === "counter" ? `${base}_total` : base;
    const head = openMetrics ? base : sample;
    lines.push(`# HELP ${head} ${escapeHelp(help)}`, `# TYPE ${head} ${type}`);
    for (const s of samples) lines.push(`${sample}${s.suffix ?? ""}${formatLabels(s.labels)} ${formatValue(s.value)}`);
  }
  if (openMetrics) lines.push("# EOF");
  return lines.length === 0 ? "" : lines.join("\n") + "\n";
}

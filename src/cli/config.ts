/**
 * `cgstore serve --config.file <yml>`: which maps to export and how. Any number of maps, each a
 * pinned map or a map of an object file that serve loads and attaches to a cgroup subtree; per
 * field a metric name, help, type and per-CPU aggregation rule; histograms from array fields
 * (ebpf_exporter's bucket layouts); label decoders. The command-line flags build the same
 * structure for the one-map case (`configFromFlags`). Shipped examples: examples/*.yml.
 */
import { AGGREGATE_RULES, type AggregateRule } from "../btf/schema.ts";
import { YamlFile, type YamlNode } from "./yaml-reader.ts";

/** One exported scalar field. */
export interface FieldMetric {
  /** Layout path in the map's value (`packets`, `inner.count`, `slots[3]`). */
  field: string;
  /** Metric name without the prefix; default: the field path. */
  name?: string;
  help?: string;
  /** Default: counter for fields summed over CPUs (and shared maps), gauge otherwise. */
  type?: "counter" | "gauge";
  /** Per-CPU maps: how the CPUs' values combine (default: the map's, `sum` for integers). */
  rule?: AggregateRule;
  /** `file:line:col` of the entry, for errors found once the map is open. */
  at: string;
}

/**
 * A histogram from an array field whose element i counts observations in bucket i, laid out as
 * ebpf_exporter lays kernel-side buckets out: `exp2` bucket i holds values ≤ 2^(min+i) ×
 * multiplier, `linear` bucket i values ≤ (min+i) × multiplier. The last element is exported as
 * the `+Inf` bucket: kernel-side code clamps what is above the last bound into it.
 */
export interface HistogramMetric {
  field: string;
  name?: string;
  help?: string;
  buckets: "exp2" | "linear";
  /** The bucket number of element 0 (ebpf_exporter's bucket_min), default 0. */
  min: number;
  multiplier: number;
  /** A scalar field holding the sum of the observed values (for `_sum`); none: no `_sum`. */
  sum?: string;
  at: string;
}

/** Turns the input (the cgroup path relative to the mount) into a label value, in a chain. */
export type LabelDecoder =
  | { regexp: RegExp }
  | { static_map: Record<string, string>; default?: string };

/** A label of the user's, computed from the cgroup path by a chain of decoders. */
export interface UserLabel {
  name: string;
  decoders: LabelDecoder[];
}

/** One map to export. */
export interface MapConfig {
  /** The `map` label; default the BPF map's name. */
  name?: string;
  /** A pinned map (exactly one of pin and object). */
  pin?: string;
  /** An object file to load; its cgroup programs are attached under `cgroup`. */
  object?: string;
  /** The map's name in the object. */
  map?: string;
  /** Programs to attach (default: every cgroup program of the object). */
  programs?: string[];
  /** Subtree to attach the object's programs to (absolute, or relative to the cgroup2 mount). */
  cgroup?: string;
  /**
   * `own` (default): attach where processes live and export what each cgroup's own processes
   * did, so the series add up. `subtree`: attach to every cgroup and export each one's subtree
   * total, labelled `scope="subtree"` and `depth`. A cgrp_storage map has only `own`: its
   * programs are attached once, at the subtree's root, and each value is its cgroup's own.
   */
  series: "own" | "subtree";
  /** Where `series` was given (file:line:column), when it was. */
  seriesAt?: string;
  /** Scalar fields to export; default every unsigned integer field that is not an array. */
  fields?: FieldMetric[];
  histograms: HistogramMetric[];
  /** unit, pod_uid, qos_class, container_id from the cgroup path (default true). */
  cgroupLabels: boolean;
  labels: UserLabel[];
  at: string;
}

export interface ExporterConfig {
  /** Metric name prefix, default `cgstore`. */
  prefix: string;
  maps: MapConfig[];
  /** The file it came from (undefined: from flags). */
  file?: string;
}

export const CONFIG_HELP = "See README (cgstore serve --config.file) and examples/*.yml for the format.";

const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;
const METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const RESERVED_LABELS = ["map", "cgroup", "cgroup_id", "attach_type", "unit", "pod_uid", "qos_class", "container_id", "scope", "depth", "le"];

function metricName(n: YamlNode): string {
  const s = n.string();
  if (!METRIC_NAME.test(s)) throw n.error(`"${s}" is not a valid metric name ([a-zA-Z_:][a-zA-Z0-9_:]*)`);
  return s;
}

function fieldMetric(n: YamlNode): FieldMetric {
  const k = n.keys(["field", "name", "help", "type", "rule"]);
  const field = k.get("field");
  if (!field) throw n.error('needs "field" (the layout path of the value field)');
  return {
    field: field.string(),
    name: k.has("name") ? metricName(k.get("name")!) : undefined,
    help: k.get("help")?.string(),
    type: k.get("type")?.oneOf(["counter", "gauge"] as const),
    rule: k.get("rule")?.oneOf(AGGREGATE_RULES),
    at: n.at,
  };
}

function histogram(n: YamlNode): HistogramMetric {
  const k = n.keys(["field", "name", "help", "bucket_type", "bucket_min", "bucket_multiplier", "sum_field"]);
  const field = k.get("field");
  if (!field) throw n.error('needs "field" (an array of counters, one per bucket)');
  const multiplier = k.get("bucket_multiplier")?.number() ?? 1;
  if (!(multiplier > 0)) throw k.get("bucket_multiplier")!.error("must be a positive number");
  const min = k.get("bucket_min")?.number() ?? 0;
  if (!Number.isInteger(min)) throw k.get("bucket_min")!.error("must be a whole number");
  return {
    field: field.string(),
    name: k.has("name") ? metricName(k.get("name")!) : undefined,
    help: k.get("help")?.string(),
    buckets: k.get("bucket_type")?.oneOf(["exp2", "linear"] as const) ?? "exp2",
    min,
    multiplier,
    sum: k.get("sum_field")?.string(),
    at: n.at,
  };
}

function decoder(n: YamlNode): LabelDecoder {
  const k = n.keys(["regexp", "static_map", "default"]);
  if (k.has("regexp") === k.has("static_map")) throw n.error('a decoder is either "regexp" or "static_map"');
  if (k.has("regexp")) {
    if (k.has("default")) throw k.get("default")!.error('"default" goes with static_map');
    const r = k.get("regexp")!;
    try {
      return { regexp: new RegExp(r.string()) };
    } catch (e) {
      throw r.error(`not a valid regular expression: ${(e as Error).message}`);
    }
  }
  return { static_map: k.get("static_map")!.stringMap(), default: k.get("default")?.string() };
}

function userLabel(n: YamlNode): UserLabel {
  const k = n.keys(["name", "decoders"]);
  const nameNode = k.get("name");
  if (!nameNode) throw n.error('needs "name"');
  const name = nameNode.string();
  if (!LABEL_NAME.test(name) || name.startsWith("__")) throw nameNode.error(`"${name}" is not a valid label name`);
  if (RESERVED_LABELS.includes(name)) throw nameNode.error(`"${name}" is a label cgstore sets itself`);
  const decoders = k.get("decoders")?.items().map(decoder) ?? [];
  if (decoders.length === 0) throw n.error('needs "decoders": at least one regexp or static_map');
  return { name, decoders };
}

function mapConfig(n: YamlNode): MapConfig {
  const k = n.keys(["name", "pin", "object", "map", "programs", "cgroup", "series", "fields", "histograms", "cgroup_labels", "labels"]);
  const pin = k.get("pin")?.string(), object = k.get("object")?.string();
  if ((pin === undefined) === (object === undefined)) throw n.error('give exactly one of "pin" (a pinned map) or "object" (a .bpf.o to load)');
  if (pin !== undefined) {
    for (const key of ["map", "programs", "cgroup"]) {
      if (k.has(key)) throw k.get(key)!.error(`"${key}" goes with "object"; a pinned map is exported as it is`);
    }
  }
  if (object !== undefined && !k.has("map")) throw n.error('"object" needs "map" (the map\'s name in the object)');
  if (object !== undefined && !k.has("cgroup")) throw n.error('"object" needs "cgroup" (the subtree to attach its programs to)');
  const names = new Set<string>();
  const unique = <T extends { name?: string; field: string }>(list: T[], node: YamlNode | undefined): T[] => {
    for (const [i, m] of list.entries()) {
      const name = m.name ?? m.field;
      if (names.has(name)) throw node!.items()[i]!.error(`metric "${name}" is defined twice in this map`);
      names.add(name);
    }
    return list;
  };
  const series = k.get("series")?.oneOf(["own", "subtree"] as const) ?? "own";
  if (series === "subtree" && pin !== undefined) throw k.get("series")!.error('"subtree" is how serve attaches an object\'s programs; a pinned map is exported as it is');
  return {
    name: k.get("name")?.string(),
    pin,
    object,
    map: k.get("map")?.string(),
    programs: k.get("programs")?.items().map((p) => p.string()),
    cgroup: k.get("cgroup")?.string(),
    series,
    seriesAt: k.get("series")?.at,
    fields: k.has("fields") ? unique(k.get("fields")!.items().map(fieldMetric), k.get("fields")) : undefined,
    histograms: unique(k.get("histograms")?.items().map(histogram) ?? [], k.get("histograms")),
    cgroupLabels: k.get("cgroup_labels")?.boolean() ?? true,
    labels: k.get("labels")?.items().map(userLabel) ?? [],
    at: n.at,
  };
}

/** Reads and checks a config file (`text` given: parsed as if it were `file`). */
export function loadConfig(file: string, text?: string): ExporterConfig {
  const root = new YamlFile(file, CONFIG_HELP, text).root;
  const k = root.keys(["prefix", "maps"]);
  const prefix = k.has("prefix") ? metricName(k.get("prefix")!) : "cgstore";
  const maps = k.get("maps")?.items().map(mapConfig) ?? [];
  if (maps.length === 0) throw (k.get("maps") ?? root).error('needs "maps": a list of at least one map');
  return { prefix, maps, file };
}

/** The flags' shortcut: `--cgroup <dir>` (the bundled counter) or `--map <pin>` (repeatable). */
export function configFromFlags(opts: { cgroup?: string; maps: string[]; subtree: boolean; counter: string }): ExporterConfig {
  const base = (): MapConfig => ({ series: "own", histograms: [], cgroupLabels: true, labels: [], at: "command line" });
  if (opts.cgroup !== undefined) {
    const series = opts.subtree ? "subtree" : "own";
    return { prefix: "cgstore", maps: [{ ...base(), series, object: opts.counter, map: "pcpu_stats", cgroup: opts.cgroup }] };
  }
  return { prefix: "cgstore", maps: opts.maps.map((pin) => ({ ...base(), pin })) };
}

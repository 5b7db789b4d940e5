/** The exposition formatter on its own: names, escaping and both formats, no kernel needed. */
import { describe, expect, test } from "../helpers/harness.ts";
import { escapeLabel, formatMetrics, metricName, type MetricFamily } from "../../src/collector/exposition.ts";

const counter = (name: string, samples: MetricFamily["samples"], help = "Packets seen."): MetricFamily =>
  ({ name, type: "counter", help, samples });

describe("formatMetrics", () => {
  test("a counter in the 0.0.4 text format: family and samples named with _total", () => {
    const text = formatMetrics([counter("cgstore_packets", [
      { labels: { map: "pcpu_stats", cgroup: "/a", cgroup_id: "7", attach_type: "CGROUP_INET_EGRESS" }, value: 3 },
      { labels: { map: "pcpu_stats", cgroup: "/b", cgroup_id: "8" }, value: 18446744073709552000 },
    ])], false);
    expect(text).toBe([
      "# HELP cgstore_packets_total Packets seen.",
      "# TYPE cgstore_packets_total counter",
      'cgstore_packets_total{map="pcpu_stats",cgroup="/a",cgroup_id="7",attach_type="CGROUP_INET_EGRESS"} 3',
      'cgstore_packets_total{map="pcpu_stats",cgroup="/b",cgroup_id="8"} 18446744073709552000',
      "",
    ].join("\n"));
  });

  test("a counter in OpenMetrics: family without _total, samples with it, then # EOF", () => {
    // Given with or without the suffix, the name comes out the same.
    for (const name of ["cgstore_packets", "cgstore_packets_total"]) {
      expect(formatMetrics([counter(name, [{ labels: { cgroup: "/" }, value: 1 }])], true)).toBe([
        "# HELP cgstore_packets Packets seen.",
        "# TYPE cgstore_packets counter",
        'cgstore_packets_total{cgroup="/"} 1',
        "# EOF",
        "",
      ].join("\n"));
    }
    expect(formatMetrics([counter("cgstore_packets_total", [{ value: 1 }])], false))
      .toBe("# HELP cgstore_packets_total Packets seen.\n# TYPE cgstore_packets_total counter\ncgstore_packets_total 1\n");
  });

  test("gauges keep their name in both formats; no labels means no braces", () => {
    const gauge: MetricFamily = { name: "cgstore_collector_poll_duration_seconds", type: "gauge", help: "Wall time.", samples: [{ value: 0.0125 }] };
    const body = ["# HELP cgstore_collector_poll_duration_seconds Wall time.",
      "# TYPE cgstore_collector_poll_duration_seconds gauge",
      "cgstore_collector_poll_duration_seconds 0.0125"];
    expect(formatMetrics([gauge], false)).toBe([...body, ""].join("\n"));
    expect(formatMetrics([gauge], true)).toBe([...body, "# EOF", ""].join("\n"));
    // An empty label set is the same as none.
    expect(formatMetrics([{ ...gauge, samples: [{ labels: {}, value: 2 }] }], false)).toContain("\ncgstore_collector_poll_duration_seconds 2\n");
  });

  test("empty: a family without samples is still declared; no families is an empty document", () => {
    expect(formatMetrics([counter("cgstore_bytes", [])], false))
      .toBe("# HELP cgstore_bytes_total Packets seen.\n# TYPE cgstore_bytes_total counter\n");
    expect(formatMetrics([counter("cgstore_bytes", [])], true))
      .toBe("# HELP cgstore_bytes Packets seen.\n# TYPE cgstore_bytes counter\n# EOF\n");
    expect(formatMetrics([], false)).toBe("");
    expect(formatMetrics([], true)).toBe("# EOF\n");
  });

  test("label values escape backslash, double quote and line feed, in that one pass", () => {
    expect(escapeLabel('a"b\\c\nd')).toBe('a\\"b\\\\c\\nd');
    expect(escapeLabel("\\n")).toBe("\\\\n"); // a literal backslash-n is not a line feed
    const line = formatMetrics([counter("x", [{ labels: { cgroup: '/we"ird\\name\nx' }, value: 1 }])], false).split("\n")[2];
    expect(line).toBe('x_total{cgroup="/we\\"ird\\\\name\\nx"} 1');
  });

  test("display names of non-UTF-8 cgroups (\\xNN) keep their backslash escaped; UTF-8 passes through", () => {
    // resolveCgroupPath shows byte 0xff of a name as the four characters \xff.
    const line = formatMetrics([counter("x", [{ labels: { cgroup: "/top/bad\\xffbyte", other: "ünï" }, value: 1 }])], false)
      .split("\n")[2];
    expect(line).toBe('x_total{cgroup="/top/bad\\\\xffbyte",other="ünï"} 1');
  });

  test("HELP escapes backslash and line feed but not quotes", () => {
    const text = formatMetrics([counter("x", [], 'Field "a\\b"\nof map m')], false);
    expect(text.split("\n")[0]).toBe('# HELP x_total Field "a\\\\b"\\nof map m');
  });
});

describe("metricName", () => {
  test("joins prefix and field path into [a-zA-Z_:][a-zA-Z0-9_:]*", () => {
    expect(metricName("cgstore", "bytes")).toBe("cgstore_bytes");
    expect(metricName("cgstore", "stats.rx.bytes")).toBe("cgstore_stats_rx_bytes");
    expect(metricName("cgstore", "a[3]")).toBe("cgstore_a_3_");
    expect(metricName("cgstore", "a..-b")).toBe("cgstore_a_b"); // runs of _ collapse
    expect(metricName("cgstore", "ünï:x")).toBe("cgstore_n_:x");
    expect(metricName("9lives", "x")).toBe("_9lives_x"); // may not start with a digit
    expect(metricName("", "x")).toBe("_x");
  });
});

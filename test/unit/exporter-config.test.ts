/**
 * The exporter's pure parts: config files (the shipped examples load; mistakes are reported at
 * file:line:col), the web config, label decoders, histogram families, own-share series, listen
 * addresses and basic auth.
 */
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import bcrypt from "bcryptjs";
import { describe, expect, test } from "../helpers/harness.ts";
import { loadConfig } from "../../src/cli/config.ts";
import { ConfigError } from "../../src/cli/yaml-reader.ts";
import { BasicAuth, loadWebConfig } from "../../src/cli/web-config.ts";
import { decodeLabel } from "../../src/cli/exporter.ts";
import { OwnSeries } from "../../src/cli/own-series.ts";
import { parseListenAddress } from "../../src/cli/http.ts";
import { rowFamilies } from "../../src/collector/collector-families.ts";
import { formatMetrics } from "../../src/collector/exposition.ts";
import { thrown } from "../helpers/caught.ts";

const EXAMPLES = resolve(import.meta.dirname, "../../examples");

describe("config file", () => {
  test("every shipped example loads", () => {
    const ymls = readdirSync(EXAMPLES).filter((f) => f.endsWith(".yml") && f !== "web-config.yml");
    expect(ymls.length).toBeGreaterThanOrEqual(2);
    for (const f of ymls) expect(loadConfig(join(EXAMPLES, f)).maps.length).toBeGreaterThan(0);
    const net = loadConfig(join(EXAMPLES, "netstats.yml")).maps[0]!;
    expect(net.histograms[0]).toMatchObject({ field: "size_log2", buckets: "exp2", min: 0, multiplier: 1, sum: "bytes" });
    expect(net.fields!.find((f) => f.field === "max_len")).toMatchObject({ type: "gauge", rule: "max" });
    expect(net.labels.map((l) => l.name)).toEqual(["tenant", "tier"]);
  });

  test("mistakes are exit-2 errors naming file:line:col and the problem", () => {
    const bad = (text: string) => {
      const e = thrown(() => loadConfig("x.yml", text));
      expect(e).toBeInstanceOf(ConfigError);
      return (e as Error).message;
    };
    expect(bad("maps:\n  - pin: /p\n    feilds: []\n")).toBe('x.yml:3:5: maps[0].feilds: unknown key "feilds"; expected one of name, pin, object, map, programs, cgroup, series, fields, histograms, cgroup_labels, labels');
    expect(bad("maps:\n  - object: a.o\n    cgroup: /\n")).toBe('x.yml:2:5: maps[0]: "object" needs "map" (the map\'s name in the object)');
    expect(bad("maps:\n  - pin: /p\n    histograms:\n      - field: h\n        bucket_type: log\n")).toBe('x.yml:5:22: maps[0].histograms[0].bucket_type: "log" is not one of exp2, linear');
    expect(bad("maps:\n  - pin: /p\n    labels:\n      - name: t\n        decoders:\n          - regexp: '('\n")).toMatch(/^x\.yml:6:21: maps\[0\]\.labels\[0\]\.decoders\[0\]\.regexp: not a valid regular expression/);
    expect(bad("maps:\n  - pin: /p\n    labels:\n      - name: unit\n        decoders: [{ regexp: x }]\n")).toBe('x.yml:4:15: maps[0].labels[0].name: "unit" is a label cgstore sets itself');
    expect(bad("maps: [\n")).toMatch(/^x\.yml:2:1: /);
    expect(bad("prefix: 9bad\nmaps: []\n")).toBe('x.yml:1:9: prefix: "9bad" is not a valid metric name ([a-zA-Z_:][a-zA-Z0-9_:]*)');
    expect(bad("maps: []\n")).toBe('x.yml:1:7: maps: needs "maps": a list of at least one map');
    expect(bad("maps:\n  - pin: /p\n    fields:\n      - field: a\n      - field: a\n")).toBe('x.yml:5:9: maps[0].fields[1]: metric "a" is defined twice in this map');
  });
});

describe("web config", () => {
  test("TLS files relative to the file, bcrypt users; unsupported keys refused by name", () => {
    const dir = mkdtempSync(join(tmpdir(), "cgstore-test-web-"));
    try {
      writeFileSync(join(dir, "c.pem"), "CERT");
      writeFileSync(join(dir, "k.pem"), "KEY");
      const hash = bcrypt.hashSync("pw", 4);
      writeFileSync(join(dir, "web.yml"), `tls_server_config:\n  cert_file: c.pem\n  key_file: k.pem\nbasic_auth_users:\n  alice: ${hash}\n`);
      const web = loadWebConfig(join(dir, "web.yml"));
      expect(web.tls).toEqual({ cert: "CERT", key: "KEY" });
      expect([...web.users.keys()]).toEqual(["alice"]);
      writeFileSync(join(dir, "bad.yml"), "tls_server_config:\n  cert_file: c.pem\n  key_file: k.pem\n  client_auth_type: RequireAndVerifyClientCert\n");
      expect((thrown(() => loadWebConfig(join(dir, "bad.yml"))) as Error).message)
        .toBe(`${join(dir, "bad.yml")}:4:21: tls_server_config.client_auth_type: "client_auth_type" is not supported by cgstore serve`);
      writeFileSync(join(dir, "plain.yml"), "basic_auth_users:\n  bob: hunter2\n");
      expect((thrown(() => loadWebConfig(join(dir, "plain.yml"))) as Error).message).toMatch(/basic_auth_users\.bob: not a bcrypt hash/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test("basic auth: right password in, wrong password and unknown user out", () => {
    const auth = new BasicAuth(new Map([["alice", bcrypt.hashSync("pw", 4)]]));
    const basic = (s: string) => `Basic ${Buffer.from(s).toString("base64")}`;
    expect(auth.check(basic("alice:pw"))).toBe(true);
    expect(auth.check(basic("alice:pw"))).toBe(true); // remembered
    expect(auth.check(basic("alice:nope"))).toBe(false);
    expect(auth.check(basic("mallory:pw"))).toBe(false);
    expect(auth.check(null)).toBe(false);
    expect(new BasicAuth(new Map()).check(null)).toBe(true);
  });
});

test("label decoders: regexp capture, static_map with default, no match drops the label", () => {
  const tenant = { name: "t", decoders: [{ regexp: /^\/tenants\/([^/]+)/ }] };
  expect(decodeLabel(tenant, "/tenants/acme/web")).toBe("acme");
  expect(decodeLabel(tenant, "/system.slice/x.service")).toBeUndefined();
  const tier = { name: "tier", decoders: [{ regexp: /[^/]+$/ }, { static_map: { web: "frontend" }, default: "other" }] };
  expect(decodeLabel(tier, "/tenants/acme/web")).toBe("frontend");
  expect(decodeLabel(tier, "/tenants/acme/db")).toBe("other");
});

test("histogram families: cumulative buckets, +Inf from the last element, _sum and _count", () => {
  const rows = [{ labels: { cgroup: "/a" }, values: Float64Array.of(1, 2, 3, 40) }];
  const families = rowFamilies({ scalars: [], histograms: [{ name: "x_size", help: "h", columns: [0, 1, 2], bounds: [1, 2], sumColumn: 3 }] }, rows);
  expect(formatMetrics(families, false)).toBe(
    "# HELP x_size h\n# TYPE x_size histogram\n" +
    'x_size_bucket{cgroup="/a",le="1"} 1\nx_size_bucket{cgroup="/a",le="2"} 3\nx_size_bucket{cgroup="/a",le="+Inf"} 6\n' +
    'x_size_sum{cgroup="/a"} 40\nx_size_count{cgroup="/a"} 6\n');
});

test("own-share series: a parent minus its attached children, gone children stay subtracted, never lower", () => {
  const own = new OwnSeries([true, false]);
  const rows = (p: number, c?: number) => [
    { key: "p", parent: undefined, values: Float64Array.of(p, 9) },
    ...(c === undefined ? [] : [{ key: "c", parent: "p", values: Float64Array.of(c, 9) }]),
  ];
  let r = rows(27, 20);
  own.adjust(r);
  expect([r[0]!.values[0], r[1]!.values[0], r[0]!.values[1]]).toEqual([7, 20, 9]); // gauges untouched
  r = rows(28); // the child is gone: its 20 stay out of the parent
  own.adjust(r);
  expect(r[0]!.values[0]).toBe(8);
  r = rows(27); // read skew: never exported lower than before
  own.adjust(r);
  expect(r[0]!.values[0]).toBe(8);
});

test("listen addresses", () => {
  expect(parseListenAddress("127.0.0.1:9464")).toEqual({ hostname: "127.0.0.1", port: 9464 });
  expect(parseListenAddress(":9464")).toEqual({ hostname: "0.0.0.0", port: 9464 });
  expect(parseListenAddress("[::1]:0")).toEqual({ hostname: "::1", port: 0 });
  expect(parseListenAddress("9464")).toBeNull();
  expect(parseListenAddress("host:99999")).toBeNull();
});

/**
 * `cgstore serve`: a Prometheus exporter, following node_exporter's and the exporter-toolkit's
 * conventions (flag names, web config, landing page, process metrics). What it exports comes
 * from `--config.file`, or from the `--cgroup`/`--map` shortcuts for one source.
 */
import { readFileSync } from "node:fs";
import { gzipSync } from "node:zlib";
import { parseArgs } from "node:util";
import { parseListenAddress, serveHttp, type HttpServer } from "./http.ts";
import { formatMetrics, OPENMETRICS_CONTENT_TYPE, TEXT_CONTENT_TYPE, type MetricFamily } from "../collector/exposition.ts";
import { UsageError } from "./errors.ts";
import { LAYOUT_HELP } from "./layout-options.ts";
import { configFromFlags, loadConfig, type ExporterConfig } from "./config.ts";
import { BasicAuth, loadWebConfig } from "./web-config.ts";
import { buildInfoFamily, processFamilies } from "./process-metrics.ts";
import { Exporter } from "./exporter.ts";
import { VERSION } from "./version.ts";
import { cgroupDirArg } from "./cgroup-paths.ts";
import { bundledObject } from "../bundled.ts";

export const SERVE_HELP = `Usage: cgstore serve --config.file <exporter.yml> [options]
       cgstore serve --cgroup <dir> [options]
       cgstore serve --map <pinned map path> [--map …] [options]

Serves Prometheus metrics (the text format, or OpenMetrics when the scraper asks for it): one
series per cgroup and attach type, labelled map, cgroup, cgroup_id, attach_type, and, where the
cgroup path says, unit, pod_uid, qos_class, container_id; plus process_* and cgstore_build_info.

  --config.file <f>          maps, fields, histograms and labels to export (YAML; see README)
  --cgroup <dir>             shortcut: attach the bundled packet/byte counter under <dir>
                             (absolute, or relative to the cgroup2 mount) where processes live
  --subtree                  with --cgroup: attach to every cgroup and export subtree totals
                             (labelled scope="subtree" and depth) instead of each cgroup's own
  --map <path>               shortcut: export a pinned cgroup storage map (repeatable; opened
                             read-only: a pin this user may read suffices)
${LAYOUT_HELP}
  --web.listen-address <a>   host:port to listen on (repeatable), default 127.0.0.1:9464;
                             ":9464" listens on every address
  --web.telemetry-path <p>   default /metrics
  --web.config.file <f>      TLS and basic auth (the Prometheus exporter-toolkit format)
  --refresh <s>              rescan cgroups and keys every <s> seconds, default 10
  --workers <n>              poll in <n> Workers, default 0 (the serving thread)
  -h, --help                 this text

Exit codes: 2 a bad flag or config file (file:line:column: what is wrong); 3 an address that
cannot be listened on (in use), or no BPF on this machine.`;

const LANDING = (path: string) => `<!doctype html>
<html><head><title>cgstore exporter</title></head>
<body><h1>cgstore exporter</h1>
<p>BPF cgroup local storage maps as Prometheus metrics.</p>
<p><a href="${path}">Metrics</a></p></body></html>
`;

/** One scrape's families, formatted (and compressed) once per variant asked for. */
class Scrape {
  private readonly families: MetricFamily[];
  private readonly bodies = new Map<string, string | Uint8Array<ArrayBuffer>>();
  constructor(families: MetricFamily[]) {
    this.families = families;
  }
  body(openMetrics: boolean, gzip: boolean): string | Uint8Array<ArrayBuffer> {
    const key = `${openMetrics}/${gzip}`;
    let b = this.bodies.get(key);
    if (b === undefined) {
      const text = formatMetrics(this.families, openMetrics);
      // A Buffer over its own ArrayBuffer (never shared), typed as Response bodies want it.
      b = gzip ? (gzipSync(text) as Uint8Array<ArrayBuffer>) : text;
      this.bodies.set(key, b);
    }
    return b;
  }
}

function options(argv: string[]) {
  const { values } = parseArgs({
    args: argv,
    options: {
      cgroup: { type: "string" },
      map: { type: "string", multiple: true },
      subtree: { type: "boolean", default: false },
      "config.file": { type: "string" },
      "web.listen-address": { type: "string", multiple: true },
      "web.telemetry-path": { type: "string", default: "/metrics" },
      "web.config.file": { type: "string" },
      refresh: { type: "string", default: "10" },
      workers: { type: "string", default: "0" },
      help: { type: "boolean", short: "h", default: false },
    },
  });
  return values;
}

export async function serve(argv: string[]): Promise<number> {
  const values = options(argv);
  if (values.help) {
    console.log(SERVE_HELP);
    return 0;
  }
  const maps = values.map ?? [];
  const sources = [values["config.file"], values.cgroup, maps.length > 0 ? maps : undefined].filter((x) => x !== undefined);
  if (sources.length !== 1) throw new UsageError("serve needs exactly one of --config.file, --cgroup <dir> or --map <pinned map path>", SERVE_HELP);
  if (values.subtree && values.cgroup === undefined) throw new UsageError("--subtree goes with --cgroup (in a config file: series: subtree)", SERVE_HELP);
  const refreshEvery = Number(values.refresh) * 1000, workers = Number(values.workers);
  if (!(refreshEvery > 0)) throw new UsageError(`--refresh ${values.refresh}: give a positive number of seconds`, SERVE_HELP);
  if (!Number.isInteger(workers) || workers < 0) throw new UsageError(`--workers ${values.workers}: a whole number ≥ 0`, SERVE_HELP);
  const addresses = (values["web.listen-address"] ?? ["127.0.0.1:9464"]).map((a) => {
    const parsed = parseListenAddress(a);
    if (!parsed) throw new UsageError(`--web.listen-address ${a}: expected host:port, [v6 address]:port or :port`, SERVE_HELP);
    return parsed;
  });
  const telemetry = values["web.telemetry-path"];
  if (!telemetry.startsWith("/")) throw new UsageError(`--web.telemetry-path ${telemetry}: a path starting with /`, SERVE_HELP);
  const web = values["web.config.file"] === undefined ? { users: new Map<string, string>() } : loadWebConfig(values["web.config.file"]);
  const config: ExporterConfig = values["config.file"] !== undefined
    ? loadConfig(values["config.file"])
    : configFromFlags({
      cgroup: values.cgroup === undefined ? undefined : cgroupDirArg(values.cgroup, SERVE_HELP),
      maps, subtree: values.subtree, counter: bundledObject("counter.bpf.o"),
    });

  const exporter = await Exporter.open(config, { workers, counter: bundledObject("counter.bpf.o") });
  const auth = new BasicAuth(web.users);
  const info = buildInfoFamily("cgstore", VERSION);
  let lastRefresh = Date.now();
  /**
   * The scrape in progress: concurrent scrapes (several Prometheus servers, HA pairs) join it
   * instead of queueing a poll each, and share its text per format and encoding.
   */
  let inflight: Promise<Scrape> | null = null;
  const collect = async (): Promise<Scrape> => {
    // Polling is synchronous work: yield first, so that requests already waiting (they arrived
    // while the previous scrape ran) reach the handler and join this one. Every response still
    // comes from a poll that began after its request arrived.
    await new Promise((ok) => setImmediate(ok));
    try {
      if (Date.now() - lastRefresh >= refreshEvery) {
        lastRefresh = Date.now();
        exporter.refresh();
      }
    } catch (e) {
      exporter.stats.errors++;
      console.error(`cgstore serve: ${(e as Error).message}`);
    }
    await exporter.poll();
    return new Scrape([...exporter.families(), ...processFamilies(), info]);
  };

  const metrics = async (req: Request): Promise<Response> => {
    const openMetrics = (req.headers.get("accept") ?? "").includes("application/openmetrics-text");
    inflight ??= collect().finally(() => (inflight = null));
    const scrape = await inflight;
    const gzip = /\bgzip\b/.test(req.headers.get("accept-encoding") ?? "");
    const headers: Record<string, string> = { "content-type": openMetrics ? OPENMETRICS_CONTENT_TYPE : TEXT_CONTENT_TYPE };
    if (gzip) headers["content-encoding"] = "gzip";
    return new Response(req.method === "HEAD" ? null : scrape.body(openMetrics, gzip), { headers });
  };

  const handler = async (req: Request): Promise<Response> => {
    if (req.method !== "GET" && req.method !== "HEAD") {
      return new Response("method not allowed\n", { status: 405, headers: { allow: "GET, HEAD" } });
    }
    if (!auth.check(req.headers.get("authorization"))) {
      return new Response("unauthorized\n", { status: 401, headers: { "www-authenticate": 'Basic realm="cgstore"' } });
    }
    const path = new URL(req.url).pathname;
    if (path === telemetry) return metrics(req);
    if (path === "/") return new Response(LANDING(telemetry), { headers: { "content-type": "text/html; charset=utf-8" } });
    return new Response("not found\n", { status: 404 });
  };

  const servers: HttpServer[] = [];
  try {
    for (const a of addresses) servers.push(await serveHttp({ ...a, tls: web.tls, fetch: handler }));
  } catch (e) {
    for (const s of servers) await s.stop();
    await exporter.close();
    throw e;
  }
  const scheme = web.tls ? "https" : "http";
  const urls = servers.map((s, i) => {
    const h = addresses[i]!.hostname;
    return `${scheme}://${h.includes(":") ? `[${h}]` : h}:${s.port}${telemetry}`;
  });
  console.log(`cgstore serve: ${urls.join(" ")} (${exporter.keys} keys, ${exporter.maps.length} map${exporter.maps.length === 1 ? "" : "s"}` +
    `${exporter.maps.map((m) => (m.source.dir ? `, ${m.source.cgroups} cgroups attached under ${m.source.dir}` : "")).join("")}); Ctrl-C to stop`);

  await new Promise<void>((stop) => {
    process.once("SIGINT", stop);
    process.once("SIGTERM", stop);
  });
  for (const s of servers) await s.stop();
  await exporter.close();
  return 0;
}

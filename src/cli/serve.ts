/**
 * `cgstore serve`: a Prometheus exporter. `--cgroup <dir>` loads the bundled counter and
 * attaches it (ingress and egress, as bpf_links that die with the process) to every cgroup in
 * the subtree, and to cgroups created there later (found on refresh); `--map <pin>` exports an
 * existing map instead. Each scrape polls every key once.
 */
import { serveHttp } from "./http.ts";
import { parseArgs } from "node:util";
import { Source, SOURCE_OPTIONS, sourceFrom } from "./source.ts";
import { formatMetrics, OPENMETRICS_CONTENT_TYPE, TEXT_CONTENT_TYPE } from "../collector/exposition.ts";
import { collectorFamilies, type CollectorStats } from "../collector/collector-families.ts";
import { cgroupPathResolver } from "./cgroup-paths.ts";
import { UsageError } from "./errors.ts";
import { LAYOUT_HELP } from "./layout-options.ts";

export const SERVE_HELP = `Usage: cgstore serve --cgroup <dir> [options]
       cgstore serve --map <pinned map path> [options]

Serves /metrics in the Prometheus text format (OpenMetrics when the scraper asks for it with
Accept: application/openmetrics-text): one counter per u64 field of the map's values, one
series per cgroup (labels map, cgroup, cgroup_id, attach_type), plus the collector's own metrics.

  --cgroup <dir>      attach the bundled packet/byte counter to every cgroup under <dir>
                      (absolute, or relative to the cgroup2 mount); new cgroups are picked up
                      on refresh. Attachments are bpf_links: they go when the process does.
  --map <path>        export a pinned cgroup storage map of your own instead (opened
                      read-only: a pin readable by this user and CAP_BPF suffice)
${LAYOUT_HELP}
  --port <n>          default 9464
  --host <addr>       default 127.0.0.1 (loopback only unless told otherwise)
  --refresh <s>       rescan for new keys (and cgroups) every <s> seconds, default 10
  --workers <n>       poll in <n> Workers, default 0 (the serving thread)
  -h, --help          this text`;

export async function serve(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      ...SOURCE_OPTIONS,
      port: { type: "string", default: "9464" },
      host: { type: "string", default: "127.0.0.1" },
      refresh: { type: "string", default: "10" },
      workers: { type: "string", default: "0" },
      help: { type: "boolean", short: "h", default: false },
    },
  });
  if (values.help) {
    console.log(SERVE_HELP);
    return 0;
  }
  const from = sourceFrom(values, "serve", SERVE_HELP);
  const port = Number(values.port), refreshEvery = Number(values.refresh) * 1000, workers = Number(values.workers);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new UsageError(`--port ${values.port}: not a port`, SERVE_HELP);
  if (!(refreshEvery > 0)) throw new UsageError(`--refresh ${values.refresh}: give a positive number of seconds`, SERVE_HELP);
  if (!Number.isInteger(workers) || workers < 0) throw new UsageError(`--workers ${values.workers}: a whole number ≥ 0`, SERVE_HELP);

  const source = await Source.open({ ...from, workers });
  const collector = source.collector;
  const stats: CollectorStats = { errors: 0 };
  let lastRefresh = Date.now();
  const refresh = () => {
    source.refresh();
    lastRefresh = Date.now();
  };

  let scraping = Promise.resolve();
  const server = await serveHttp({
    hostname: values.host,
    port,
    fetch: async (req: Request) => {
      if (new URL(req.url).pathname !== "/metrics") return new Response("see /metrics\n", { status: 404 });
      const openMetrics = (req.headers.get("accept") ?? "").includes("application/openmetrics-text");
      // One poll at a time; concurrent scrapes wait for it.
      const done = scraping.then(async () => {
        try {
          if (Date.now() - lastRefresh >= refreshEvery) refresh();
          stats.last = await collector.poll();
        } catch (e) {
          stats.errors++;
          console.error(`cgstore serve: ${(e as Error).message}`);
        }
      });
      scraping = done;
      await done;
      // Paths are resolved here, not in the formatter: at most one fresh tree walk per scrape.
      const pathOf = cgroupPathResolver();
      const families = collectorFamilies(collector, stats, { cgroupLabel: (id) => pathOf(id) ?? "" });
      return new Response(formatMetrics(families, openMetrics), {
        headers: { "content-type": openMetrics ? OPENMETRICS_CONTENT_TYPE : TEXT_CONTENT_TYPE },
      });
    },
  });
  console.log(`cgstore serve: http://${values.host}:${server.port}/metrics ` +
    `(${collector.slots().length} keys${source.dir ? `, ${source.cgroups} cgroups under ${source.dir}` : ""}); Ctrl-C to stop`);

  await new Promise<void>((stop) => {
    process.once("SIGINT", stop);
    process.once("SIGTERM", stop);
  });
  await server.stop();
  await source.close();
  return 0;
}

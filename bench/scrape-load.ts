/**
 * Scrape latency of `cgstore serve --cgroup` over 5000 cgroups (10000 series per counter: both
 * hooks) with 8 concurrent scrapers. Not a test: run it by hand.
 *   bun run bench/scrape-load.ts [--cgroups 5000] [--scrapers 8] [--seconds 30]
 */
import { mkdirSync } from "node:fs";
import { parseArgs } from "node:util";
import { percentile, procStats, startServe } from "./exporter-proc.ts";

const { values } = parseArgs({
  options: { cgroups: { type: "string", default: "5000" }, scrapers: { type: "string", default: "8" }, seconds: { type: "string", default: "30" } },
});
const n = Number(values.cgroups), scrapers = Number(values.scrapers), seconds = Number(values.seconds);

let t0 = performance.now();
const s = await startServe(`load-${n}`, (top) => {
  for (let i = 0; i < n; i++) mkdirSync(`${top.path}/c${i}`);
});
console.log(`${n} cgroups made and attached in ${((performance.now() - t0) / 1000).toFixed(1)} s; ${JSON.stringify(procStats(s.proc.pid!))}`);

const first = await (await fetch(s.url)).text();
const series = first.split("\n").filter((l) => l.startsWith("cgstore_packets_total{")).length;
const bytes = first.length;
const latencies: number[] = [];
const end = Date.now() + seconds * 1000;
t0 = performance.now();
await Promise.all(Array.from({ length: scrapers }, async () => {
  while (Date.now() < end) {
    const t = performance.now();
    const res = await fetch(s.url, { headers: { "accept-encoding": "gzip" } });
    await res.arrayBuffer();
    latencies.push(performance.now() - t);
  }
}));
const wall = (performance.now() - t0) / 1000;
latencies.sort((a, b) => a - b);
const st = procStats(s.proc.pid!);
console.log(`${scrapers} scrapers × ${seconds} s: ${latencies.length} scrapes (${(latencies.length / wall).toFixed(1)}/s), ` +
  `${series} packet series, ${(bytes / 1e6).toFixed(1)} MB uncompressed per scrape`);
console.log(`latency p50 ${percentile(latencies, 50).toFixed(0)} ms, p99 ${percentile(latencies, 99).toFixed(0)} ms, ` +
  `max ${latencies.at(-1)!.toFixed(0)} ms; serve RSS ${(st.rss / 1e6).toFixed(0)} MB, ${st.fds} fds, ${st.links} links`);
process.exit(0);

/**
 * Soak: `cgstore serve --cgroup` over a subtree where 100 cgroups a second are created and
 * removed (each lives ~1 s) while it is scraped twice a second, refreshing every second.
 * Reports RSS, open fds, bpf links and series at start and end, and any series of a removed
 * cgroup still exported more than two refreshes after its removal. Not a test (minutes long).
 * The start figures are taken after --warmup seconds of the same churn (the runtime's heap and
 * the collector's tables reach their working size); the idle figures before it are printed too.
 *   bun run bench/soak.ts --minutes 10 [--rate 100] [--base 200] [--warmup 60]
 */
import { mkdirSync, rmdirSync } from "node:fs";
import { parseArgs } from "node:util";
import { setTimeout as sleep } from "node:timers/promises";
import { procStats, startServe } from "./exporter-proc.ts";

const { values } = parseArgs({
  options: {
    minutes: { type: "string", default: "1" }, rate: { type: "string", default: "100" }, base: { type: "string", default: "200" },
    warmup: { type: "string", default: "60" },
  },
});
const minutes = Number(values.minutes), rate = Number(values.rate), base = Number(values.base), warmup = Number(values.warmup);
const REFRESH_S = 1;

const s = await startServe("soak", (top) => {
  for (let i = 0; i < base; i++) mkdirSync(`${top.path}/base${i}`);
}, ["--refresh", String(REFRESH_S)]);
const top = s.top.path;
const rel = top.slice(top.indexOf("/cgstore-bench-"));

const alive: { name: string; born: number }[] = [];
const removedAt = new Map<string, number>();
let made = 0, removed = 0, stale = 0, scrapes = 0, lastSeries = 0;

async function scrape(): Promise<void> {
  const body = await (await fetch(s.url)).text();
  scrapes++;
  const now = Date.now();
  let series = 0;
  for (const line of body.split("\n")) {
    if (!line.startsWith("cgstore_packets_total{")) continue;
    series++;
    const name = /cgroup="([^"]*)"/.exec(line)?.[1]?.slice(rel.length + 1);
    const gone = name === undefined ? undefined : removedAt.get(name);
    // Two refreshes, plus one scrape's worth of slack for the poll that notices.
    if (gone !== undefined && now - gone > 2 * REFRESH_S * 1000 + 600) stale++;
  }
  lastSeries = series;
  for (const [name, t] of removedAt) if (now - t > 60_000) removedAt.delete(name);
}

function snapshot(label: string) {
  const st = procStats(s.proc.pid!);
  console.log(`${label}: RSS ${(st.rss / 1e6).toFixed(1)} MB, ${st.fds} fds, ${st.links} bpf links, ${lastSeries} packet series, ` +
    `${alive.length + base} cgroups (${made} made, ${removed} removed, ${scrapes} scrapes, ${stale} stale series seen)`);
  return st;
}

// Warm up: a few scrapes so the runtime's heap and the collector's table reach their working size.
for (let i = 0; i < 4; i++) {
  await scrape();
  await sleep(500);
}
const idle = snapshot("idle");
/** Creates `rate` cgroups a second (each removed after ~1 s) and scrapes twice a second until `until`. */
async function churn(until: number, report: boolean): Promise<void> {
  const began = Date.now();
  let nextScrape = Date.now(), nextReport = Date.now() + 60_000;
  // Cgroups are made in batches every 100 ms (timers are too coarse for one every 10 ms).
  const TICK = 100, batch = Math.max(1, Math.round((rate * TICK) / 1000));
  while (Date.now() < until) {
    const t = Date.now();
    for (let i = 0; i < batch; i++) {
      const name = `churn${made++}`;
      mkdirSync(`${top}/${name}`);
      alive.push({ name, born: t });
    }
    while (alive.length > 0 && t - alive[0]!.born > 1000) {
      const old = alive.shift()!;
      rmdirSync(`${top}/${old.name}`);
      removedAt.set(old.name, Date.now());
      removed++;
    }
    if (t >= nextScrape) {
      nextScrape = t + 500;
      scrape().catch((e) => console.error(`scrape: ${e}`));
    }
    if (report && t >= nextReport) {
      nextReport = t + 60_000;
      snapshot(`${((t - began) / 60_000).toFixed(0)} min`);
    }
    await sleep(Math.max(0, TICK - (Date.now() - t)));
  }
}
await churn(Date.now() + warmup * 1000, false);
const start = snapshot("start (after warm-up)");
await churn(Date.now() + minutes * 60_000, true);
// Let the churned-away cgroups go the way of the rest, then look again.
for (const old of alive.splice(0)) {
  rmdirSync(`${top}/${old.name}`);
  removedAt.set(old.name, Date.now());
  removed++;
}
await sleep(3 * REFRESH_S * 1000);
for (let i = 0; i < 3; i++) {
  await scrape();
  await sleep(500);
}
const fin = snapshot("end");
// fds and links against the idle figures: churn stopped, the same 200 cgroups remain.
console.log(`RSS ${((fin.rss - start.rss) / 1e6).toFixed(1)} MB (end − start), fds ${fin.fds - idle.fds}, links ${fin.links - idle.links} (end − idle); ` +
  `${stale} scrapes saw a removed cgroup's series after two refreshes`);
process.exit(0);

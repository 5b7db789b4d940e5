/**
 * The exporter's own `process_*` metrics, named as Prometheus client libraries name them (so
 * the usual dashboards work), and `cgstore_build_info`. Read from /proc/self at scrape time.
 * @internal
 */
import { readdirSync, readFileSync } from "node:fs";
import type { MetricFamily } from "../collector/exposition.ts";
import { runtime } from "../ffi/index.ts";

const PAGE = 4096;
/** Clock ticks per second of /proc/<pid>/stat times: USER_HZ, 100 on every Linux ABI. */
const TICKS = 100;

function readOr(path: string): string {
  try {
    return readFileSync(path, "utf8");
  } catch {
    return "";
  }
}

/** Process start time, seconds since the epoch: boot time + start ticks from /proc/self/stat. */
function startTime(): number {
  const stat = readOr("/proc/self/stat");
  // Fields after the command name (which may contain spaces), field 22 is starttime.
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  const ticks = Number(fields[19]);
  const btime = Number(/^btime (\d+)$/m.exec(readOr("/proc/stat"))?.[1]);
  return Number.isFinite(ticks) && Number.isFinite(btime) ? btime + ticks / TICKS : Date.now() / 1000 - process.uptime();
}

const START = startTime();

function one(name: string, type: "counter" | "gauge", help: string, value: number): MetricFamily {
  return { name, type, help, samples: [{ value }] };
}

/** process_cpu_seconds_total, resident/virtual memory, open/max fds, start time. */
export function processFamilies(): MetricFamily[] {
  const cpu = process.cpuUsage();
  const statm = readOr("/proc/self/statm").split(" ").map(Number);
  let fds = 0;
  try {
    fds = readdirSync("/proc/self/fd").length;
  } catch {
    // no /proc: reported as 0
  }
  const maxFds = Number(/^Max open files\s+(\d+)/m.exec(readOr("/proc/self/limits"))?.[1] ?? NaN);
  return [
    one("process_cpu_seconds_total", "counter", "Total user and system CPU time spent in seconds.", (cpu.user + cpu.system) / 1e6),
    one("process_resident_memory_bytes", "gauge", "Resident memory size in bytes.", (statm[1] ?? 0) * PAGE),
    one("process_virtual_memory_bytes", "gauge", "Virtual memory size in bytes.", (statm[0] ?? 0) * PAGE),
    one("process_open_fds", "gauge", "Number of open file descriptors.", fds),
    one("process_max_fds", "gauge", "Maximum number of open file descriptors.", maxFds),
    one("process_start_time_seconds", "gauge", "Start time of the process since unix epoch in seconds.", START),
  ];
}

/** `cgstore_build_info{version,runtime,runtime_version} 1`. */
export function buildInfoFamily(prefix: string, version: string): MetricFamily {
  const runtimeVersion = runtime === "deno"
    ? (globalThis as unknown as { Deno: { version: { deno: string } } }).Deno.version.deno
    : (globalThis as unknown as { Bun: { version: string } }).Bun.version;
  return {
    name: `${prefix}_build_info`, type: "gauge", help: "cgstore's version and the runtime serving it; always 1.",
    samples: [{ labels: { version, runtime, runtime_version: runtimeVersion }, value: 1 }],
  };
}

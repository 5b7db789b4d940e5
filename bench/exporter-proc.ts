/**
 * For the exporter benches (scrape-load.ts, soak.ts): a `cgstore serve` child process over a
 * cgroup subtree of the bench's own, and what /proc says about it (RSS, fds, bpf links).
 * Everything is removed on exit, SIGINT and SIGTERM.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { readdirSync, readFileSync, readlinkSync } from "node:fs";
import { resolve } from "node:path";
import { Cgroup, removeCgroupTree } from "../src/index.ts";

const CLI = resolve(import.meta.dirname, "../src/cli/main.ts");

export interface ServeProc {
  proc: ChildProcess;
  url: string;
  top: Cgroup;
}

const live: ServeProc[] = [];
function cleanupAll() {
  for (const s of live.splice(0)) {
    s.proc.kill("SIGKILL");
    try {
      removeCgroupTree(s.top.path);
    } catch {
      // a cgroup still emptying: left for the next run's tag to avoid
    }
  }
}
process.on("exit", cleanupAll);
for (const sig of ["SIGINT", "SIGTERM"] as const) {
  process.on(sig, () => {
    cleanupAll();
    process.exit(130);
  });
}

/** A fresh subtree `cgstore-bench-<pid>-<tag>` and `cgstore serve --cgroup` over it. */
export async function startServe(tag: string, setup: (top: Cgroup) => void, args: string[] = []): Promise<ServeProc> {
  const top = Cgroup.create(`cgstore-bench-${process.pid}-${tag}`);
  setup(top);
  const proc = spawn(process.execPath, [CLI, "serve", "--cgroup", top.path, "--web.listen-address", "127.0.0.1:0", ...args],
    { stdio: ["ignore", "pipe", "inherit"] });
  const s: ServeProc = { proc, url: "", top };
  live.push(s);
  s.url = await new Promise<string>((ok, fail) => {
    proc.stdout!.on("data", (d: Buffer) => {
      const m = /(http:\/\/\S+\/metrics)/.exec(d.toString());
      if (m) ok(m[1]!);
    });
    proc.once("exit", (code) => fail(new Error(`serve exited ${code}`)));
  });
  return s;
}

/** RSS (bytes), open fds and bpf_link fds of a process. */
export function procStats(pid: number): { rss: number; fds: number; links: number } {
  const rss = Number(/^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, "utf8"))?.[1] ?? NaN) * 1024;
  let fds = 0, links = 0;
  for (const fd of readdirSync(`/proc/${pid}/fd`)) {
    fds++;
    try {
      if (readlinkSync(`/proc/${pid}/fd/${fd}`) === "anon_inode:bpf_link") links++;
    } catch {
      // closed meanwhile
    }
  }
  return { rss, fds, links };
}

export function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

/**
 * `cgstore serve` as operators deploy it: exporter flags and HTTP behaviour, config files (good
 * and bad), several maps, and each packet counted once (own-share series) or subtree series.
 */
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { gunzipSync } from "node:zlib";
import { get } from "node:http";
import { afterEach, describe, expect, test } from "../helpers/harness.ts";
import { BpfObject, CgrpStorageMap } from "../../src/index.ts";
import { bpf, native, spawnCli } from "../helpers/env.ts";
import { cli } from "../helpers/cli.ts";
import { bpftoolCgroupShowUnusable, needsKernel, titled } from "../helpers/kernel.ts";
import { attachedTo, hasBpftool } from "../helpers/bpftool.ts";
import { cleanup, closeLater, sendUdp, testCgroup, testPinPath, track } from "../helpers/fixture.ts";

/** The bundled counter, loaded; its maps pinned (shared_stats, pcpu_stats). */
function pinnedCounter(): { obj: BpfObject; pins: Record<string, string> } {
  const obj = closeLater(BpfObject.open(native("counter.bpf.o")).load());
  const pins: Record<string, string> = {};
  for (const name of ["pcpu_stats", "shared_stats"]) {
    const pin = testPinPath(name);
    closeLater(obj.map(name)).pin(pin);
    pins[name] = pin;
  }
  return { obj, pins };
}

const running: ChildProcess[] = [];
const temps: string[] = [];

/** Starts `cgstore serve <args>`; resolves with its base URLs (one per listen address). */
async function startServe(args: string[]): Promise<{ proc: ChildProcess; urls: string[] }> {
  const proc = spawnCli(["serve", ...args], { stdio: ["ignore", "pipe", "pipe"] });
  running.push(proc);
  let err = "";
  proc.stderr!.on("data", (d: Buffer) => (err += d));
  const urls = await new Promise<string[]>((ok, fail) => {
    proc.stdout!.on("data", (d: Buffer) => {
      const found = [...d.toString().matchAll(/https?:\/\/[^\s)]+/g)].map((m) => m[0]!);
      if (found.length > 0) ok(found);
    });
    proc.once("exit", (code) => fail(new Error(`serve exited ${code}: ${err}`)));
  });
  return { proc, urls };
}

/** Runs `cgstore serve <args>` to its end: exit code and stderr. */
function runServe(args: string[]): Promise<{ code: number | null; stderr: string }> {
  const proc = spawnCli(["serve", ...args], { stdio: ["ignore", "ignore", "pipe"] });
  running.push(proc);
  let stderr = "";
  proc.stderr!.on("data", (d: Buffer) => (stderr += d));
  return new Promise((ok) => proc.once("exit", (code) => ok({ code, stderr })));
}

function tempFile(name: string, text: string): string {
  const dir = mkdtempSync(join(tmpdir(), "cgstore-test-exporter-"));
  temps.push(dir);
  writeFileSync(join(dir, name), text);
  return join(dir, name);
}

function udp(dir: string, count: number, size = 10) {
  sendUdp(dir, count, size);
}

/** The value of the one sample of `name` whose line contains every one of `parts`. */
function sample(body: string, name: string, ...parts: string[]): number | undefined {
  const line = body.split("\n").find((l) => l.startsWith(`${name}{`) && parts.every((p) => l.includes(p)));
  return line === undefined ? undefined : Number(line.split(" ").at(-1));
}

afterEach(() => {
  for (const p of running.splice(0)) p.kill("SIGKILL");
  for (const d of temps.splice(0)) rmSync(d, { recursive: true, force: true });
  cleanup();
});

describe.skipIf(!bpf.ok)("serve: exporter conventions", () => {
  test("two listen addresses, telemetry path, landing page, GET/HEAD only, gzip, process and build metrics", async () => {
    const top = testCgroup("conv");
    mkdirSync(`${top.path}/leaf`);
    const { urls } = await startServe(["--cgroup", top.path, "--web.listen-address", "127.0.0.1:0",
      "--web.listen-address", "127.0.0.1:0", "--web.telemetry-path", "/custom"]);
    expect(urls).toHaveLength(2);
    expect(urls.every((u) => u.endsWith("/custom"))).toBe(true);
    const base = urls[1]!.replace(/\/custom$/, "");
    const landing = await fetch(`${base}/`);
    expect(landing.status).toBe(200);
    expect(await landing.text()).toContain('href="/custom"');
    expect((await fetch(`${base}/metrics`)).status).toBe(404);
    const post = await fetch(urls[0]!, { method: "POST" });
    expect(post.status).toBe(405);
    expect(post.headers.get("allow")).toBe("GET, HEAD");
    const head = await fetch(urls[0]!, { method: "HEAD" });
    expect(head.status).toBe(200);
    expect(await head.text()).toBe("");
    // node:http, not fetch: fetch would undo the gzip (Deno's always does).
    const zipped = await new Promise<{ encoding?: string; bytes: Buffer }>((ok, fail) => {
      get(urls[0]!, { headers: { "accept-encoding": "gzip" } }, (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () => ok({ encoding: res.headers["content-encoding"], bytes: Buffer.concat(chunks) }));
      }).on("error", fail);
    });
    expect(zipped.encoding).toBe("gzip");
    const body = gunzipSync(zipped.bytes).toString();
    for (const m of ["process_cpu_seconds_total", "process_resident_memory_bytes", "process_open_fds", "process_max_fds", "process_start_time_seconds"]) {
      expect(body).toMatch(new RegExp(`^${m} [0-9.e+]+$`, "m"));
    }
    expect(body).toMatch(/^cgstore_build_info\{version="[^"]+",runtime="(bun|deno)",runtime_version="[^"]+"\} 1$/m);
  }, 20_000);

  test("an address in use is one line and exit 3; a bad config is exit 2 naming file, line and problem", async () => {
    const top = testCgroup("busy");
    const { urls } = await startServe(["--cgroup", top.path, "--web.listen-address", "127.0.0.1:0"]);
    const taken = new URL(urls[0]!).host;
    const busy = await runServe(["--cgroup", top.path, "--web.listen-address", taken]);
    expect(busy.code).toBe(3);
    expect(busy.stderr.trim().split("\n")).toEqual([`cgstore: load: cannot listen on ${taken}: the address is already in use`]);

    const bad = tempFile("bad.yml", "maps:\n  - pin: /sys/fs/bpf/x\n    fields:\n      - field: packets\n        type: countr\n");
    const r = await runServe(["--config.file", bad]);
    expect(r.code).toBe(2);
    expect(r.stderr.split("\n")[0]).toBe(`cgstore: ${bad}:5:15: maps[0].fields[0].type: "countr" is not one of counter, gauge`);
    // A field the map does not have: found once the map is open, reported at its entry.
    const { pins } = pinnedCounter();
    const missing = tempFile("missing.yml", `maps:\n  - pin: ${pins.pcpu_stats}\n    fields:\n      - field: packets\n      - field: nope\n`);
    const m = await runServe(["--config.file", missing]);
    expect(m.code).toBe(2);
    expect(m.stderr.split("\n")[0]).toMatch(new RegExp(`^cgstore: ${missing}:5:9: .*no field "nope"`));
  }, 20_000);
});

describe.skipIf(!bpf.ok)("serve: each packet counted once", () => {
  /** A parent holding a process of its own, with a child: both attached (own policy). */
  async function parentAndChild() {
    const top = testCgroup("own");
    const parent = `${top.path}/parent`, child = `${parent}/child`;
    mkdirSync(child, { recursive: true });
    const sleeper = spawn("sleep", ["60"], { stdio: "ignore" });
    running.push(sleeper);
    await new Promise((ok) => sleeper.once("spawn", ok));
    writeFileSync(`${parent}/cgroup.procs`, String(sleeper.pid));
    return { top, parent, child };
  }

  test("own (default): a parent with processes exports its own packets only; the series add up", async () => {
    const { top, parent, child } = await parentAndChild();
    const { urls } = await startServe(["--cgroup", top.path, "--web.listen-address", "127.0.0.1:0"]);
    udp(child, 20);
    udp(parent, 7);
    const body = await (await fetch(urls[0]!)).text();
    const rel = (p: string) => `cgroup="${p.slice(p.indexOf("/cgstore-test-"))}"`;
    expect(sample(body, "cgstore_packets_total", rel(parent), "EGRESS")).toBe(7);
    expect(sample(body, "cgstore_packets_total", rel(child), "EGRESS")).toBe(20);
    expect(sample(body, "cgstore_packets_total", rel(top.path))).toBeUndefined(); // not attached: no processes
    // Once the child is gone, its packets stay out of the parent's series.
    rmdirSync(child);
    udp(parent, 1);
    const after = await (await fetch(urls[0]!)).text();
    expect(sample(after, "cgstore_packets_total", rel(parent), "EGRESS")).toBe(8);
  }, 20_000);

  test("--subtree: every cgroup, its subtree's total, labelled scope and depth", async () => {
    const { top, parent, child } = await parentAndChild();
    const { urls } = await startServe(["--cgroup", top.path, "--subtree", "--web.listen-address", "127.0.0.1:0"]);
    udp(child, 20);
    udp(parent, 7);
    const body = await (await fetch(urls[0]!)).text();
    const rel = (p: string) => `cgroup="${p.slice(p.indexOf("/cgstore-test-"))}"`;
    expect(sample(body, "cgstore_packets_total", rel(top.path), "EGRESS", 'scope="subtree"', 'depth="0"')).toBe(27);
    expect(sample(body, "cgstore_packets_total", rel(parent), "EGRESS", 'depth="1"')).toBe(27);
    expect(sample(body, "cgstore_packets_total", rel(child), "EGRESS", 'depth="2"')).toBe(20);
  }, 20_000);

  test("--map twice serves both maps (same-named fields: one family, told apart by the map label)", async () => {
    const { obj, pins } = pinnedCounter();
    const cg = testCgroup("maps");
    track(obj.program("count_egress").attachCgroup(cg.path));
    udp(cg.path, 4);
    const { urls } = await startServe(["--map", pins.pcpu_stats!, "--map", pins.shared_stats!, "--web.listen-address", "127.0.0.1:0"]);
    const body = await (await fetch(urls[0]!)).text();
    expect(body.match(/^# TYPE cgstore_packets_total counter$/gm)).toHaveLength(1);
    expect(sample(body, "cgstore_packets_total", 'map="pcpu_stats"')).toBe(4);
    expect(sample(body, "cgstore_packets_total", 'map="shared_stats"')).toBe(4);
  }, 20_000);
});

const noCgrp = !bpf.ok ? "needs BPF" : needsKernel("CGRP_STORAGE");

describe.skipIf(noCgrp !== null)(titled("serve and top: a CGRP_STORAGE map", noCgrp), () => {
  /** Two cgroups under a test subtree. */
  function twoCgroups() {
    const top = testCgroup("cgrp");
    const a = `${top.path}/a`, b = `${top.path}/b`;
    mkdirSync(a);
    mkdirSync(b);
    const rel = (p: string) => `cgroup="${p.slice(p.indexOf("/cgstore-test-"))}"`;
    return { top, a, b, rel };
  }

  test("examples/cgrp.yml: bundled:cgrp_counter.bpf.o attached once at the subtree's root, one series per cgroup, its own traffic", async () => {
    const { top, a, b, rel } = twoCgroups();
    const example = readFileSync(resolve(import.meta.dirname, "../../examples/cgrp.yml"), "utf8");
    expect(example).toMatch(/^ {4}cgroup: \/ /m);
    const config = tempFile("cgrp.yml", example.replace(/^ {4}cgroup: \/ /m, `    cgroup: ${top.path} `));
    const { urls } = await startServe(["--config.file", config, "--web.listen-address", "127.0.0.1:0"]);
    udp(a, 5);
    udp(b, 9);
    const body = await (await fetch(urls[0]!)).text();
    // Egress and ingress both count into the socket's own cgroup (sender and receiver are in it).
    expect(sample(body, "cgstore_packets_total", rel(a), 'map="cgrp_stats"')).toBe(10);
    expect(sample(body, "cgstore_packets_total", rel(b))).toBe(18);
    expect(sample(body, "cgstore_bytes_total", rel(b))).toBe(18 * (10 + 28));
    expect(body).not.toMatch(/^cgstore_packets_total\{[^}]*attach_type=/m);
    expect(sample(body, "cgstore_packets_total", rel(top.path))).toBeUndefined(); // no sockets of its own
    // Attached once, at the root: the subtree's children have nothing of their own.
    if (hasBpftool && bpftoolCgroupShowUnusable() === null) {
      expect(attachedTo(top.path).map((p) => p.name).sort()).toEqual(["cgrp_egress", "cgrp_ingress"]);
      expect(attachedTo(a)).toEqual([]);
    }

    const bad = tempFile("cgrp-subtree.yml", `maps:\n  - object: bundled:cgrp_counter.bpf.o\n    map: cgrp_stats\n    cgroup: ${top.path}\n    series: subtree\n`);
    const r = await runServe(["--config.file", bad]);
    expect(r.code).toBe(2);
    expect(r.stderr.split("\n")[0]).toMatch(new RegExp(`^cgstore: ${bad}:5:13: map "cgrp_stats" is a cgrp_storage map: .*no subtree totals`));
    const unknown = tempFile("cgrp-unknown.yml", `maps:\n  - object: bundled:nope.bpf.o\n    map: x\n    cgroup: ${top.path}\n`);
    const u = await runServe(["--config.file", unknown]);
    expect(u.code).toBe(2);
    expect(u.stderr).toContain("bundled:cgrp_counter.bpf.o");
  }, 20_000);

  test("--map of a pinned CGRP_STORAGE map: serve exports it and top ranks it", async () => {
    const { top, a, rel } = twoCgroups();
    const obj = closeLater(BpfObject.open(native("cgrp_counter.bpf.o")).load());
    const pin = testPinPath("cgrp");
    closeLater(CgrpStorageMap.from(obj.map("cgrp_stats"))).pin(pin);
    track(obj.program("cgrp_egress").attachCgroup(top.path));
    track(obj.program("cgrp_ingress").attachCgroup(top.path));
    udp(a, 3);
    const { urls } = await startServe(["--map", pin, "--web.listen-address", "127.0.0.1:0"]);
    const body = await (await fetch(urls[0]!)).text();
    expect(sample(body, "cgstore_packets_total", rel(a), 'map="cgrp_stats"')).toBe(6);
    const t = cli(["top", "--map", pin, "--iterations", "1", "--interval", "0.1"]);
    expect(t.code).toBe(0);
    const row = t.out.split("\n").find((l) => l.includes(a.slice(a.indexOf("/cgstore-test-"))));
    expect(row).toBeDefined();
    expect(row!.split(/\s+/)).toContain("6"); // PACKETS (its rate is 0: no traffic during the interval)
  }, 20_000);
});

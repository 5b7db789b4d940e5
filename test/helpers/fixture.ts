/**
 * Test fixture: everything a test makes in the kernel carries the `cgstore-test-` prefix and is
 * registered here, so `cleanup()` (afterEach/afterAll, process exit, and a sweep of stale
 * leftovers from killed runs at start) removes it even when a test fails.
 */
import { existsSync, readdirSync, rmSync } from "node:fs";
import { join, resolve } from "node:path";
import { spawnSync } from "node:child_process";
import { Cgroup, cgroupRoot, removeCgroupTree, type CgroupAttachment } from "../../src/index.ts";
import { spawnUdpTraffic, udpTrafficArgv } from "../../src/cli/udp-traffic.ts";
import { isDeno } from "./env.ts";

export const PREFIX = "cgstore-test-";
// pid, then a per-module nonce: Deno runs each test file as its own module instance in one
// process, and two files must not hand out the same names.
const run = `${PREFIX}${process.pid}-${Math.random().toString(36).slice(2, 8)}-`;
let seq = 0;

const cgroups: Cgroup[] = [];
const pins: string[] = [];
const attachments: CgroupAttachment[] = [];
const closers: { close(): void }[] = [];

/** A fresh cgroup under the cgroup2 root, removed at cleanup. */
export function testCgroup(tag = "cg"): Cgroup {
  const cg = Cgroup.create(`${run}${tag}-${seq++}`);
  cgroups.push(cg);
  return cg;
}

/** A fresh bpffs path for a pin, unlinked at cleanup. */
export function testPinPath(tag = "pin"): string {
  const p = `/sys/fs/bpf/${run}${tag}-${seq++}`;
  pins.push(p);
  return p;
}

/** Registers an attachment (detached at cleanup) and returns it. */
export function track<T extends CgroupAttachment>(a: T): T {
  attachments.push(a);
  return a;
}

/** Registers anything closable (maps, objects) for cleanup, and returns it. */
export function closeLater<T extends { close(): void }>(c: T): T {
  closers.push(c);
  return c;
}

/** Detaches, closes and removes everything registered so far. Safe to call repeatedly. */
export function cleanup(): void {
  const errors: unknown[] = [];
  const each = <T>(items: T[], fn: (x: T) => void) => {
    for (const x of items) {
      try {
        fn(x); // one failure must not leak the rest
      } catch (e) {
        errors.push(e);
      }
    }
  };
  each(attachments.splice(0), (a) => a.detach());
  each(closers.splice(0).reverse(), (c) => c.close());
  // Explicit: a test may leave processes or child cgroups inside its cgroups.
  each(cgroups.splice(0), (cg) => cg.remove({ evict: true, recursive: true }));
  each(pins.splice(0), (p) => rmSync(p, { force: true }));
  if (errors.length > 0) throw new AggregateError(errors, `test cleanup: ${errors.length} failures`);
}

/** Removes `cgstore-test-*` cgroups and pins left by runs whose process is gone. */
export function sweepStale(): void {
  // Only names testCgroup/testPinPath make (<prefix><pid>-…) are swept, and only when that
  // process is gone; anything else with the prefix is left alone.
  const alive = (name: string) => {
    const m = /^(\d+)-/.exec(name.slice(PREFIX.length));
    return m === null || existsSync(`/proc/${m[1]}`);
  };
  for (const dir of [cgroupRoot(), "/sys/fs/bpf"]) {
    if (!existsSync(dir)) continue;
    for (const name of readdirSync(dir)) {
      if (!name.startsWith(PREFIX) || alive(name)) continue;
      const path = join(dir, name);
      if (dir === "/sys/fs/bpf") rmSync(path, { recursive: true, force: true });
      else removeCgroupTree(path);
    }
  }
}

/** UDP header + IPv4 header: what skb->len adds to the payload at cgroup_skb hooks. */
export const UDP_IPV4_OVERHEAD = 28;

// Under Deno the tests' traffic child runs on Bun when it is there (node_modules/.bin): a Deno
// child takes ~80 ms to start, Bun's ~35 ms, and a run starts ~40 of them (measured: the Deno
// suite +5 s). The demo and the package test still run Deno's own child under deno test.
const BUN = resolve(import.meta.dirname, "../../node_modules/.bin/bun");
const TRAFFIC_SCRIPT = resolve(import.meta.dirname, "../../src/cli/udp-traffic.ts");
function trafficArgv(dir: string, count: number, size: number): string[] {
  if (isDeno && existsSync(BUN)) return [BUN, TRAFFIC_SCRIPT, dir, String(count), String(size)];
  return udpTrafficArgv(dir, count, size);
}

/**
 * Runs `count` UDP datagrams of `size` payload bytes over 127.0.0.1 from a process inside
 * `cg` (sender and receiver sockets both belong to it), waiting for each to arrive: the demo's
 * traffic child (src/cli/udp-traffic.ts), started with the runtime running the tests.
 */
export function sendUdp(cg: Cgroup | string, count: number, size: number): void {
  const [cmd, ...argv] = trafficArgv(typeof cg === "string" ? cg : cg.path, count, size);
  const r = spawnSync(cmd!, argv, { encoding: "utf8" });
  if (r.status !== 0) throw new Error(`udp traffic child failed (${r.status}): ${r.stderr}`);
}

/** {@link sendUdp} without blocking this process (for traffic while a Collector polls). */
export function sendUdpAsync(cg: Cgroup | string, count: number, size: number): Promise<void> {
  const dir = typeof cg === "string" ? cg : cg.path;
  return spawnUdpTraffic(dir, count, size, trafficArgv(dir, count, size));
}

/** Polls `fn` until it returns true, up to `ms`. */
export function waitFor(fn: () => boolean, ms = 3000): boolean {
  const end = Date.now() + ms;
  const nap = new Int32Array(new SharedArrayBuffer(4));
  while (Date.now() < end) {
    if (fn()) return true;
    Atomics.wait(nap, 0, 0, 10);
  }
  return fn();
}

process.on("exit", cleanup);

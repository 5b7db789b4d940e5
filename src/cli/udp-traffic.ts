/**
 * Known loopback traffic from inside a cgroup, made by the runtime itself (no C helper): a child
 * process of the same runtime joins the cgroup (its own pid into `cgroup.procs`), then sends
 * `count` UDP datagrams of `size` payload bytes to itself on 127.0.0.1, receiving each before
 * sending the next so none is dropped. Both sockets are made after the move, so egress and
 * ingress are both charged to the cgroup: `count` packets of `size` + 28 bytes each way.
 *
 * Run as a script: `<runtime> udp-traffic.ts <cgroup dir> <count> <size>`; in a compiled
 * binary, the binary re-executes itself with {@link TRAFFIC_ARG} first (see `binary.ts`).
 * @internal
 */
import { spawn } from "node:child_process";
import { createSocket, type Socket } from "node:dgram";
import { writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { isCompiledBinary } from "../bundled.ts";

/** The hidden first argument that makes a compiled `cgstore` binary run {@link udpTraffic}. */
export const TRAFFIC_ARG = "__cgstore-udp-traffic";

/** argv (command first) of a child that runs {@link udpTraffic} with the runtime running this. */
export function udpTrafficArgv(cgroupDir: string, count: number, size: number): string[] {
  const args = [cgroupDir, String(count), String(size)];
  if (isCompiledBinary()) return [process.execPath, TRAFFIC_ARG, ...args];
  const script = import.meta.url.startsWith("file:") ? fileURLToPath(import.meta.url) : import.meta.url;
  if (typeof (globalThis as { Deno?: unknown }).Deno === "object") {
    // -A: Deno lets only --allow-all write under /sys (cgroup.procs). --no-config: the user's
    // deno.json (import map, lock file) has nothing to do with this script.
    return [process.execPath, "run", "-A", "--no-config", script, ...args];
  }
  return [process.execPath, script, ...args];
}

/**
 * Runs the traffic child for `dir` and resolves when it is done; rejects with its stderr if it
 * fails. Asynchronous, so a caller's signal handlers (the demo's cleanup) still run meanwhile.
 */
export function spawnUdpTraffic(dir: string, count: number, size: number, command = udpTrafficArgv(dir, count, size)): Promise<void> {
  const [cmd, ...argv] = command;
  return new Promise((ok, fail) => {
    const child = spawn(cmd!, argv, { stdio: ["ignore", "ignore", "pipe"] });
    let err = "";
    child.stderr!.on("data", (d: Buffer) => (err += d));
    child.once("error", fail);
    child.once("exit", (code) => (code === 0 ? ok() : fail(new Error(`the traffic child failed in ${dir} (exit ${code}): ${err.trim()}`))));
  });
}

const bound = (s: Socket) => new Promise<void>((resolve, reject) => {
  s.once("error", reject);
  s.bind(0, "127.0.0.1", () => resolve());
});

/** Moves this process into `cgroupDir`, then sends and receives the datagrams. */
export async function udpTraffic(cgroupDir: string, count: number, size: number): Promise<void> {
  writeFileSync(`${cgroupDir}/cgroup.procs`, `${process.pid}\n`);
  const rx = createSocket("udp4"), tx = createSocket("udp4");
  try {
    // Both bound: each socket exists (and was created in the cgroup) even when count is 0.
    await bound(rx);
    await bound(tx);
    const port = rx.address().port;
    const payload = new Uint8Array(size);
    let arrived: (() => void) | null = null;
    rx.on("message", () => arrived?.());
    for (let i = 0; i < count; i++) {
      await new Promise<void>((resolve, reject) => {
        arrived = resolve;
        tx.send(payload, port, "127.0.0.1", (e) => e && reject(e));
      });
    }
  } finally {
    rx.close();
    tx.close();
  }
}

/** Runs {@link udpTraffic} from command-line arguments; the exit code. */
export async function udpTrafficMain(argv: string[]): Promise<number> {
  const [dir, count, size] = [argv[0], Number(argv[1]), Number(argv[2])];
  if (dir === undefined || !Number.isSafeInteger(count) || count < 0 || !Number.isSafeInteger(size) || size < 0 || size > 65000) {
    console.error("usage: udp-traffic <cgroup dir> <count> <size ≤ 65000>");
    return 2;
  }
  try {
    await udpTraffic(dir, count, size);
    return 0;
  } catch (e) {
    console.error(`udp-traffic: ${(e as Error).message}`);
    return 1;
  }
}

if (import.meta.main && !isCompiledBinary()) process.exitCode = await udpTrafficMain(process.argv.slice(2));

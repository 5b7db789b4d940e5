#!/usr/bin/env bun
/**
 * Measures the smallest capability sets each `cgstore` command and the main library paths need:
 * runs each as uid/gid 65534 (no groups) with every subset of a few capabilities as ambient
 * capabilities (setpriv), smallest first, and prints the minimal sets as a Markdown table (the
 * one in README, "Least privilege"). Run as root: `bun scripts/least-privilege.ts` (or
 * `deno run -A scripts/least-privilege.ts`); needs setpriv and native/build (make -C native).
 * It makes a cgroup and pins named `cgstore-lp-<pid>` and removes them at the end.
 */
import { spawn, spawnSync } from "node:child_process";
import { chmodSync, chownSync, readFileSync } from "node:fs";
import { release } from "node:os";
import { basename } from "node:path";
import { BpfObject, Cgroup, PerCpuCgroupStorageMap } from "../src/index.ts";

const CAPS = ["bpf", "net_admin", "perfmon", "sys_admin", "dac_override"] as const;
const MAX_SET = 4;
const NOBODY = 65534;
const here = (p: string) => new URL(p, import.meta.url).pathname;
const COUNTER = here("../native/build/counter.bpf.o");
const isDeno = basename(process.execPath).startsWith("deno");
const script = (file: string, args: string[]) => isDeno ? [process.execPath, "run", "-A", file, ...args] : [process.execPath, file, ...args];
const op = (...args: string[]) => ({ argv: script(here("./privilege-op.ts"), args), serve: false });
const cli = (...args: string[]) => ({ argv: script(here("../src/cli/main.ts"), args), serve: args[0] === "serve" });

interface Check { what: string; argv: string[]; serve: boolean }
interface Outcome { ok: boolean; said: string }

function setprivArgv(caps: readonly string[], argv: string[]): string[] {
  const set = ["-all", ...caps.map((c) => `+${c}`)].join(",");
  return ["setpriv", `--reuid=${NOBODY}`, `--regid=${NOBODY}`, "--clear-groups", `--inh-caps=${set}`, `--ambient-caps=${set}`, ...argv];
}

/** The first line of what a run said, past libbpf's own messages. */
const firstLine = (s: string) => s.split("\n").find((l) => l.trim() !== "" && !l.startsWith("libbpf:"))?.trim() ?? "";

/** Runs `check` with `caps`; a `serve` works when it prints its URL (then it is stopped). */
async function attempt(check: Check, caps: readonly string[]): Promise<Outcome> {
  const [cmd, ...args] = setprivArgv(caps, check.argv);
  if (!check.serve) {
    const r = spawnSync(cmd!, args, { encoding: "utf8", timeout: 60_000 });
    return { ok: r.status === 0, said: firstLine(r.status === 0 ? "" : `${r.stdout}\n${r.stderr}`) };
  }
  const child = spawn(cmd!, args, { stdio: ["ignore", "pipe", "pipe"] });
  let out = "", err = "";
  child.stdout!.on("data", (d) => (out += d));
  child.stderr!.on("data", (d) => (err += d));
  const exited = new Promise<void>((ok) => child.once("exit", () => ok()));
  const deadline = Date.now() + 30_000;
  while (!out.includes("/metrics") && child.exitCode === null && Date.now() < deadline) await new Promise((ok) => setTimeout(ok, 50));
  const ok = out.includes("/metrics");
  if (child.exitCode === null) child.kill("SIGINT");
  await exited;
  return { ok, said: ok ? "" : firstLine(err) };
}

function* subsets(size: number, from = 0): Generator<string[]> {
  if (size === 0) return yield [];
  for (let i = from; i < CAPS.length; i++) for (const rest of subsets(size - 1, i + 1)) yield [CAPS[i]!, ...rest];
}

/** Every minimal capability set (up to MAX_SET of CAPS) under which `check` works. */
async function measure(check: Check): Promise<{ minimal: string[][]; without: string }> {
  const minimal: string[][] = [];
  let without = "";
  for (let size = 0; size <= MAX_SET; size++) {
    for (const set of subsets(size)) {
      if (minimal.some((m) => m.every((c) => set.includes(c)))) continue; // a superset of one that works
      const r = await attempt(check, set);
      if (size === 0) without = r.said;
      if (r.ok) minimal.push(set);
    }
  }
  return { minimal, without };
}

const capName = (c: string) => `CAP_${c.toUpperCase()}`;

async function main(): Promise<void> {
  if (process.getuid?.() !== 0) throw new Error("run as root: the script sets up maps and cgroups, then drops to uid 65534");
  if (spawnSync("setpriv", ["--help"]).status !== 0) throw new Error("setpriv (util-linux) is needed");
  const tag = `cgstore-lp-${process.pid}`;
  const top = Cgroup.create(tag);
  const obj = BpfObject.open(COUNTER).load();
  const pins: string[] = [];
  try {
    const child = Cgroup.create(`${tag}/work`);
    const mine = Cgroup.create(`${tag}/nobody`);
    chownSync(mine.path, NOBODY, NOBODY); // a subtree delegated to the user
    const link = obj.program("count_egress").attachCgroup(child);
    const map = PerCpuCgroupStorageMap.from(obj.map("pcpu_stats"));
    const roPin = `/sys/fs/bpf/${tag}-0644`, userPin = `/sys/fs/bpf/${tag}-user`;
    map.pin(roPin);
    map.pin(userPin);
    pins.push(roPin, userPin);
    chmodSync(roPin, 0o644);
    chownSync(userPin, NOBODY, NOBODY);
    const checks: Check[] = [
      { what: "`cgstore dump <pin>` (pin mode 0644)", ...cli("dump", roPin) },
      { what: "`cgstore dump --id <id>`", ...cli("dump", "--id", String(map.info.id)) },
      { what: "`cgstore top --map <pin>` (0644)", ...cli("top", "--map", roPin, "--iterations", "1", "--interval", "0.1") },
      { what: "`cgstore top --cgroup <dir>`", ...cli("top", "--cgroup", top.path, "--iterations", "1", "--interval", "0.1") },
      { what: "`cgstore serve --map <pin>` (0644)", ...cli("serve", "--map", roPin, "--port", "0") },
      { what: "`cgstore serve --cgroup <dir>`", ...cli("serve", "--cgroup", top.path, "--port", "0") },
      { what: "`cgstore demo`", ...cli("demo") },
      { what: "open a pin read-only, look up, scan (0644 pin)", ...op("open-read", roPin) },
      { what: "open a pin read-write (the user's pin)", ...op("open-read-write", userPin) },
      { what: "open a pin read-write (root's 0644 pin)", ...op("open-read-write", roPin) },
      { what: "update an entry (the user's pin)", ...op("update", userPin, String(child.id)) },
      { what: "read a map's BTF (by id)", ...op("map-btf", roPin) },
      { what: "open a map by id", ...op("open-id", String(map.info.id)) },
      { what: "load an object (`BpfObject.load`)", ...op("load") },
      { what: "attach to a cgroup: bpf_link (root's 0755 cgroup)", ...op("attach-link", child.path) },
      { what: "attach to a cgroup: prog_attach (root's 0755 cgroup)", ...op("attach-prog", child.path) },
      { what: "create a map", ...op("create-map") },
      { what: "create a cgroup (parent owned by the user)", ...op("create-cgroup", `${mine.path}/x`) },
      { what: "create a cgroup (root's 0755 parent)", ...op("create-cgroup", `${top.path}/x`) },
    ];
    const bpffs = readFileSync("/proc/self/mountinfo", "utf8").split("\n").find((l) => / - bpf /.test(l))?.split(" ")[5] ?? "?";
    const sysctl = readFileSync("/proc/sys/kernel/unprivileged_bpf_disabled", "utf8").trim();
    console.log(`Measured on Linux ${release()} (kernel.unprivileged_bpf_disabled=${sysctl}, bpffs ${bpffs}), ` +
      `${isDeno ? "Deno" : "Bun"}, uid/gid ${NOBODY} with ambient capabilities from ${CAPS.map(capName).join(", ")}:\n`);
    console.log("| What | Smallest capability sets (any one) | With none |");
    console.log("| --- | --- | --- |");
    for (const check of checks) {
      const { minimal, without } = await measure(check);
      const sets = minimal.length === 0 ? `none of up to ${MAX_SET} of these`
        : minimal.map((s) => (s.length === 0 ? "**none**" : s.map(capName).join(" + "))).join("; ");
      const why = without.length > 110 ? `${without.slice(0, 107)}…` : without;
      console.log(`| ${check.what} | ${sets} | ${why.replaceAll("|", "\\|") || "works"} |`);
    }
    link.detach();
    map.close();
  } finally {
    obj.close();
    for (const p of pins) spawnSync("rm", ["-f", p]);
    top.remove({ evict: true, recursive: true });
  }
}

await main();

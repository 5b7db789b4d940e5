/** Running the `cgstore` command as a test subject: as root, without capabilities, or as nobody. */
import { spawnSync } from "node:child_process";
import { CLI, scriptArgv } from "./env.ts";
import { needsKernel } from "./kernel.ts";

export type As = "root" | "without-caps" | "nobody";

/**
 * Runs `cgstore <args>`. `without-caps`: uid 0 with every capability dropped. `nobody`: uid and
 * gid 65534, no groups (needs a checkout and runtime nobody can read: not one under /root).
 */
export function cli(args: string[], opts: { env?: NodeJS.ProcessEnv; as?: As } = {}) {
  const drop: Record<As, string[]> = {
    root: [],
    "without-caps": ["--inh-caps=-all", "--ambient-caps=-all", "--bounding-set=-all"],
    nobody: ["--reuid=65534", "--regid=65534", "--clear-groups"],
  };
  const as = opts.as ?? "root";
  const [cmd, argv] = as === "root"
    ? [process.execPath, scriptArgv(CLI, args).slice(1)]
    : ["setpriv", [...drop[as], ...scriptArgv(CLI, args)]];
  const r = spawnSync(cmd, argv, { encoding: "utf8", env: opts.env ?? process.env });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

export const hasSetpriv = spawnSync("setpriv", ["--help"]).status === 0;
export const nobodyCanRun = hasSetpriv && cli(["--help"], { as: "nobody" }).code === 0;
/** A stack frame line (`    at f (file:1:2)`): cgstore errors are reported without one. */
export const STACK_FRAME = /^\s+at /m;

/**
 * ✓ rows `cgstore demo` prints when every count agrees: 6 for the old maps (3 cgroups × egress,
 * ingress), plus one per cgroup for the CGRP_STORAGE maps where the kernel has them (≥ 6.2).
 */
export const DEMO_OK_ROWS = needsKernel("CGRP_STORAGE") === null ? 9 : 6;

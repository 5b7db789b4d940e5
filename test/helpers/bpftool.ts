/** What bpftool (not cgstore) sees, for tests that check cgstore's effect on the kernel. */
import { spawnSync } from "node:child_process";

export const hasBpftool = spawnSync("bpftool", ["version"]).status === 0;

/** A program attached to a cgroup, as `bpftool -j cgroup show` lists it. */
export interface Attached {
  id: number;
  name: string;
  attach_type: string;
  attach_flags?: string;
}

/** Programs attached to the cgroup at `path` (with `effective`, those that run there). */
export function attachedTo(path: string, effective = false): Attached[] {
  const r = spawnSync("bpftool", ["-j", "cgroup", "show", path, ...(effective ? ["effective"] : [])], { encoding: "utf8" });
  if (r.status !== 0) throw new Error(`bpftool cgroup show ${path}: ${r.stderr}`);
  return JSON.parse(r.stdout.trim() || "[]"); // bpftool prints only a newline for none
}

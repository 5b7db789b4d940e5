/**
 * Attachments act on the exact cgroup they attached to, legacy ones do not outlive the
 * process, and handles dropped without close/detach are released by the collector (once).
 */
import { spawnSync } from "node:child_process";
import { mkdirSync } from "node:fs";
import { resolve } from "node:path";
import { describe, expect, test, afterEach } from "../helpers/harness.ts";
import { BpfObject, cgroupId, removeCgroupTree } from "../../src/index.ts";
import { bpf, isDeno, native, scriptArgv } from "../helpers/env.ts";
import { cleanup, closeLater, testCgroup, track } from "../helpers/fixture.ts";
import { attachedTo, hasBpftool } from "../helpers/bpftool.ts";
import { bpftoolCgroupShowUnusable, titled } from "../helpers/kernel.ts";

const fixture = (name: string) => resolve(import.meta.dirname, "../fixtures", name);

/** Runs a fixture with the runtime running the tests (Deno with gc() exposed). */
function runFixture(name: string, args: string[]) {
  const [cmd, ...argv] = scriptArgv(fixture(name), args);
  if (isDeno) argv.splice(1, 0, "--v8-flags=--expose-gc");
  const r = spawnSync(cmd!, argv, { encoding: "utf8", timeout: 60_000 });
  if (r.status !== 0) throw new Error(`${name} failed (${r.status}): ${r.stderr}`);
  return r.stdout;
}

// Tests that see a program through bpftool skip where it cannot list them (kernels before 6.0);
// seeing that nothing is attached works everywhere.
const noShow = bpf.ok ? bpftoolCgroupShowUnusable() : null;
const listed = (name: string) => titled(name, noShow);

describe.skipIf(!bpf.ok || !hasBpftool)("attachments", () => {
  afterEach(cleanup);

  test.skipIf(noShow !== null)(listed("detach() of a prog_attach made by path leaves a new cgroup at that path alone"), () => {
    const top = testCgroup("exact");
    const path = `${top.path}/x`;
    mkdirSync(path);
    const obj = closeLater(BpfObject.open(native("counter.bpf.o")).load());
    const prog = obj.program("count_egress");
    const first = track(prog.attachCgroup(path, { method: "prog_attach" }));
    expect(attachedTo(path).map((p) => p.name)).toEqual(["count_egress"]);
    const oldId = cgroupId(path);

    removeCgroupTree(path); // removing a cgroup detaches what was attached to it…
    mkdirSync(path); // …and a new cgroup takes its name, with its own attachment
    expect(cgroupId(path)).not.toBe(oldId);
    const second = track(prog.attachCgroup(path, { method: "prog_attach" }));

    first.detach();
    expect(first.attached).toBe(false);
    expect(attachedTo(path).map((p) => p.name)).toEqual(["count_egress"]); // the new one's, still there
    expect(second.attached).toBe(true);
    second.detach();
    expect(attachedTo(path)).toEqual([]);
  });

  test("a Cgroup handle whose cgroup was re-created is refused, not attached to the new one", () => {
    const top = testCgroup("stale");
    const obj = closeLater(BpfObject.open(native("counter.bpf.o")).load());
    const cg = testCgroup("stale-child");
    removeCgroupTree(cg.path);
    mkdirSync(cg.path);
    try {
      let kind: unknown;
      try {
        track(obj.program("count_egress").attachCgroup(cg));
      } catch (e) {
        kind = (e as { kind?: string }).kind;
      }
      expect(kind).toBe("not-found");
      expect(attachedTo(cg.path)).toEqual([]);
      expect(attachedTo(top.path)).toEqual([]);
    } finally {
      // The handle rightly refuses to remove the cgroup re-created at its path: this test made it.
      removeCgroupTree(cg.path);
    }
  });

  for (const how of ["end", "exit"] as const) {
    test.skipIf(noShow !== null)(listed(`a prog_attach left attached is detached when the process ${how === "end" ? "ends" : "calls process.exit"}`), () => {
      const cg = testCgroup("exit-hook");
      const out = runFixture("exit-attached.ts", [cg.path, how]);
      expect(out).toContain("attached 1"); // it was attached while the process ran
      expect(attachedTo(cg.path)).toEqual([]);
    });
  }

  test.skipIf(noShow !== null)(listed("dropped links, objects and maps are closed by the collector; an explicit close is never repeated on a reused fd"), () => {
    const cg = testCgroup("leak-net");
    const r = JSON.parse(runFixture("leak-net.ts", [cg.path]).trim().split("\n").pop()!);
    expect(r).toEqual({
      mapOpened: 1, mapCollected: true, closedMapCollected: true, mapReusedAfter: "/dev/null",
      attachedBefore: 1, linkCollected: true, linkReleased: 1, attachedAfter: 0,
      reusedFd: "/dev/null", detachedCollected: true, reusedAfter: "/dev/null", detachedReleased: 0,
      progsLoaded: r.progsLoaded, objectCollected: true, progsLeft: 0, mapsLeft: 0,
    });
    expect(r.progsLoaded).toBeGreaterThan(0);
  });
});

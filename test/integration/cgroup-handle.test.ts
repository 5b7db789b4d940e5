/** Cgroup handles remove only what they created, only when empty unless told otherwise. */
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { resolve } from "node:path";
import { afterEach, describe, expect, test } from "../helpers/harness.ts";
import { caught } from "../helpers/caught.ts";
import { BpfError, BpfRuleError, Cgroup, cgroupId, cgroupRoot, removeCgroupTree } from "../../src/index.ts";
import { bpf, isDeno, scriptArgv } from "../helpers/env.ts";
import { cleanup, testCgroup } from "../helpers/fixture.ts";
import { nobodyCanRun } from "../helpers/cli.ts";


const sleepers: ChildProcess[] = [];
/** A process that lives until the test ends, moved into `cg`. */
function sleeperIn(cg: Cgroup): number {
  const child = spawn("sleep", ["60"], { stdio: "ignore" });
  sleepers.push(child);
  cg.addProcess(child.pid!);
  return child.pid!;
}

/** The cgroup v2 path of `pid` (the "0::" line; hybrid hosts list v1 hierarchies too). */
const cgroupOf = (pid: number) => /^0::(.*)$/m.exec(readFileSync(`/proc/${pid}/cgroup`, "utf8"))![1];
const relative = (cg: Cgroup) => cg.path.slice(cgroupRoot().length);

describe.skipIf(!bpf.ok)("Cgroup handles never destroy what they did not create", () => {
  afterEach(() => {
    for (const s of sleepers.splice(0)) s.kill("SIGKILL");
    cleanup();
  });

  test("disposing open() of a cgroup with processes and children removes nothing", () => {
    const top = testCgroup("open");
    mkdirSync(`${top.path}/child`);
    const pid = sleeperIn(top);
    {
      using cg = Cgroup.open(top.path);
      expect(cg.owned).toBe(false);
      expect(cg.processes()).toEqual([pid]);
      expect(cg.children()).toEqual([`${top.path}/child`]);
    }
    expect(existsSync(`${top.path}/child`)).toBe(true);
    expect(cgroupOf(pid)).toBe(relative(top));
  });

  test("create() of an existing cgroup opens it, not owned: dispose removes nothing", () => {
    const top = testCgroup("exists");
    mkdirSync(`${top.path}/child`);
    const pid = sleeperIn(top);
    {
      using cg = Cgroup.create(top.path);
      expect(cg.owned).toBe(false);
      expect(cg.id).toBe(top.id);
    }
    expect(existsSync(`${top.path}/child`)).toBe(true);
    expect(cgroupOf(pid)).toBe(relative(top));
    {
      using empty = Cgroup.create(`${top.path}/child`); // even an empty one
      expect(empty.owned).toBe(false);
    }
    expect(existsSync(`${top.path}/child`)).toBe(true);
  });

  test("an owned cgroup is removed on dispose when empty, with the parents create() made", () => {
    const top = testCgroup("owned");
    {
      using cg = Cgroup.create(`${top.path}/a/b/c`);
      expect(cg.owned).toBe(true);
      expect(cg.id).toBe(cgroupId(`${top.path}/a/b/c`));
    }
    expect(existsSync(`${top.path}/a`)).toBe(false);
    expect(existsSync(top.path)).toBe(true); // existed before: not create()'s to remove
  });

  test("a made parent that now holds another cgroup is left in place, silently", () => {
    const top = testCgroup("parents");
    {
      using cg = Cgroup.create(`${top.path}/a/b`);
      mkdirSync(`${top.path}/a/other`);
      expect(cg.owned).toBe(true);
    }
    expect(existsSync(`${top.path}/a/b`)).toBe(false);
    expect(existsSync(`${top.path}/a/other`)).toBe(true);
  });

  test("an owned cgroup with a process is left in place: dispose throws EBUSY; evict is explicit", () => {
    const top = testCgroup("busy");
    const cg = Cgroup.create(`${top.path}/w`);
    const pid = sleeperIn(cg);
    const e = caught(() => cg[Symbol.dispose]());
    expect([e.errno, e.code, e.kind, e.op]).toEqual([16, "EBUSY", "kernel", "cgroup"]);
    expect(e.message).toContain(`pid ${pid}`);
    expect(e.hint).toContain("remove({ evict: true })");
    expect(cg.removed).toBe(false);
    expect(cgroupOf(pid)).toBe(relative(cg));

    cg.remove({ evict: true });
    expect(cg.removed).toBe(true);
    expect(existsSync(cg.path)).toBe(false);
    expect(cgroupOf(pid)).toBe(relative(top)); // moved to the parent, still running
    cg[Symbol.dispose](); // idempotent
  });

  test("child cgroups need recursive: true, which removes them whoever made them", () => {
    const top = testCgroup("tree");
    const cg = Cgroup.create(`${top.path}/p`);
    mkdirSync(`${cg.path}/theirs/deeper`, { recursive: true });
    const pid = sleeperIn(Cgroup.open(`${cg.path}/theirs/deeper`));
    const e = caught(() => cg.remove());
    expect([e.code, e.hint?.includes("recursive: true")]).toEqual(["EBUSY", true]);
    // recursive alone does not move processes
    expect(caught(() => cg.remove({ recursive: true })).hint).toContain("evict: true");
    expect(existsSync(`${cg.path}/theirs/deeper`)).toBe(true);
    cg.remove({ recursive: true, evict: true });
    expect(existsSync(cg.path)).toBe(false);
    expect(cgroupOf(pid)).toBe(relative(top)); // moved up level by level, still running
  });

  test("remove() and dispose never remove a new cgroup made under the same path", () => {
    const top = testCgroup("again");
    const cg = Cgroup.create(`${top.path}/x`);
    expect(cg.owned).toBe(true);
    removeCgroupTree(cg.path); // someone else removes it…
    mkdirSync(cg.path); // …and makes another under the same name
    const newId = cgroupId(cg.path);
    expect(newId).not.toBe(cg.id);
    cg[Symbol.dispose]();
    cg.remove();
    expect(cg.removed).toBe(true); // this handle's cgroup is gone
    expect(cgroupId(cg.path)).toBe(newId);
  });

  test("errors say what the path is: not-found with ENOENT, rule for a non-cgroup, root refused", () => {
    const missing = caught(() => Cgroup.open("cgstore-test-does-not-exist"));
    expect([missing.kind, missing.errno, missing.code]).toEqual(["not-found", 2, "ENOENT"]);
    const underFile = caught(() => cgroupId(`${cgroupRoot()}/cgroup.procs/x`));
    expect([underFile.kind, underFile.code]).toEqual(["not-found", "ENOTDIR"]);
    const notCgroup = caught(() => cgroupId("/tmp"));
    expect(notCgroup).toBeInstanceOf(BpfRuleError);
    expect([notCgroup.kind, notCgroup.errno]).toEqual(["rule", undefined]);
    expect(caught(() => Cgroup.create("/tmp/cgstore-test-not-under-cgroup2")).kind).toBe("rule");
    expect(existsSync("/tmp/cgstore-test-not-under-cgroup2")).toBe(false);
    const root = caught(() => removeCgroupTree(cgroupRoot()));
    expect(root).toBeInstanceOf(BpfRuleError);
  });

  // Needs setpriv and a checkout nobody can read (a clone under /root, mode 0700, is not).
  test.skipIf(!nobodyCanRun)(`a cgroup this user may not create in is a permission error with EACCES${nobodyCanRun ? "" : " [skipped: setpriv missing, or uid 65534 cannot read this checkout]"}`, () => {
    const top = testCgroup("perm");
    // Deno keeps its cache under $HOME; the unprivileged user gets a fresh one of its own.
    const denoDir = mkdtempSync("/tmp/cgstore-test-deno-");
    try {
      const argv = scriptArgv(resolve(import.meta.dirname!, "../fixtures/cgroup-as-nobody.ts"), [`${top.path}/denied`]);
      const r = spawnSync("setpriv", ["--reuid=65534", "--regid=65534", "--clear-groups", ...argv], {
        encoding: "utf8", env: isDeno ? { ...process.env, DENO_DIR: denoDir } : process.env, timeout: 60_000,
      });
      expect(r.stderr).toBe("");
      expect(JSON.parse(r.stdout)).toEqual({ name: "BpfError", kind: "permission", code: "EACCES" });
      expect(existsSync(`${top.path}/denied`)).toBe(false);
    } finally {
      rmSync(denoDir, { recursive: true, force: true });
    }
  });
});

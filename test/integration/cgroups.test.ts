/** cgroup trees whose names are not UTF-8: resolved by id and removed, under every runtime. */
import { spawnSync } from "node:child_process";
import { describe, expect, test } from "../helpers/harness.ts";
import { removeCgroupTree, resolveCgroupPath } from "../../src/index.ts";
import { bpf } from "../helpers/env.ts";
import { testCgroup } from "../helpers/fixture.ts";

/** Runs a shell snippet with $1 = dir: the shell makes the bytes no string path can carry. */
const sh = (script: string, dir: string) => spawnSync("sh", ["-c", script, "sh", dir], { encoding: "utf8" });

describe.skipIf(!bpf.ok)("cgroup names are bytes", () => {
  test("a cgroup below a name with a 0xff byte resolves with \\xNN, and the tree is removed", () => {
    const top = testCgroup("bytes");
    const made = sh('d="$(printf "%s/bad\\377name" "$1")"; mkdir "$d" "$d/child" && stat -c %i "$d/child"', top.path);
    expect(made.status).toBe(0);
    const id = Number(made.stdout.trim());
    expect(resolveCgroupPath(id, { fresh: true })).toBe(`${top.path}/bad\\xffname/child`);
    removeCgroupTree(top.path);
    expect(sh('test -e "$1"', top.path).status).toBe(1);
    expect(resolveCgroupPath(id, { fresh: true })).toBeNull();
  });

  test("a path with a NUL byte is refused, not cut short (which would remove its prefix)", () => {
    const cg = testCgroup("nul");
    expect(() => removeCgroupTree(`${cg.path}\0/other`)).toThrow(/contains a NUL byte/);
    expect(sh('test -d "$1"', cg.path).status).toBe(0);
  });
});

/**
 * `serve`/`top --cgroup` under cgroup churn: the link of a removed cgroup is closed by the next
 * refresh, so fds and kernel links end where they started (the leak the exporter had: +10 fds a
 * second at 20 cgroups created and removed a second).
 */
import { readdirSync, readlinkSync } from "node:fs";
import { afterEach, describe, expect, test } from "../helpers/harness.ts";
import { Cgroup } from "../../src/index.ts";
import { Source } from "../../src/cli/source.ts";
import { bpf } from "../helpers/env.ts";
import { cleanup, testCgroup } from "../helpers/fixture.ts";

/** Open bpf_link fds of this process. */
function linkFds(): number {
  let n = 0;
  for (const fd of readdirSync("/proc/self/fd")) {
    try {
      if (readlinkSync(`/proc/self/fd/${fd}`) === "anon_inode:bpf_link") n++;
    } catch {
      // closed while we looked
    }
  }
  return n;
}

describe.skipIf(!bpf.ok)("Source --cgroup under churn", () => {
  afterEach(cleanup);

  test("a removed cgroup's links are closed by the next refresh; new cgroups are attached", async () => {
    const top = testCgroup("churn");
    const kids = ["a", "b", "c"].map((n) => Cgroup.create(`${top.path}/${n}`));
    const before = linkFds();
    const source = await Source.open({ cgroup: top.path });
    try {
      expect(source.cgroups).toBe(4); // the subtree's root and its three children
      expect(linkFds() - before).toBe(8); // ingress and egress each
      for (let round = 0; round < 5; round++) {
        kids[round % 3]!.remove();
        source.refresh();
        expect(source.cgroups).toBe(3);
        expect(linkFds() - before).toBe(6);
        kids[round % 3] = Cgroup.create(`${top.path}/${"abc"[round % 3]}`);
        source.refresh();
        expect(source.cgroups).toBe(4);
        expect(linkFds() - before).toBe(8);
      }
    } finally {
      await source.close();
      for (const k of kids) k.remove();
    }
    expect(linkFds()).toBe(before);
  });
});

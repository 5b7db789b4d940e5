/**
 * Pinned links keep an attachment running after its loader exits; reopening, unpinning and
 * detaching them; pinned programs; the three attach modes as the kernel defines them.
 */
import { spawnSync, type ChildProcess } from "node:child_process";
import { existsSync, mkdirSync } from "node:fs";
import { resolve } from "node:path";
import { afterEach, describe, expect, test } from "../helpers/harness.ts";
import {
  AttachType, BpfError, BpfObject, BpfRuleError, CgroupAttachment, PerCpuCgroupStorageMap, openLink,
} from "../../src/index.ts";
import { bpf, native, scriptArgv } from "../helpers/env.ts";
import { cleanup, closeLater, sendUdp, testCgroup, testPinPath, track } from "../helpers/fixture.ts";
import { attachedTo, hasBpftool } from "../helpers/bpftool.ts";
import { bpftoolCgroupShowUnusable, titled } from "../helpers/kernel.ts";

// Tests that list a cgroup's programs through bpftool skip where it cannot (kernels before 6.0).
const noShow = bpf.ok && hasBpftool ? bpftoolCgroupShowUnusable() : null;
const listed = (name: string) => titled(name, noShow);
import { startServe } from "../helpers/serve.ts";
import { thrown } from "../helpers/caught.ts";

const EGRESS = AttachType.CGROUP_INET_EGRESS;
const counter = () => closeLater(BpfObject.open(native("counter.bpf.o")).load());

describe.skipIf(!bpf.ok || !hasBpftool)("pinned links", () => {
  const running: ChildProcess[] = [];
  afterEach(() => {
    for (const p of running.splice(0)) p.kill("SIGKILL");
    cleanup();
  });

  test.skipIf(noShow !== null)(listed("an attachment survives its loader through a pinned link; serve --map exports it; unpinning removes it"), async () => {
    const cg = testCgroup("survive");
    const mapPin = testPinPath("map"), linkPin = testPinPath("link");
    const [cmd, ...argv] = scriptArgv(resolve(import.meta.dirname, "../fixtures/pin-loader.ts"), [cg.path, mapPin, linkPin]);
    const r = spawnSync(cmd!, argv, { encoding: "utf8", timeout: 60_000 });
    expect([r.status, r.stderr]).toEqual([0, ""]);
    const linkId = Number(/link (\d+)/.exec(r.stdout)![1]);

    // The loader is gone; its link is not.
    expect(attachedTo(cg.path).map((p) => p.name)).toEqual(["count_egress"]);
    sendUdp(cg, 7, 50);
    const map = closeLater(PerCpuCgroupStorageMap.open(mapPin));
    const packets = map.field("packets");
    expect(packets.total(map.lookup({ cgroupId: cg.id, attachType: EGRESS })!)).toBe(7);

    const { proc, url } = await startServe(["--map", mapPin]);
    running.push(proc);
    const body = await (await fetch(`${url}/metrics`)).text();
    const rel = cg.path.slice(cg.path.indexOf("/cgstore-test-"));
    expect(body).toMatch(new RegExp(`packets_total\\{[^}]*cgroup="${rel}"[^}]*\\} 7\\b`));

    const link = openLink(linkPin);
    expect(link.info()).toEqual({ id: linkId, programId: attachedTo(cg.path)[0]!.id, cgroupId: cg.id, attachType: EGRESS });
    expect([link.method, link.mode, link.cgroupPath, link.pinnedAt, link.attached]).toEqual(["link", "multi", cg.path, linkPin, true]);
    expect(link.unpin()).toBe(true);
    expect(existsSync(linkPin)).toBe(false);
    expect(link.attached).toBe(true); // this handle's fd still holds it
    link.close();
    expect(attachedTo(cg.path)).toEqual([]);
    sendUdp(cg, 5, 50);
    expect(packets.total(map.lookup({ cgroupId: cg.id, attachType: EGRESS })!)).toBe(7); // not counted any more
  }, 30_000);

  test.skipIf(noShow !== null)(listed("detach() detaches a link for every holder, pins included; close() leaves a pinned link attached"), () => {
    const cg = testCgroup("detach");
    const obj = counter();
    const first = testPinPath("a"), second = testPinPath("b");
    const link = obj.program("count_egress").attachCgroup(cg);
    link.pin(first);
    link.pin(second);
    expect(link.pinnedAt).toBe(second);
    link.close(); // the pins hold it
    expect(attachedTo(cg.path)).toHaveLength(1);

    const other = CgroupAttachment.open(second);
    const reopened = openLink(first);
    reopened.detach(); // while two pins and another handle hold it
    expect(attachedTo(cg.path)).toEqual([]);
    expect(other.attached).toBe(false);
    expect(other.info().cgroupId).toBe(0);
    expect(existsSync(first) && existsSync(second)).toBe(true); // detach removes no pin
    expect(reopened.unpin()).toBe(true); // works on a detached, closed handle
    other.close();
  });

  test("pin errors: a taken path is EEXIST (kind rule); a pin of another kind is refused; unpin leaves a replaced pin", () => {
    const cg = testCgroup("errors");
    const obj = counter();
    const link = track(obj.program("count_egress").attachCgroup(cg));
    const pin = testPinPath("taken");
    link.pin(pin);
    const taken = thrown(() => link.pin(pin)) as BpfError;
    expect([taken.kind, taken.code, taken.errno]).toEqual(["rule", "EEXIST", 17]);
    const mapPin = testPinPath("map");
    closeLater(obj.map("pcpu_stats")).pin(mapPin);
    const notLink = thrown(() => openLink(mapPin)) as BpfError;
    expect([notLink.kind, notLink.message]).toEqual(["rule", expect.stringMatching(/holds a map, not a link/)]);
    expect((thrown(() => openLink("/sys/fs/bpf/cgstore-test-nothing")) as BpfError).kind).toBe("not-found");

    // Someone replaced the pin with another link: unpin() of the old handle leaves it.
    const reopened = openLink(pin);
    spawnSync("rm", [pin]);
    const newer = track(obj.program("count_ingress").attachCgroup(cg));
    newer.pin(pin);
    expect(thrown(() => reopened.unpin()).message).toMatch(/now holds another link .*left in place/);
    expect(existsSync(pin)).toBe(true);
    reopened.close();
    const legacy = track(obj.program("count_egress").attachCgroup(testCgroup("legacy"), { method: "prog_attach" }));
    expect(thrown(() => legacy.pin(testPinPath("legacy")))).toBeInstanceOf(BpfRuleError);
  });

  test("a pinned program stays loaded after its object is closed", () => {
    const pin = testPinPath("prog");
    const obj = BpfObject.open(native("counter.bpf.o")).load();
    obj.program("count_egress").pin(pin);
    obj.close();
    const shown = JSON.parse(spawnSync("bpftool", ["-j", "prog", "show", "pinned", pin], { encoding: "utf8" }).stdout);
    expect(shown.name).toBe("count_egress");
  });
});

describe.skipIf(!bpf.ok || !hasBpftool)("attach modes", () => {
  afterEach(cleanup);

  test.skipIf(noShow !== null)(listed("exclusive: a second attach in another mode, or below it, is refused naming what is there"), () => {
    const top = testCgroup("exclusive");
    const child = `${top.path}/child`;
    mkdirSync(child);
    const obj = counter();
    const prog = obj.program("count_egress");
    const ex = track(prog.attachCgroup(top, { mode: "exclusive" }));
    expect([ex.method, ex.mode]).toEqual(["prog_attach", "exclusive"]);
    expect(attachedTo(top.path)).toEqual([expect.objectContaining({ name: "count_egress", attach_flags: "" })]);

    for (const options of [{}, { method: "prog_attach" as const }, { mode: "override" as const }]) {
      const e = thrown(() => track(obj.program("count_ingress").attachCgroup(top, { ...options, attachType: EGRESS }))) as BpfError;
      expect([e.kind, e.code]).toEqual(["rule", "EPERM"]);
      expect(e.message).toMatch(/already has 1 exclusive program\(s\) at CGROUP_INET_EGRESS .*one mode per cgroup/);
    }
    const below = thrown(() => track(prog.attachCgroup(child))) as BpfError;
    expect([below.kind, below.code]).toEqual(["rule", "EPERM"]);
    expect(below.message).toMatch(/ancestor cgroup .*exclusive program at CGROUP_INET_EGRESS.*nothing more to attach in its subtree/);

    const linkExclusive = thrown(() => prog.attachCgroup(top, { mode: "exclusive", method: "link" })) as BpfError;
    expect([linkExclusive.kind, linkExclusive.errno]).toEqual(["rule", undefined]);
    expect(linkExclusive.message).toMatch(/cannot be a link: the kernel attaches every cgroup link as multi/);
    expect(attachedTo(top.path)).toHaveLength(1);
  });

  test.skipIf(noShow !== null)(listed("exclusive or override again at the same cgroup replaces the program; the replaced handle's detach leaves the new one"), () => {
    for (const mode of ["exclusive", "override"] as const) {
      const cg = testCgroup(`replace-${mode}`);
      const a = track(counter().program("count_egress").attachCgroup(cg, { mode }));
      const b = track(counter().program("count_egress").attachCgroup(cg, { mode }));
      expect(attachedTo(cg.path).map((p) => p.id)).toEqual([b.programId]);
      expect([a.attached, b.attached]).toEqual([false, true]);
      a.detach();
      expect(attachedTo(cg.path).map((p) => p.id)).toEqual([b.programId]);
      b.detach();
      expect(attachedTo(cg.path)).toEqual([]);
    }
  });

  test("override yields to a sub-cgroup's program; multi runs with it", () => {
    for (const mode of ["override", "multi"] as const) {
      const top = testCgroup(mode);
      const child = `${top.path}/child`;
      mkdirSync(child);
      const parent = track(counter().program("count_egress").attachCgroup(top, { mode }));
      const own = track(counter().program("count_egress").attachCgroup(child));
      const effective = attachedTo(child, true).map((p) => p.id).sort();
      expect(effective).toEqual((mode === "override" ? [own.programId] : [parent.programId, own.programId]).sort());
    }
  });
});

/** `cgstore serve`: /metrics checked by Prometheus's own promtool, hostile names, SIGKILL. */
import { setTimeout as sleep } from "node:timers/promises";
import { afterEach, describe, expect, test } from "../helpers/harness.ts";
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { mkdirSync } from "node:fs";
import { cgroupRoot } from "../../src/index.ts";
import { escapeLabel } from "../../src/collector/exposition.ts";
import { bpf } from "../helpers/env.ts";
import { startServe } from "../helpers/serve.ts";
import { cleanup, sendUdp, testCgroup, UDP_IPV4_OVERHEAD } from "../helpers/fixture.ts";
import { bpftoolCgroupShowUnusable, titled } from "../helpers/kernel.ts";

const PROMTOOL = ["promtool", "/usr/bin/promtool"].find((p) => spawnSync(p, ["--version"]).status === 0);
const BPFTOOL = ["bpftool", "/usr/sbin/bpftool"].find((b) => spawnSync(b, ["version"]).status === 0);
if (bpf.ok && process.env.CI === "true" && (!PROMTOOL || !BPFTOOL)) {
  throw new Error("promtool and bpftool are needed under CI=true: scripts/setup.sh installs them");
}

function udp(dir: Buffer | string, count: number, size: number) {
  sendUdp(String(dir), count, size);
}

describe.skipIf(!bpf.ok)("cgstore serve", () => {
  const running: ChildProcess[] = [];
  afterEach(() => {
    for (const p of running.splice(0)) p.kill("SIGKILL");
    cleanup();
  });

  test("--cgroup: every cgroup in the subtree, hostile names escaped, promtool-clean, exact values", async () => {
    const top = testCgroup("serve");
    const names = ["plain", 'we"ird\\name', "sp ace", "ünï"];
    for (const n of names) mkdirSync(`${top.path}/${n}`);
    const { proc, url } = await startServe(["--cgroup", top.path, "--refresh", "0.2"]);
    running.push(proc);
    names.forEach((n, i) => udp(`${top.path}/${n}`, 3 + i, 50));

    const res = await fetch(`${url}/metrics`);
    expect(res.headers.get("content-type")).toBe("text/plain; version=0.0.4; charset=utf-8");
    const body = await res.text();
    if (PROMTOOL) {
      const check = spawnSync(PROMTOOL, ["check", "metrics"], { input: body, encoding: "utf8" });
      expect(check.stdout + check.stderr).toBe("");
      expect(check.status).toBe(0);
    }
    const rel = top.path.slice(cgroupRoot().length);
    names.forEach((n, i) => {
      for (const at of ["CGROUP_INET_EGRESS", "CGROUP_INET_INGRESS"]) {
        const line = body.split("\n").find((l) => l.startsWith("cgstore_packets_total{") &&
          l.includes(`cgroup="${escapeLabel(`${rel}/${n}`)}"`) && l.includes(`attach_type="${at}"`));
        expect(line).toBeDefined();
        expect(line!.split(" ").at(-1)).toBe(String(3 + i));
        const bytes = body.split("\n").find((l) => l.startsWith("cgstore_bytes_total{") && l.includes(`cgroup="${escapeLabel(`${rel}/${n}`)}"`) && l.includes(at));
        expect(bytes!.split(" ").at(-1)).toBe(String((3 + i) * (50 + UDP_IPV4_OVERHEAD)));
      }
    });
    // 4 leaves × 2 hooks: the subtree's root holds no processes, so it is not attached (its
    // entry would count its children's packets a second time).
    expect(body).toMatch(/^cgstore_collector_keys 8$/m);

    const om = await (await fetch(`${url}/metrics`, { headers: { accept: "application/openmetrics-text; version=1.0.0" } })).text();
    expect(om.endsWith("# EOF\n")).toBe(true);
    expect(om).toContain("# TYPE cgstore_packets counter");
    expect(om).toMatch(/^cgstore_packets_total\{/m);

    // A cgroup created later is attached and exported after a refresh.
    mkdirSync(`${top.path}/late`);
    await sleep(300);
    await fetch(`${url}/metrics`); // this scrape refreshes (attaches), the traffic comes after
    udp(`${top.path}/late`, 2, 10);
    const later = await (await fetch(`${url}/metrics`)).text();
    expect(later).toMatch(new RegExp(`cgstore_packets_total\\{[^}]*cgroup="${rel}/late"[^}]*EGRESS"\\} 2`));
  }, 20_000);

  test("a cgroup name that is not UTF-8 is labelled with \\xNN escapes, promtool-clean", async () => {
    const top = testCgroup("serve-bytes");
    // The shell makes the 0xff byte itself: string paths (Deno's file APIs, argv) cannot carry it.
    const mk = spawnSync("sh", ["-c", 'mkdir "$(printf "%s/bad\\377byte" "$1")"', "sh", top.path]);
    expect(mk.status).toBe(0);
    const { proc, url } = await startServe(["--cgroup", top.path]);
    running.push(proc);
    const body = await (await fetch(`${url}/metrics`)).text();
    if (PROMTOOL) {
      const check = spawnSync(PROMTOOL, ["check", "metrics"], { input: body, encoding: "utf8" });
      expect(check.stdout + check.stderr).toBe("");
    }
    expect(body).toContain(`cgroup="${top.path.slice(cgroupRoot().length)}/bad\\\\xffbyte"`);
    expect(body).toMatch(/^cgstore_collector_keys 2$/m); // the leaf × 2 hooks
  }, 20_000);

  const noShow = !BPFTOOL ? "no bpftool" : bpf.ok ? bpftoolCgroupShowUnusable() : null;
  test.skipIf(noShow !== null)(titled("SIGKILL leaves no program attached (links die with the process)", noShow), async () => {
    const top = testCgroup("serve-kill");
    mkdirSync(`${top.path}/child`);
    const attachedCount = (dir: string) =>
      (JSON.parse(spawnSync(BPFTOOL!, ["-j", "cgroup", "show", dir], { encoding: "utf8" }).stdout.trim() || "[]") as unknown[]).length;
    const { proc } = await startServe(["--cgroup", top.path]);
    expect(attachedCount(top.path)).toBe(0); // no processes of its own: not attached
    expect(attachedCount(`${top.path}/child`)).toBe(2);
    proc.kill("SIGKILL");
    await new Promise((ok) => proc.once("exit", ok));
    await sleep(100);
    expect(attachedCount(top.path)).toBe(0);
    expect(attachedCount(`${top.path}/child`)).toBe(0);
  }, 20_000);
});

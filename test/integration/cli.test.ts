/** The `cgstore` command run as a subprocess against real maps. */
import { setTimeout as sleep } from "node:timers/promises";
import { afterEach, describe, expect, test } from "../helpers/harness.ts";
import { needsKernel } from "../helpers/kernel.ts";
import { spawn, spawnSync } from "node:child_process";
import { existsSync, readdirSync } from "node:fs";
import { resolve } from "node:path";
import {
  AttachType, BpfObject, CgroupStorageMap, MapType, PerCpuCgroupStorageMap, cgroupRoot, resolveCgroupPath,
} from "../../src/index.ts";
import { libbpf } from "../../src/ffi/index.ts";
import { toJson } from "../../src/cli/format.ts";
import { bpf, native, scriptArgv, spawnCli } from "../helpers/env.ts";
import { cli, DEMO_OK_ROWS, hasSetpriv, nobodyCanRun, STACK_FRAME } from "../helpers/cli.ts";
import { cleanup, closeLater, sendUdp, testCgroup, testPinPath, track, waitFor } from "../helpers/fixture.ts";


const demoDirs = () => readdirSync(cgroupRoot()).filter((n) => n.startsWith("cgstore-demo-"));

describe("cgstore command line (no kernel needed)", () => {
  test("help for every command; --help documents the exit codes by error kind", () => {
    for (const args of [["--help"], ["dump", "--help"], ["demo", "--help"], ["serve", "--help"], ["top", "--help"]]) {
      const r = cli(args);
      expect(r.code).toBe(0);
      expect(r.out).toMatch(/Usage/);
    }
    const help = cli(["--help"]).out;
    expect(help).toMatch(/Exit codes: 0 ok; 1 [\s\S]*; 2 bad command\sline[\s\S]*; 3 [\s\S]*; 4 /);
    expect(help).toMatch(/3 [\s\S]*"environment"[\s\S]*"permission"/);
  });

  test("usage errors exit 2 with the command's help: our checks and parseArgs' own", () => {
    expect(cli([]).code).toBe(2);
    const unknown = cli(["frobnicate"]);
    expect([unknown.code, unknown.err]).toEqual([2, expect.stringMatching(/unknown command "frobnicate"[\s\S]*Usage:\n  cgstore dump/)]);
    for (const args of [["dump"], ["dump", "/a", "--id", "3"], ["dump", "--watch", "-1", "/a"], ["top", "--cgroup", "x", "-n", "0"]]) {
      const r = cli(args);
      expect([args, r.code]).toEqual([args, 2]);
      expect(r.err).toMatch(/\n\nUsage: cgstore (dump|top)/);
    }
    // parseArgs refusals (TypeErrors with an ERR_PARSE_ARGS_* code): exit 2, with the help.
    for (const [args, why] of [
      [["dump", "--bogus", "/a"], /Unknown option '--bogus'/],
      [["dump", "--id"], /'--id <value>' argument missing/],
      [["serve", "--cgroup", "x", "extra"], /Unexpected argument 'extra'/],
    ] as const) {
      const r = cli([...args]);
      expect([args, r.code]).toEqual([args, 2]);
      expect(r.err).toMatch(why);
      expect(r.err).toMatch(/\n\nUsage: cgstore (dump|serve)/);
      expect(r.err).not.toMatch(STACK_FRAME);
    }
  });

  test("no libbpf (LIBBPF_PATH=/nonexistent): kind environment, exit 3, one line naming it", () => {
    const r = cli(["dump", "/sys/fs/bpf/cgstore-test-none"], { env: { ...process.env, LIBBPF_PATH: "/nonexistent" } });
    expect(r.code).toBe(3);
    expect(r.err).toMatch(/^cgstore: open: cannot load \/nonexistent .*install libbpf 1\.x.*LIBBPF_PATH/i);
    expect(r.err.trimEnd().split("\n")).toHaveLength(1);
  });
});

describe.skipIf(!bpf.ok)("cgstore dump", () => {
  afterEach(cleanup);

  function fixture() {
    const obj = closeLater(BpfObject.open(native("types.bpf.o")).load());
    const shared = closeLater(CgroupStorageMap.from(obj.map("rich_shared")));
    const pcpu = closeLater(PerCpuCgroupStorageMap.from(obj.map("rich_pcpu")));
    const cg = testCgroup("dump");
    track(obj.program("fill_rich").attachCgroup(cg));
    sendUdp(cg, 0, 0);
    const sharedPin = testPinPath("shared"), pcpuPin = testPinPath("pcpu");
    shared.pin(sharedPin);
    pcpu.pin(pcpuPin);
    return { obj, shared, pcpu, cg, sharedPin, pcpuPin };
  }

  test("--json equals the library's own decoding (bigints as strings)", () => {
    const { shared, pcpu, cg, sharedPin, pcpuPin } = fixture();
    const s = cli(["dump", sharedPin, "--json"]);
    expect(s.code).toBe(0);
    const sj = JSON.parse(s.out);
    expect(sj.map).toMatchObject({ name: "rich_shared", type: "cgroup_storage", key_size: 16 });
    const mine = sj.entries.find((e: { cgroup_id: number }) => e.cgroup_id === cg.id);
    expect(mine.cgroup).toBe(cg.path.slice(cgroupRoot().length));
    expect(mine.attach_type).toBe("CGROUP_INET_SOCK_CREATE");
    expect(mine.value).toEqual(JSON.parse(toJson(shared.decode(shared.lookup({ cgroupId: cg.id, attachType: AttachType.CGROUP_INET_SOCK_CREATE })!))));

    const p = JSON.parse(cli(["dump", pcpuPin, "--json", "--per-cpu"]).out);
    const row = p.entries.find((e: { cgroup_id: number }) => e.cgroup_id === cg.id);
    const lib = pcpu.decode(pcpu.lookup(cg.id)!);
    expect(row.attach_type).toBeNull();
    expect(row.total).toEqual(JSON.parse(toJson(lib.total)));
    expect(row.cpus).toEqual(JSON.parse(toJson(lib.cpus)));
    expect(row.total.n).toBe("2");
  });

  test("text table, --per-cpu rows, and --id", () => {
    const { pcpu, cg, pcpuPin } = fixture();
    const t = cli(["dump", pcpuPin, "--per-cpu"]);
    expect(t.code).toBe(0);
    expect(t.out).toMatch(/^CGROUP\s+ATTACH\s+U8V\s+S8V/);
    expect(t.out).toContain(cg.path.slice(cgroupRoot().length));
    expect(t.out).toMatch(/\n  cpu0 /);
    const byId = cli(["dump", "--id", String(pcpu.info.id), "--json"]);
    expect(JSON.parse(byId.out).map.id).toBe(pcpu.info.id);
  });

  test("a removed cgroup whose entry lives on shows as (removed)", async () => {
    const cg = testCgroup("gone");
    const obj = closeLater(BpfObject.open(native("types.bpf.o")).load());
    const m = closeLater(obj.map("rich_shared"));
    track(obj.program("fill_rich").attachCgroup(cg));
    const pin = testPinPath("gone");
    m.pin(pin);
    // A socket made inside the cgroup keeps the cgroup's BPF state (and so the entry) alive
    // after the cgroup's directory is removed.
    const [holderCmd, ...holderArgs] = scriptArgv(resolve(import.meta.dirname, "../fixtures/socket-holder.ts"),
      [cg.path + "/cgroup.procs", cgroupRoot() + "/cgroup.procs"]);
    const holder = spawn(holderCmd!, holderArgs, { stdio: ["ignore", "pipe", "inherit"] });
    try {
      await new Promise<void>((ok) => holder.stdout!.once("data", () => ok()));
      const id = cg.id;
      cg.remove();
      expect(resolveCgroupPath(id, { fresh: true })).toBeNull();
      const out = JSON.parse(cli(["dump", pin, "--json"]).out);
      const row = out.entries.find((e: { cgroup_id: number }) => e.cgroup_id === id);
      expect(row).toBeDefined();
      expect(row.cgroup).toBeNull();
      expect(cli(["dump", pin]).out).toContain(`(removed) id ${id}`);
    } finally {
      holder.kill();
    }
  });

  test("--watch --json: a sample per interval, with per-second rates once traffic flows", async () => {
    const obj = closeLater(BpfObject.open(native("counter.bpf.o")).load());
    const cg = testCgroup("watch");
    track(obj.program("count_egress").attachCgroup(cg));
    const pin = testPinPath("watch");
    closeLater(obj.map("pcpu_stats")).pin(pin);
    const child = spawnCli(["dump", pin, "--json", "--watch", "0.2"], { stdio: ["ignore", "pipe", "inherit"] });
    let out = "";
    child.stdout!.on("data", (d: Buffer) => (out += d));
    // Wait for samples rather than fixed times: the first sample means the command is up and
    // its SIGINT handler is in place (Deno's first start compiles the CLI; an emulated guest in
    // test/kernels is slow), and traffic sent before it would show no rate.
    const lines = () => out.split("\n").length - 1;
    const until = async (ok: () => boolean) => { for (let i = 0; i < 300 && !ok(); i++) await sleep(50); };
    await until(() => lines() >= 1);
    sendUdp(cg, 100, 10);
    // Samples taken while sendUdp blocked this process may still be in the pipe (a loaded or
    // emulated machine takes many): wait for one that shows all the traffic, then one more.
    const key = `${cg.id}/CGROUP_INET_EGRESS`;
    const complete = (l: string) => l.includes(`"cgroup_id":${cg.id},`) && l.includes('"packets":"100"');
    await until(() => out.split("\n").some(complete));
    const seen = out.split("\n").findIndex(complete);
    await until(() => lines() >= seen + 2);
    // process.kill, not child.kill: Deno's node:child_process reports a child it has signalled
    // as killed by that signal even when the child handles it and exits 0.
    process.kill(child.pid!, "SIGINT");
    expect(await new Promise((ok) => child.once("exit", ok))).toBe(0);
    const samples = out.trim().split("\n").map((l) => JSON.parse(l));
    expect(samples.length).toBeGreaterThanOrEqual(3);
    const last = samples.at(-1)!;
    expect(last.entries.find((e: { cgroup_id: number }) => e.cgroup_id === cg.id).total.packets).toBe("100");
    expect(samples.some((s) => (s.rates[key]?.packets ?? 0) > 0)).toBe(true);
  }, 30_000);

  test("cgstore errors of other kinds: exit 1 with the message (kind named by it), no stack", () => {
    const missing = cli(["dump", "/sys/fs/bpf/cgstore-test-not-there"]);
    expect([missing.code, missing.err]).toEqual([1, expect.stringMatching(/^cgstore: open: .*ENOENT .*nothing is pinned/)]);
    expect(missing.err).not.toMatch(STACK_FRAME);
    const fd = libbpf.mapCreate(MapType.ARRAY, null, 4, 8, 1, null);
    const pin = testPinPath("array");
    try {
      expect(libbpf.objPin(fd, pin)).toBe(0);
    } finally {
      libbpf.close(fd);
    }
    const array = cli(["dump", pin]);
    expect([array.code, array.err]).toEqual([1, expect.stringMatching(/is a array map .*not cgroup storage/)]);
    expect(array.err).not.toMatch(STACK_FRAME);
    expect(array.err.trimEnd().split("\n")).toHaveLength(1);
  });

  test("a path not on a bpf filesystem is no pin (kind not-found, not permission): exit 1", () => {
    // bpf_obj_get answers EACCES here; openMap knows the path is not on bpffs and says so.
    const notBpffs = cli(["dump", "/etc/hostname"]);
    expect([notBpffs.code, notBpffs.err]).toEqual([1, expect.stringMatching(/not on a bpf filesystem/)]);
  });

  test.skipIf(!hasSetpriv)("without capabilities (root without any): reads its own pin, BTF as raw words and one line saying why", () => {
    const { sharedPin } = fixture();
    const r = cli(["dump", sharedPin], { as: "without-caps" });
    if (r.code === 3) { // before Linux 6.5 every bpf() command needs CAP_BPF
      expect(r.err).toMatch(/EPERM.*lacks CAP_BPF/);
    } else {
      expect(r.code).toBe(0);
      expect(r.err).toMatch(/^cgstore dump: map "rich_shared": its BTF cannot be read \(loading BTF by id needs CAP_SYS_ADMIN\); showing raw words/);
      expect(r.out).toMatch(/^CGROUP\s+ATTACH\s+WORD0\s+WORD1/);
    }
    expect(r.err).not.toMatch(STACK_FRAME);
  });

  test.skipIf(!nobodyCanRun)("as an unprivileged user (uid 65534), root's 0600 pin: kind permission, exit 3, one line", () => {
    const { sharedPin } = fixture();
    const r = cli(["dump", sharedPin], { as: "nobody" });
    expect(r.code).toBe(3);
    expect(r.err).toMatch(/^cgstore: open: bpf_obj_get\(.*, BPF_F_RDONLY\): E(PERM|ACCES) .*(file mode does not let this user open it for reading|lacks CAP_BPF)/);
    expect(r.err.trimEnd().split("\n")).toHaveLength(1);
  });
});

describe.skipIf(!bpf.ok)("cgstore top", () => {
  afterEach(cleanup);

  test("ranks cgroups by rate, busiest first, and stops after --iterations", async () => {
    const top = testCgroup("top");
    for (const n of ["idle", "busy"]) spawnSync("mkdir", [`${top.path}/${n}`]);
    // -n 5 of the 6 keys (top, idle and busy; egress and ingress): the cut is exercised and
    // idle, ranked last, still shows in every block.
    const child = spawnCli(["top", "--cgroup", top.path, "--interval", "0.25", "--iterations", "4", "-n", "5", "--sort", "packets"], { stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    child.stdout!.on("data", (d: Buffer) => (out += d));
    const exited = new Promise<number | null>((ok) => child.once("exit", ok));
    for (let i = 0; i < 6; i++) {
      await sleep(150);
      sendUdp(`${top.path}/busy`, 50, 10);
    }
    expect(await exited).toBe(0);
    const blocks = out.split(/^pcpu_stats: top /m).filter((b) => b.trim() !== "");
    expect(blocks.length).toBe(4);
    const rel = top.path.slice(cgroupRoot().length);
    // Rows as cells: CGROUP ATTACH PACKETS/S PACKETS BYTES/S BYTES (paths here have no spaces).
    const rows = blocks.map((b) => {
      expect(b.startsWith("5 of 6 by packets/s")).toBe(true);
      const [header, ...data] = b.trim().split("\n").slice(2).map((l) => l.trim().split(/\s{2,}/));
      expect(header).toEqual(["CGROUP", "ATTACH", "PACKETS/S", "PACKETS", "BYTES/S", "BYTES"]);
      expect(data).toHaveLength(5);
      return data;
    });
    const rate = (r: string[]) => (r[2] === "-" ? -1 : Number(r[2]));
    for (const data of rows) {
      for (const r of data) expect([rel, `${rel}/idle`, `${rel}/busy`]).toContain(r[0]!);
      // Busiest first.
      expect(data.map(rate)).toEqual(data.map(rate).sort((a, b) => b - a));
      // idle sent nothing: it is in every block (5 of 6 rows), counted 0 at 0/s.
      const idle = data.filter((r) => r[0] === `${rel}/idle`);
      expect(idle.length).toBeGreaterThan(0);
      for (const r of idle) expect([r[2], r[3]]).toEqual([expect.stringMatching(/^(0\.0|-)$/), "0"]);
    }
    expect(rows.some((data) => data[0]![0] === `${rel}/busy` && rate(data[0]!) > 0)).toBe(true);
  }, 20_000);
});

describe.skipIf(!bpf.ok)("cgstore demo", () => {
  test("prints agreeing counts for three cgroups and leaves nothing behind", () => {
    const before = demoDirs();
    const r = cli(["demo"]);
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/web\s+egress\s+200 × 64 B\s+200\s+18400/);
    expect(r.out).toMatch(/batch\s+ingress\s+1000 × 1400 B\s+1000\s+1428000/);
    expect(r.out).toContain("All counts agree.");
    // 6 rows of the legacy maps; 3 more (one per cgroup) where the kernel has CGRP_STORAGE.
    expect(r.out.match(/✓/g)?.length).toBe(DEMO_OK_ROWS);
    if (needsKernel("CGRP_STORAGE") === null) expect(r.out).toMatch(/batch\s+both\s+1000 × 1400 B\s+2000\s+2856000\s+2000\s+2856000\s+✓/);
    else expect(r.out).toContain("BPF_MAP_TYPE_CGRP_STORAGE: not on this kernel");
    expect(demoDirs()).toEqual(before);
  });

  for (const signal of ["SIGINT", "SIGKILL"] as const) {
    test(`killed mid-run with ${signal}: cgroups and attachments are gone`, async () => {
      const child = spawnCli(["demo"], {
        env: { ...process.env, CGSTORE_DEMO_PAUSE_MS: "5000" }, stdio: ["ignore", "ignore", "pipe"],
      });
      await new Promise<void>((ok) => child.stderr!.on("data", (d: Buffer) => d.toString().includes("pausing") && ok()));
      const dir = `${cgroupRoot()}/cgstore-demo-${child.pid}`;
      expect(existsSync(`${dir}/web`)).toBe(true);
      child.kill(signal);
      await new Promise((ok) => child.once("exit", ok));
      expect(waitFor(() => !existsSync(dir), 5000)).toBe(true);
    }, 20_000);
  }
});

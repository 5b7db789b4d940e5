/**
 * Read-only handles and reading without CAP_SYS_ADMIN: pins opened with BPF_F_RDONLY, writes
 * through them refused (kind "permission"), and a map's layout when its BTF cannot be read
 * (object file, schema, raw words), run as an unprivileged user holding only CAP_BPF.
 */
import { afterEach, describe, expect, test } from "../helpers/harness.ts";
import { spawnSync } from "node:child_process";
import { chmodSync } from "node:fs";
import { resolve } from "node:path";
import {
  AttachType, BpfObject, CgroupStorageMap, CgrpStorageMap, PerCpuCgroupStorageMap, layoutFromObjectFile, openMap, useFallbackLayout,
} from "../../src/index.ts";
import { libbpf } from "../../src/ffi/index.ts";
import { bpf, CLI, native, scriptArgv } from "../helpers/env.ts";
import { caught } from "../helpers/caught.ts";
import { kernelAtLeast, needsKernel, titled } from "../helpers/kernel.ts";
import { cleanup, closeLater, sendUdp, testCgroup, testPinPath, track } from "../helpers/fixture.ts";

/** setpriv arguments: uid/gid nobody, no groups, and exactly `caps` (e.g. ["bpf"]) as ambient capabilities. */
export function asNobody(caps: string[]): string[] {
  const set = ["-all", ...caps.map((c) => `+${c}`)].join(",");
  return ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", `--inh-caps=${set}`, `--ambient-caps=${set}`];
}

function run(argv: string[], caps: string[]) {
  const [cmd, ...args] = [...asNobody(caps), ...argv];
  const r = spawnSync(cmd!, args, { encoding: "utf8" });
  return { code: r.status, out: r.stdout, err: r.stderr };
}
const READER = resolve(import.meta.dirname, "../fixtures/read-as-reader.ts");
const reader = (pin: string, how: string, caps = ["bpf"]) => {
  const r = run(scriptArgv(READER, [pin, how]), caps);
  try {
    return JSON.parse(r.out);
  } catch {
    throw new Error(`reader printed no JSON (exit ${r.code}): ${r.out}${r.err}`);
  }
};
const cgstore = (args: string[], caps = ["bpf"]) => run(scriptArgv(CLI, args), caps);

const canSetpriv = spawnSync("setpriv", ["--reuid=65534", "--regid=65534", "--clear-groups", "--inh-caps=+bpf", "--ambient-caps=+bpf", "true"]).status === 0;
/** Can nobody run this checkout with this runtime (not under /root, say)? */
const nobodyCanRun = bpf.ok && canSetpriv && run(scriptArgv(CLI, ["--help"]), []).code === 0;

const cgrpSkip = needsKernel("CGRP_STORAGE");

/** The counter, attached to a fresh cgroup with 3 packets of 10 bytes sent, its maps pinned with `modes`. */
function counter(modes: { pcpu: number; shared: number }) {
  const obj = closeLater(BpfObject.open(native("counter.bpf.o")).load());
  const cg = testCgroup("ro");
  track(obj.program("count_egress").attachCgroup(cg));
  sendUdp(cg, 3, 10);
  const pcpu = closeLater(PerCpuCgroupStorageMap.from(obj.map("pcpu_stats")));
  const shared = closeLater(CgroupStorageMap.from(obj.map("shared_stats")));
  const pcpuPin = testPinPath("ro-pcpu"), sharedPin = testPinPath("ro-shared");
  pcpu.pin(pcpuPin);
  shared.pin(sharedPin);
  chmodSync(pcpuPin, modes.pcpu);
  chmodSync(sharedPin, modes.shared);
  const total = pcpu.decode(pcpu.lookup({ cgroupId: cg.id, attachType: AttachType.CGROUP_INET_EGRESS })!).total;
  return { cg, pcpu, shared, pcpuPin, sharedPin, total };
}

describe.skipIf(!bpf.ok)("read-only handles", () => {
  afterEach(cleanup);

  test("{ access: \"read\" } opens with BPF_F_RDONLY; writes are refused before the kernel, kind permission", () => {
    const { cg, pcpuPin, sharedPin } = counter({ pcpu: 0o600, shared: 0o600 });
    const ro = closeLater(PerCpuCgroupStorageMap.open(pcpuPin, { access: "read" }));
    expect(ro.access).toBe("read");
    expect(closeLater(openMap(pcpuPin)).access).toBe("read-write");
    expect(ro.lookup({ cgroupId: cg.id, attachType: AttachType.CGROUP_INET_EGRESS })).not.toBeNull();
    const e = caught(() => PerCpuCgroupStorageMap.from(ro).updateAll(cg.id, new Uint8Array(16)));
    expect(e).toMatchObject({ kind: "permission", errno: undefined, op: "update" });
    expect(e.message).toMatch(/"pcpu_stats" .*this handle is read-only \(opened with \{ access: "read" \}.*\) and cannot update\. open it with \{ access: "read-write" \}/);
    const sro = closeLater(CgroupStorageMap.open(sharedPin, { access: "read" }));
    expect(caught(() => sro.update(cg.id, new Uint8Array(24)))).toMatchObject({ kind: "permission", errno: undefined });
    expect(caught(() => sro.delete(cg.id))).toMatchObject({ kind: "permission", op: "delete" });
    // What the check spares the caller: the kernel refuses a write through a read-only fd with EPERM.
    const key = new BigUint64Array([BigInt(cg.id), BigInt(AttachType.CGROUP_INET_EGRESS)]);
    const value = new Uint8Array(new ArrayBuffer(24));
    expect(libbpf.mapUpdateElem(sro.fd, libbpf.pointer(key), libbpf.pointer(value), 0)).toBe(-1);
    // The mode lives on the fd: a duplicate of a read-only fd is read-only; asking an fd for
    // "read" makes its handle refuse writes even when the fd could write.
    expect(closeLater(openMap({ fd: ro.fd })).access).toBe("read");
    const rw = closeLater(openMap(pcpuPin));
    expect(closeLater(PerCpuCgroupStorageMap.open({ fd: rw.fd }, { access: "read" })).access).toBe("read");
    expect(caught(() => openMap(pcpuPin, { access: "write" as "read" }))).toMatchObject({ kind: "rule" });
  });

  test("layoutFromObjectFile: the value layout the object file declares, as the kernel's BTF has it", () => {
    const { pcpu, shared } = counter({ pcpu: 0o600, shared: 0o600 });
    const file = native("counter.bpf.o");
    expect(layoutFromObjectFile(file, "pcpu_stats").leaves()).toEqual(pcpu.layout!.leaves());
    expect(layoutFromObjectFile(file, "shared_stats").leaves()).toEqual(shared.layout!.leaves());
    expect(caught(() => layoutFromObjectFile(file, "nope"))).toMatchObject({
      kind: "not-found", message: expect.stringMatching(/defines no map "nope".*it defines pcpu_stats, shared_stats/),
    });
    expect(caught(() => layoutFromObjectFile("/nonexistent.bpf.o", "x"))).toMatchObject({ kind: "not-found" });
    // A map whose BTF is readable keeps its own layout.
    expect(useFallbackLayout(pcpu, { schema: { a: "u64", b: "u64" } })).toEqual({ origin: "map" });
  });
});

describe.skipIf(!nobodyCanRun)("an unprivileged reader with CAP_BPF only (setpriv, uid 65534)", () => {
  afterEach(cleanup);

  test("0644 and 0444 pins open read-only; the BTF falls back to the object file, a schema, else raw words", () => {
    const { cg, pcpuPin, sharedPin, total } = counter({ pcpu: 0o644, shared: 0o444 });
    const want = { packets: String(total.packets), bytes: String(total.bytes) };
    expect(total.packets).toBe(3n);

    const words = reader(pcpuPin, "none");
    expect(words).toMatchObject({ access: "read", origin: "words", btfError: { kind: "permission", code: "EPERM" } });
    expect(words.btfError.message).toMatch(/needs CAP_SYS_ADMIN/);
    expect(words.entries[cg.id]).toEqual({ word0: want.packets, word1: want.bytes });
    expect(words.write).toMatchObject({ kind: "permission", message: expect.stringMatching(/handle is read-only/) });

    const fromObject = reader(pcpuPin, `object:${native("counter.bpf.o")}`);
    expect([fromObject.origin, fromObject.entries[cg.id]]).toEqual(["object-file", want]);
    const fromSchema = reader(pcpuPin, 'schema:{"p":"u64","b":"u64"}');
    expect([fromSchema.origin, fromSchema.entries[cg.id]]).toEqual(["schema", { p: want.packets, b: want.bytes }]);

    const shared = reader(sharedPin, `object:${native("counter.bpf.o")}`);
    expect(shared).toMatchObject({ access: "read", origin: "object-file", write: { kind: "permission" } });
    expect(shared.entries[cg.id]).toEqual(want);
    expect(reader(sharedPin, "none").entries[cg.id]).toMatchObject({ word1: want.packets, word2: want.bytes });
  });

  test("a pin this user may not read, an open by id, no CAP_BPF: kind permission naming what is missing", () => {
    const { pcpuPin, pcpu } = counter({ pcpu: 0o600, shared: 0o600 });
    expect(reader(pcpuPin, "none").error).toMatchObject({
      kind: "permission", code: "EACCES", message: expect.stringMatching(/file mode does not let this user open it for reading/),
    });
    chmodSync(pcpuPin, 0o644);
    // No capability at all: since Linux 6.5 only map_create and prog_load check
    // kernel.unprivileged_bpf_disabled, so a readable pin opens and reads; before, every bpf()
    // command needed CAP_BPF.
    // Measured: 6.5+ and Debian's 6.1.192 read; a kernel that still checks every bpf() command
    // (upstream before 6.5) must refuse with EPERM naming CAP_BPF.
    const bare = reader(pcpuPin, "none", []);
    if (kernelAtLeast(6, 5) || bare.error === undefined) expect(bare).toMatchObject({ access: "read", origin: "words" });
    else expect(bare.error).toMatchObject({ kind: "permission", code: "EPERM", message: expect.stringMatching(/lacks CAP_BPF/) });
    const byId = cgstore(["dump", "--id", String(pcpu.info.id)]);
    expect(byId.code).toBe(3);
    expect(byId.err).toMatch(/^cgstore: open: bpf_map_get_fd_by_id\(\d+, BPF_F_RDONLY\): EPERM .*needs CAP_SYS_ADMIN .*open its pin instead\n$/);
  });

  test("cgstore dump <0644 pin>: one stderr line on the BTF, then words, --btf names or --schema names; exit 0", () => {
    const { cg, pcpuPin, total } = counter({ pcpu: 0o644, shared: 0o600 });
    const entry = (out: string) => JSON.parse(out).entries.find((e: { cgroup_id: number }) => e.cgroup_id === cg.id).total;
    const words = cgstore(["dump", pcpuPin, "--json"]);
    expect(words.code).toBe(0);
    expect(words.err).toMatch(/^cgstore dump: map "pcpu_stats": its BTF cannot be read \(loading BTF by id needs CAP_SYS_ADMIN\); showing raw words .*--btf .*--schema/);
    expect(words.err.trimEnd().split("\n")).toHaveLength(1);
    expect(entry(words.out)).toEqual({ word0: String(total.packets), word1: String(total.bytes) });
    const named = cgstore(["dump", pcpuPin, "--json", "--btf", native("counter.bpf.o")]);
    expect([named.code, entry(named.out)]).toEqual([0, { packets: String(total.packets), bytes: String(total.bytes) }]);
    expect(named.err).toMatch(/fields named from .*counter\.bpf\.o\n$/);
    const declared = cgstore(["dump", pcpuPin, "--schema", '{"pk":"u64","by":"u64"}']);
    expect(declared.code).toBe(0);
    expect(declared.out).toMatch(/^CGROUP\s+ATTACH\s+PK\s+BY/);
  });

  test.skipIf(cgrpSkip !== null)(titled("a CGRP_STORAGE pin (0644) with no capability at all: dump and top --map read it by the cgroup tree walk", cgrpSkip), () => {
    const obj = closeLater(BpfObject.open(native("cgrp_counter.bpf.o")).load());
    const cg = testCgroup("ro-cgrp");
    track(obj.program("cgrp_egress").attachCgroup(cg));
    sendUdp(cg, 3, 10);
    const pin = testPinPath("ro-cgrp");
    closeLater(CgrpStorageMap.from(obj.map("cgrp_stats"))).pin(pin);
    chmodSync(pin, 0o644);
    const rel = cg.path.slice(cg.path.indexOf("/cgstore-test-"));
    // No CAP_BPF/CAP_PERFMON: the bundled iterator cannot load; the scan walks the tree.
    const dump = cgstore(["dump", pin, "--btf", native("cgrp_counter.bpf.o")], []);
    expect(dump.code).toBe(0);
    expect(dump.out).toMatch(new RegExp(`${rel}\\s+-\\s+3\\s+114`)); // 3 × (10 + 28) bytes
    const t = cgstore(["top", "--map", pin, "--btf", native("cgrp_counter.bpf.o"), "--iterations", "1", "--interval", "0.1"], []);
    expect(t.code).toBe(0);
    expect(t.out.split("\n").find((l) => l.includes(rel))).toMatch(/\s3\s+[0-9.-]+\s+114$/);
  });

  test("top --cgroup with CAP_BPF + CAP_NET_ADMIN only: the bundled counter's fields come from its own BTF", () => {
    const cg = testCgroup("ro-top");
    const r = cgstore(["top", "--cgroup", cg.path, "--iterations", "1", "--interval", "0.2"], ["bpf", "net_admin"]);
    expect([r.code, r.err]).toEqual([0, ""]);
    expect(r.out).toMatch(/PACKETS\/S\s+PACKETS\s+BYTES\/S\s+BYTES/); // named, not word0/word1
  });
});


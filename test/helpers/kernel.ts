/**
 * The running kernel's version, for tests whose expectation differs by kernel. The same suite
 * runs on the host and on older kernels in VMs (test/kernels/matrix.ts), so a version-dependent
 * expectation is written out explicitly (`if (kernelBefore(6, 18))`), never skipped wholesale.
 */
import { spawnSync } from "node:child_process";
import { mkdirSync, readFileSync, rmdirSync } from "node:fs";
import { join } from "node:path";
import { release } from "node:os";
import { BpfObject, cgroupRoot, type CgroupAttachment } from "../../src/index.ts";
import { native } from "./env.ts";

/**
 * A kernel version as numbers: `6.12.117+deb12-cloud-amd64` → `{ major: 6, minor: 12, patch: 117 }`.
 * `patch` is the upstream stable release, which is what decides whether a stable backport is in.
 */
export interface KernelVersion {
  major: number;
  minor: number;
  patch: number;
  /** The whole `uname -r` string. */
  release: string;
}

/** Parses a `uname -r` string (distribution suffixes ignored); a missing part counts as 0. */
export function parseKernelRelease(text: string): KernelVersion {
  const m = /^(\d+)\.(\d+)(?:\.(\d+))?/.exec(text);
  if (!m) throw new Error(`not a kernel release: ${JSON.stringify(text)}`);
  return { major: Number(m[1]), minor: Number(m[2]), patch: Number(m[3] ?? 0), release: text };
}

/**
 * The upstream version of a distribution kernel whose `uname -r` hides it: Debian's 6.1 says
 * `6.1.0-56-cloud-amd64` but `/proc/version` ends in `Debian 6.1.192-2 (…)`; Ubuntu's
 * `/proc/version_signature` ends in the upstream version (`… 6.8.12`). Null when neither says.
 */
export function upstreamVersion(procVersion: string, versionSignature = ""): string | null {
  // Only Debian's trailing "Debian 6.1.192-2 (2025-06-01)", and only when it agrees with the
  // release's major.minor: a kernel merely built with Debian's gcc says "(Debian 12.2.0-14)".
  const debian = /\bDebian (\d+\.\d+\.\d+)-\S+ \(\d{4}-\d\d-\d\d\)\s*$/.exec(procVersion)?.[1];
  const release = /^Linux version (\d+\.\d+)[.-]/.exec(procVersion)?.[1];
  if (debian && (release === undefined || debian.startsWith(`${release}.`))) return debian;
  return /\s(\d+\.\d+\.\d+)\s*$/.exec(versionSignature)?.[1] ?? null;
}

function running(): KernelVersion {
  const read = (p: string) => {
    try {
      return readFileSync(p, "utf8");
    } catch {
      return "";
    }
  };
  const upstream = upstreamVersion(read("/proc/version"), read("/proc/version_signature"));
  return { ...parseKernelRelease(upstream ?? release()), release: release() };
}

/** The kernel these tests run on (its upstream version when the distribution hides it). */
export const kernel: KernelVersion = running();

/** Orders two versions: negative, 0 or positive like a sort comparator. */
export function compareKernel(a: Pick<KernelVersion, "major" | "minor" | "patch">, b: Pick<KernelVersion, "major" | "minor" | "patch">): number {
  return a.major - b.major || a.minor - b.minor || a.patch - b.patch;
}

/** True when the running kernel is at least `major.minor[.patch]`. */
export function kernelAtLeast(major: number, minor: number, patch = 0): boolean {
  return compareKernel(kernel, { major, minor, patch }) >= 0;
}

/** True when the running kernel is older than `major.minor[.patch]`. */
export function kernelBefore(major: number, minor: number, patch = 0): boolean {
  return !kernelAtLeast(major, minor, patch);
}

/**
 * Kernel features some tests need, with the upstream version that brought each. A test of a
 * feature the running kernel lacks skips itself with {@link needsKernel}'s reason in its name;
 * on kernels that have it, it runs in full.
 */
export const KERNEL_FEATURES = {
  /** Cgroup links (`BPF_LINK_CREATE` on a cgroup). */
  "cgroup links": [5, 7],
  /** 8-byte (cgroup id only) keys shared across attach types, and storage outliving detach. */
  "8-byte keys": [5, 9],
  /** Value sizes above PAGE_SIZE (65407 shared, 32768 per-CPU). */
  "large values": [5, 15],
  /** `iter/cgroup` programs. */
  cgroup_iter: [6, 1],
  /** `BPF_MAP_TYPE_CGRP_STORAGE`. */
  CGRP_STORAGE: [6, 2],
  /** `BPF_F_CPU` / `BPF_F_ALL_CPUS` on per-CPU maps. */
  BPF_F_CPU: [7, 0],
} as const satisfies Record<string, readonly [number, number]>;

/** Null when the running kernel has `feature`, else why a test of it is skipped here. */
export function needsKernel(feature: keyof typeof KERNEL_FEATURES): string | null {
  const [major, minor] = KERNEL_FEATURES[feature];
  if (kernelAtLeast(major, minor)) return null;
  return `needs kernel ≥ ${major}.${minor} for ${feature}; this is ${kernel.major}.${kernel.minor}.${kernel.patch}`;
}

/** `name`, plus the skip reason when there is one (bun's and Deno's reports show only names). */
export function titled(name: string, skip: string | null): string {
  return skip === null ? name : `${name} [skipped: ${skip}]`;
}

let bpftoolShow: string | null | undefined;

/**
 * Null when `bpftool cgroup show` lists a cgroup's programs on this kernel, else why not.
 * Debian 12's bpftool (7.1, from Linux 6.1) counts a cgroup's programs with a plain query, then
 * lists them with `query.prog_attach_flags` set (added for LSM_CGROUP in 6.0), which older
 * kernels refuse as an unknown attribute (EINVAL): on 5.10 a cgroup with nothing attached shows
 * `[]`, one with a program fails. So the probe attaches one to a cgroup of its own.
 */
export function bpftoolCgroupShowUnusable(): string | null {
  if (bpftoolShow !== undefined) return bpftoolShow;
  let dir: string | undefined, obj: BpfObject | undefined, attachment: CgroupAttachment | undefined;
  try {
    dir = join(cgroupRoot(), `cgstore-test-bpftool-probe-${process.pid}`);
    mkdirSync(dir);
    obj = BpfObject.open(native("counter.bpf.o")).load();
    attachment = obj.program("count_egress").attachCgroup(dir);
    const r = spawnSync("bpftool", ["-j", "cgroup", "show", dir], { encoding: "utf8" });
    if (r.error) bpftoolShow = `bpftool: ${r.error.message}`;
    else if (r.status === 0 && r.stdout.includes("count_egress")) bpftoolShow = null;
    else {
      bpftoolShow = `bpftool cgroup show cannot list programs on ${kernel.release}${kernelBefore(6, 0)
        ? " (bpftool ≥ 7.0 sends query.prog_attach_flags, which kernels before 6.0 refuse)" : ""}: exit ${r.status}`;
    }
  } catch (e) {
    bpftoolShow = `cannot probe bpftool: ${(e as Error).message}`;
  } finally {
    attachment?.detach();
    obj?.close();
    if (dir) {
      try {
        rmdirSync(dir);
      } catch {} // not made (mkdir failed)
    }
  }
  return bpftoolShow;
}

/**
 * The running kernel's version, for tests whose expectation differs by kernel. The same suite
 * runs on the host and on older kernels in VMs (test/kernels/matrix.ts), so a version-dependent
 * expectation is written out explicitly (`if (kernelBefore(6, 18))`), never skipped wholesale.
 */
import { readFileSync } from "node:fs";
import { release } from "node:os";

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

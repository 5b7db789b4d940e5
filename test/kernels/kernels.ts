/**
 * The matrix's guest kernels: Debian's cloud kernels (small, with BPF, cgroup BPF, serial
 * console, virtio and loopback built in, so the guest needs no modules), the newest of each
 * series this machine's apt knows. Each is fetched once with `apt-get download` (nothing is
 * installed) and only `boot/vmlinuz-*` and `boot/config-*` are kept, under
 * ~/.cache/cgstore/kernels/<package>/.
 */
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { cacheDir } from "./cache.ts";

/** A kernel series the matrix tests: a row label and the package names that belong to it. */
export interface KernelSeries {
  label: string;
  /** Matches the package name; group 1 is the version part used to order packages. */
  pattern: RegExp;
  /** Which package of the series: the newest (default) or the oldest apt offers. */
  pick?: "newest" | "oldest";
  /** An optional row: when its kernel cannot be had the row is reported, not failed. */
  optional?: boolean;
  /** Why the row is there, printed with the table. */
  why?: string;
}

/** Debian 12's LTS kernel and its backported 6.12 (both in bookworm-security), newest of each. */
export const SERIES: KernelSeries[] = [
  { label: "6.1", pattern: /^linux-image-(6\.1\.0-\d+)-cloud-amd64$/ },
  { label: "6.12", pattern: /^linux-image-(6\.12\.\d+\+deb12)-cloud-amd64$/ },
  {
    label: "6.1 oldest",
    pattern: /^linux-image-(6\.1\.0-\d+)-cloud-amd64$/,
    pick: "oldest",
    optional: true,
    why: "the oldest 6.1 apt offers (Debian 12's point-release kernel, 6.1.170 when written) predates the get_next_key end-of-list fix (6.1.175): scans meet the bogus key on a real kernel",
  },
];

/** A kernel ready to boot. */
export interface GuestKernel {
  label: string;
  package: string;
  /** The package's version (`6.1.192-2`): Debian's `uname -r` does not show the upstream one. */
  version: string;
  vmlinuz: string;
  /** Set when the newest package could not be fetched and an older cached one is used. */
  note?: string;
}

// A time limit, so an apt that cannot reach its mirror fails the row instead of hanging npm test.
const run = (cmd: string, args: string[], cwd?: string) => spawnSync(cmd, args, { cwd, encoding: "utf8", timeout: 300_000 });

/** Numeric parts of a version string, for ordering `6.12.9` before `6.12.117`. */
function versionKey(v: string): number[] {
  return (v.match(/\d+/g) ?? []).map(Number);
}

/** The series' packages among `names`, the one to pick first. */
function preferred(names: string[], series: KernelSeries): string[] {
  const key = (n: string) => versionKey(series.pattern.exec(n)![1]!);
  const sign = series.pick === "oldest" ? -1 : 1;
  return names
    .filter((n) => series.pattern.test(n))
    .sort((a, b) => {
      const ka = key(a), kb = key(b);
      for (let i = 0; i < Math.max(ka.length, kb.length); i++) if ((ka[i] ?? 0) !== (kb[i] ?? 0)) return sign * ((kb[i] ?? 0) - (ka[i] ?? 0));
      return 0;
    });
}

/** Package names apt knows; refreshes the lists (root only) when no series has a candidate. */
function aptPackageNames(): string[] {
  const list = () => (run("apt-cache", ["pkgnames", "linux-image-"]).stdout ?? "").split("\n").filter(Boolean);
  let names = list();
  const missing = () => SERIES.some((s) => !names.some((n) => s.pattern.test(n)));
  if (missing() && process.getuid?.() === 0) {
    run("apt-get", ["update", "-qq"]);
    names = list();
  }
  return names;
}

function cachedVmlinuz(dir: string): string | null {
  if (!existsSync(dir)) return null;
  const f = readdirSync(dir).find((n) => n.startsWith("vmlinuz-"));
  return f ? join(dir, f) : null;
}

function cached(series: KernelSeries, pkg: string, dir: string, note?: string): GuestKernel | null {
  const vmlinuz = cachedVmlinuz(dir);
  if (!vmlinuz) return null;
  const version = existsSync(join(dir, "VERSION")) ? readFileSync(join(dir, "VERSION"), "utf8").trim() : "?";
  return { label: series.label, package: pkg, version, vmlinuz, note };
}

/** Downloads `pkg` and keeps its vmlinuz, config and version in `dir`. */
function fetchKernel(pkg: string, dir: string): void {
  const base = cacheDir("kernels");
  const tmp = mkdtempSync(join(base, ".download-"));
  try {
    const dl = run("apt-get", ["download", "-q", pkg], tmp);
    const deb = readdirSync(tmp).find((n) => n.endsWith(".deb"));
    if (dl.status !== 0 || !deb) throw new Error(`apt-get download ${pkg} failed: ${(dl.stderr ?? "").trim() || dl.error}`);
    const out = join(tmp, "x");
    const x = run("dpkg-deb", ["-x", join(tmp, deb), out]);
    if (x.status !== 0) throw new Error(`dpkg-deb -x ${deb} failed: ${x.stderr}`);
    const keep = join(tmp, "keep");
    rmSync(keep, { recursive: true, force: true });
    renameSync(join(out, "boot"), keep); // modules are not needed: everything the guest uses is built in
    writeFileSync(join(keep, "VERSION"), `${deb.split("_")[1] ?? "?"}\n`); // name_version_arch.deb
    rmSync(dir, { recursive: true, force: true });
    try {
      renameSync(keep, dir);
    } catch (e) {
      if (!cachedVmlinuz(dir)) throw e; // else a concurrent run just put the same kernel there
    }
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
  if (!cachedVmlinuz(dir)) throw new Error(`${pkg} has no boot/vmlinuz-*`);
}

/**
 * The kernel of `series` (newest or oldest package apt offers): from the cache if there, else
 * downloaded. When apt has no candidate or the download fails, the best cached kernel of the
 * series is used with a note; with none cached this throws.
 */
export function kernelFor(series: KernelSeries, names = aptPackageNames()): GuestKernel {
  const base = cacheDir("kernels");
  const wanted = preferred(names, series)[0];
  let problem = `apt knows no ${series.pattern.source} package`;
  if (wanted) {
    const dir = join(base, wanted);
    const hit = cached(series, wanted, dir);
    if (hit) return hit;
    try {
      fetchKernel(wanted, dir);
      return cached(series, wanted, dir)!;
    } catch (e) {
      problem = (e as Error).message;
    }
  }
  for (const n of preferred(readdirSync(base), series)) {
    const hit = cached(series, n, join(base, n), `using cached ${n}: ${problem}`);
    if (hit) return hit;
  }
  throw new Error(problem);
}

/** Every series with its kernel, or the reason it cannot be had (per row, so one failure hides nothing). */
export function guestKernels(): Array<{ series: KernelSeries; kernel?: GuestKernel; error?: string }> {
  const names = aptPackageNames();
  return SERIES.map((series) => {
    try {
      return { series, kernel: kernelFor(series, names) };
    } catch (e) {
      return { series, error: (e as Error).message };
    }
  });
}

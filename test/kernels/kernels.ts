/**
 * The matrix's guest kernels: Debian's cloud kernels (small, with BPF, cgroup BPF, the 8250
 * serial console and loopback built in, so the guest needs no modules: it has no disk and no
 * network but lo), the newest of each series. Bookworm's come through this machine's apt;
 * other suites (bullseye's 5.10, sid's and trixie-backports' 7.x) through a private apt setup
 * under ~/.cache/cgstore/apt/ (its own sources list, pointing at the mirror the machine's apt
 * already uses, and its own lists and cache: the system's apt configuration is never touched).
 * Each kernel is fetched once with `apt-get download` (nothing is installed) and only its
 * vmlinuz (`boot/vmlinuz-*`, or `usr/lib/modules/<ver>/vmlinuz` in 7.x's `linux-binary-*`
 * packages) and config are kept, under ~/.cache/cgstore/kernels/<package>/.
 */
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { cacheDir } from "./cache.ts";
import { privateApt } from "./apt.ts";

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
  /** Debian suites outside this machine's apt sources: fetched through the private apt setup. */
  suites?: string[];
}

/**
 * Debian 11's 5.10 (the oldest kernel cgstore supports: 8-byte keys need 5.9), Debian 12's LTS
 * kernel and its backported 6.12 (both in bookworm-security), and the newest 7.x (BPF_F_CPU),
 * newest of each.
 */
export const SERIES: KernelSeries[] = [
  {
    label: "5.10",
    pattern: /^linux-image-(5\.10\.0-\d+)-cloud-amd64$/,
    suites: ["bullseye"],
    optional: true,
    why: "Debian 11's kernel: value sizes up to 4096 bytes (5.15 raised them), bpf_map_info of 80 bytes, no cgroup_iter or CGRP_STORAGE",
  },
  { label: "6.1", pattern: /^linux-image-(6\.1\.0-\d+)-cloud-amd64$/ },
  { label: "6.12", pattern: /^linux-image-(6\.12\.\d+\+deb12)-cloud-amd64$/ },
  {
    label: "6.1 oldest",
    pattern: /^linux-image-(6\.1\.0-\d+)-cloud-amd64$/,
    pick: "oldest",
    optional: true,
    why: "the oldest 6.1 apt offers (Debian 12's point-release kernel, 6.1.170 when written) predates the get_next_key end-of-list fix (6.1.175): scans meet the bogus key on a real kernel",
  },
  {
    label: "7.x",
    // 7.x's image package is a stub; the kernel is in linux-binary-<ver>, as /usr/lib/modules/<ver>/vmlinuz.
    pattern: /^linux-binary-(7\.\d+\.\d+)\+deb\d+-cloud-amd64$/,
    suites: ["sid", "trixie-backports"],
    optional: true,
    why: "the newest 7.x of sid and trixie-backports: BPF_F_CPU / BPF_F_ALL_CPUS (7.0) on per-CPU storage, done by the kernel",
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

/** Package names the system's apt knows; refreshes its lists (root only) when a series has no candidate. */
function aptPackageNames(): string[] {
  const list = () => (run("apt-cache", ["pkgnames", "linux-image-"]).stdout ?? "").split("\n").filter(Boolean);
  let names = list();
  const missing = () => SERIES.some((s) => !s.suites && !names.some((n) => s.pattern.test(n)));
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

/**
 * Moves the kernel (and its config, when packaged) out of an unpacked `.deb` into `keep`:
 * `boot/` of linux-image packages, or `usr/lib/modules/<ver>/{vmlinuz,config}` of 7.x's
 * linux-binary packages (kept as `vmlinuz-<ver>`). Modules are left behind: everything the
 * guest uses is built in.
 */
function keepKernel(out: string, keep: string): void {
  if (existsSync(join(out, "boot"))) return renameSync(join(out, "boot"), keep);
  for (const lib of ["usr/lib/modules", "lib/modules"]) {
    const root = join(out, lib);
    if (!existsSync(root)) continue;
    for (const ver of readdirSync(root)) {
      if (!existsSync(join(root, ver, "vmlinuz"))) continue;
      mkdirSync(keep);
      renameSync(join(root, ver, "vmlinuz"), join(keep, `vmlinuz-${ver}`));
      if (existsSync(join(root, ver, "config"))) renameSync(join(root, ver, "config"), join(keep, `config-${ver}`));
      return;
    }
  }
  throw new Error("the package holds no boot/vmlinuz-* nor usr/lib/modules/*/vmlinuz");
}

/** Downloads `pkg` (with `apt`'s options) and keeps its vmlinuz, config and version in `dir`. */
function fetchKernel(pkg: string, dir: string, apt: string[]): void {
  const base = cacheDir("kernels");
  const tmp = mkdtempSync(join(base, ".download-"));
  try {
    const dl = run("apt-get", [...apt, "download", "-q", pkg], tmp);
    const deb = readdirSync(tmp).find((n) => n.endsWith(".deb"));
    if (dl.status !== 0 || !deb) throw new Error(`apt-get download ${pkg} failed: ${(dl.stderr ?? "").trim() || dl.error}`);
    const out = join(tmp, "x");
    const x = run("dpkg-deb", ["-x", join(tmp, deb), out]);
    if (x.status !== 0) throw new Error(`dpkg-deb -x ${deb} failed: ${x.stderr}`);
    const keep = join(tmp, "keep");
    rmSync(keep, { recursive: true, force: true });
    keepKernel(out, keep);
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
  if (!cachedVmlinuz(dir)) throw new Error(`${pkg} has no vmlinuz`);
}

/**
 * The kernel of `series` (newest or oldest package apt offers): from the cache if there, else
 * downloaded. When apt has no candidate or the download fails, the best cached kernel of the
 * series is used with a note; with none cached this throws.
 */
export function kernelFor(series: KernelSeries, names?: string[]): GuestKernel {
  const base = cacheDir("kernels");
  let problem = `apt knows no ${series.pattern.source} package`;
  let wanted: string | undefined, apt: string[] = [];
  try {
    if (series.suites) {
      const priv = privateApt(series.suites, (n) => series.pattern.test(n));
      apt = priv.options;
      wanted = preferred(priv.names, series)[0];
      if (!wanted) problem = `${priv.mirror} (${series.suites.join(", ")}) has no ${series.pattern.source} package${priv.problem ? `: ${priv.problem}` : ""}`;
    } else wanted = preferred(names ?? aptPackageNames(), series)[0];
  } catch (e) {
    problem = (e as Error).message;
  }
  if (wanted) {
    const dir = join(base, wanted);
    const hit = cached(series, wanted, dir);
    if (hit) return hit;
    try {
      fetchKernel(wanted, dir, apt);
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
export function guestKernels(only?: string[]): Array<{ series: KernelSeries; kernel?: GuestKernel; error?: string }> {
  const names = aptPackageNames();
  const series = only ? SERIES.filter((s) => only.includes(s.label)) : SERIES;
  return series.map((series) => {
    try {
      return { series, kernel: kernelFor(series, names) };
    } catch (e) {
      return { series, error: (e as Error).message };
    }
  });
}

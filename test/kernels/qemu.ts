/**
 * Boots a kernel + initramfs in qemu and follows its serial console until the guest's marker
 * line (printed by init.sh) or a timeout. KVM is used when a short probe shows that it works on
 * this machine (on some hosts /dev/kvm exists but guests fail or hang); otherwise TCG, which is
 * slower but works anywhere qemu does.
 */
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { accessSync, constants, createWriteStream, readFileSync, renameSync, writeFileSync } from "node:fs";
import { release } from "node:os";
import { join } from "node:path";
import { cacheDir } from "./cache.ts";
import { which } from "./initramfs.ts";

export const QEMU = "qemu-system-x86_64";

/** How a guest is run: accelerator and matching CPU model. */
export interface Accel {
  name: "kvm" | "tcg";
  args: string[];
}
const KVM: Accel = { name: "kvm", args: ["-accel", "kvm", "-cpu", "host"] };
const TCG: Accel = { name: "tcg", args: ["-accel", "tcg", "-cpu", "max"] };

/** What the guest reported, or why it did not. */
export interface BootResult {
  /** The guest's marker fields (status, tests, failures, skipped), or null without a marker. */
  marker: Record<string, number> | null;
  seconds: number;
  timedOut: boolean;
  /** The whole serial console output. */
  log: string;
  exitCode: number | null;
}

/** Options for {@link boot}. */
export interface BootOptions {
  kernel: string;
  initrd: string;
  accel: Accel;
  /** Extra kernel command line words (init.sh reads `cgstore.*`). */
  cmdline: string[];
  timeoutMs: number;
  /** Called with each console line as it arrives. */
  onLine?: (line: string) => void;
  /** The console is also written here. */
  logFile?: string;
  /** Stop as soon as a line matches (the probe), instead of waiting for the guest to power off. */
  stopAt?: RegExp;
}

const children = new Set<ChildProcess>();
// A qemu left behind would keep running tests in the background: kill ours when we go.
process.on("exit", () => {
  for (const c of children) c.kill("SIGKILL");
});
for (const sig of ["SIGINT", "SIGTERM"] as const) {
  process.on(sig, () => {
    for (const c of children) c.kill("SIGKILL");
    process.exit(130);
  });
}

/** The marker init.sh prints last: `CGSTORE-MATRIX-DONE status=0 tests=58 failures=0 skipped=1`. */
export function parseMarker(line: string): Record<string, number> | null {
  const i = line.indexOf("CGSTORE-MATRIX-DONE ");
  if (i < 0) return null;
  const fields: Record<string, number> = {};
  for (const m of line.slice(i).matchAll(/(\w+)=(\d+)/g)) fields[m[1]!] = Number(m[2]);
  return "status" in fields ? fields : null;
}

/** Boots a guest and resolves when it powers off, its marker arrives with `stopAt`, or time runs out. */
export function boot(o: BootOptions): Promise<BootResult> {
  const args = [
    ...o.accel.args,
    ...["-smp", "2", "-m", "2048", "-nodefaults", "-display", "none", "-no-reboot", "-serial", "stdio", "-monitor", "none"],
    ...["-kernel", o.kernel, "-initrd", o.initrd],
    // panic=-1 + -no-reboot: if init dies, qemu exits at once instead of idling until the timeout.
    ...["-append", ["console=ttyS0", "panic=-1", "quiet", "loglevel=4", ...o.cmdline].join(" ")],
  ];
  const started = performance.now();
  const child = spawn(QEMU, args, { stdio: ["ignore", "pipe", "pipe"] });
  children.add(child);
  const file = o.logFile ? createWriteStream(o.logFile) : null;
  let log = "", pending = "", marker: Record<string, number> | null = null, timedOut = false;
  const line = (l: string) => {
    l = l.replace(/\r$/, "");
    marker ??= parseMarker(l);
    o.onLine?.(l);
    if (o.stopAt?.test(l)) child.kill("SIGKILL");
  };
  const take = (chunk: Buffer) => {
    const s = chunk.toString("utf8");
    log += s;
    file?.write(s);
    pending += s;
    const lines = pending.split("\n");
    pending = lines.pop()!;
    for (const l of lines) line(l);
  };
  child.stdout!.on("data", take);
  child.stderr!.on("data", take); // qemu's own errors belong in the same log
  const timer = setTimeout(() => {
    timedOut = true;
    child.kill("SIGKILL");
  }, o.timeoutMs);
  return new Promise((resolve) => {
    child.on("close", (code) => {
      clearTimeout(timer);
      children.delete(child);
      if (pending) line(pending);
      file?.end();
      resolve({ marker, seconds: (performance.now() - started) / 1000, timedOut, log, exitCode: code });
    });
  });
}

/** Why qemu cannot run guests here, or null when it can. */
export function qemuUnavailable(): string | null {
  if (process.arch !== "x64" || process.platform !== "linux") return `guests are x86_64 Linux; this is ${process.platform}/${process.arch}`;
  if (!which(QEMU)) return `${QEMU} is not installed (scripts/setup.sh installs qemu-system-x86 when run as root)`;
  return null;
}

/**
 * KVM when it works, else TCG. `$CGSTORE_ACCEL=kvm|tcg` forces one. The probe boots the real
 * kernel and initramfs with `cgstore.probe=1` (init prints a line and powers off) under KVM,
 * with a short timeout; its result is cached per host kernel and qemu version, so the probe's
 * cost (a timeout where KVM hangs) is paid once.
 */
export async function chooseAccel(kernel: string, initrd: string): Promise<{ accel: Accel; why: string }> {
  const forced = process.env.CGSTORE_ACCEL;
  if (forced === "kvm" || forced === "tcg") return { accel: forced === "kvm" ? KVM : TCG, why: "CGSTORE_ACCEL" };
  try {
    accessSync("/dev/kvm", constants.R_OK | constants.W_OK);
  } catch {
    return { accel: TCG, why: "no usable /dev/kvm" };
  }
  const version = (spawnSync(QEMU, ["--version"], { encoding: "utf8" }).stdout ?? "").split("\n")[0];
  const key = `${release()} | ${version}`;
  const file = join(cacheDir("probe"), "kvm.json");
  let cached: Record<string, { verdict: string; at: number } | string> = {};
  try {
    cached = JSON.parse(readFileSync(file, "utf8"));
  } catch {
    // none yet, or unreadable: probe again
  }
  const entry = cached[key];
  // A failed probe is re-tried after a day (a busy /dev/kvm or a bad image should not pin TCG
  // for good); a working one is kept.
  let verdict = typeof entry === "object" && (entry.verdict === "ok" || Date.now() - entry.at < 86_400_000) ? entry.verdict : undefined;
  if (verdict === undefined) {
    const r = await boot({ kernel, initrd, accel: KVM, cmdline: ["cgstore.probe=1"], timeoutMs: 15_000, stopAt: /CGSTORE-PROBE-OK/ });
    verdict = /CGSTORE-PROBE-OK/.test(r.log) ? "ok" : r.timedOut ? "hangs" : `fails: ${r.log.trim().split("\n").pop()}`;
    const tmp = `${file}.${process.pid}`; // write then rename: concurrent runs never read half a file
    writeFileSync(tmp, JSON.stringify({ ...cached, [key]: { verdict, at: Date.now() } }, null, 1));
    renameSync(tmp, file);
  }
  return verdict === "ok" ? { accel: KVM, why: "KVM probe booted" } : { accel: TCG, why: `KVM ${verdict} (probe cached in ${file})` };
}

/**
 * For tests that run cgstore the way a user's machine would: a bin directory holding only what
 * it names (no compiler, no other runtime), and the URL a starting `cgstore serve` prints.
 */
import { spawn, type ChildProcess, type SpawnOptions } from "node:child_process";
import { existsSync, mkdirSync, symlinkSync } from "node:fs";
import { join } from "node:path";

/** sh, and the tools the demo's watchdog uses. */
const SHELL_TOOLS = ["sh", "sleep", "seq", "rmdir"];

/** Makes `dir` a PATH directory of sh, the watchdog's tools, and `extra` (name → target). */
export function bareBin(dir: string, extra: Record<string, string> = {}): string {
  mkdirSync(dir, { recursive: true });
  for (const t of SHELL_TOOLS) {
    // Where this process finds it (a busybox directory in the kernel matrix's guests).
    const dirs = ["/bin", "/usr/bin", ...(process.env.PATH ?? "").split(":").filter(Boolean)];
    const target = dirs.map((d) => join(d, t)).find(existsSync);
    if (target) symlinkSync(target, join(dir, t));
  }
  for (const [name, target] of Object.entries(extra)) symlinkSync(target, join(dir, name));
  return dir;
}

/** The environment for a process that gets only `bin` on its PATH. */
export function bareEnv(bin: string): Record<string, string> {
  // Deno trusts the system's CA store (a proxy's CA installed there, as on a user's machine
  // behind one) only when told; proxy settings pass through as a user's shell would have them.
  const env: Record<string, string> = { PATH: bin, HOME: process.env.HOME ?? "/root", DENO_TLS_CA_STORE: "system,mozilla" };
  for (const k of [
    "LIBBPF_PATH", "DENO_DIR", "XDG_CACHE_HOME", "DENO_CERT", "DENO_TLS_CA_STORE",
    "HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "NO_PROXY", "no_proxy",
  ]) if (process.env[k]) env[k] = process.env[k]!;
  return env;
}

/** The base URL `cgstore serve` prints once it listens; rejects if it exits first. */
export function serveUrl(proc: ChildProcess): Promise<string> {
  let err = "";
  proc.stderr?.on("data", (d: Buffer) => (err += d));
  return new Promise<string>((ok, fail) => {
    proc.stdout!.on("data", (d: Buffer) => {
      const m = /(http:\/\/\S+)\/metrics/.exec(d.toString());
      if (m) ok(m[1]!);
    });
    proc.once("exit", (code) => fail(new Error(`serve exited ${code}: ${err}`)));
  });
}

/**
 * Starts `argv` (a `cgstore serve …` command line), runs `traffic` once it listens, scrapes
 * /metrics once and kills it: the response's status and body.
 */
export async function scrapeOnce(argv: string[], options: SpawnOptions, traffic: () => void): Promise<{ status: number; body: string }> {
  // Its own process group: `bunx cgstore` runs serve as a child, which a kill of bunx alone
  // would orphan (still listening, still attached).
  const proc = spawn(argv[0]!, argv.slice(1), { ...options, stdio: ["ignore", "pipe", "pipe"], detached: true });
  try {
    const url = await serveUrl(proc);
    traffic();
    const res = await fetch(`${url}/metrics`);
    return { status: res.status, body: await res.text() };
  } finally {
    try {
      process.kill(-proc.pid!, "SIGKILL");
    } catch {
      proc.kill("SIGKILL"); // already gone, or no group
    }
  }
}

/** A sample line of /metrics for cgroup directory `path` (labelled relative to the cgroup2 mount) with value `value`. */
export function sampleFor(path: string, marker: string, value: number): RegExp {
  const label = path.slice(path.indexOf(marker) - 1);
  return new RegExp(`^\\S+\\{[^}]*cgroup="${label}"[^}]*\\} ${value}$`, "m");
}

/**
 * A private apt setup for Debian suites this machine's apt does not list (bullseye, sid,
 * trixie-backports): its own sources list, package lists and cache under
 * ~/.cache/cgstore/apt/<suites>/, passed to apt-get/apt-cache as `-o Dir::…` options. The
 * mirror (and its keyring) is the one the machine's own apt sources use; the system's apt
 * configuration, lists and cache are never written.
 */
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { cacheDir } from "./cache.ts";

const KEYRING = "/usr/share/keyrings/debian-archive-keyring.gpg";
const FALLBACK_MIRROR = "http://deb.debian.org/debian";
/** Lists older than this are refreshed, so a newer kernel in the suite is seen. */
const MAX_AGE_MS = 7 * 86_400_000;

const run = (args: string[], cmd = "apt-get") => spawnSync(cmd, args, { encoding: "utf8", timeout: 300_000 });

/** A Debian mirror entry of the system's sources: URI and keyring. */
interface Mirror {
  uri: string;
  keyring: string;
}

/**
 * The Debian archive mirror this machine's apt uses: the first enabled `deb` source whose URI
 * ends in `/debian` (not debian-security), from sources.list, *.list and deb822 *.sources.
 */
export function systemMirror(etc = "/etc/apt"): Mirror | null {
  const files = [join(etc, "sources.list")];
  const parts = join(etc, "sources.list.d");
  if (existsSync(parts)) for (const f of readdirSync(parts).sort()) if (/\.(list|sources)$/.test(f)) files.push(join(parts, f));
  const isArchive = (uri: string) => /\/debian\/?$/.test(uri);
  for (const file of files) {
    let text: string;
    try {
      text = readFileSync(file, "utf8");
    } catch {
      continue;
    }
    if (file.endsWith(".sources")) {
      for (const stanza of text.split(/\n\s*\n/)) {
        const field = (name: string) => new RegExp(`^${name}:\\s*(.+)$`, "mi").exec(stanza)?.[1]?.trim();
        if (!/\bdeb\b/.test(field("Types") ?? "") || /^(no|false)$/i.test(field("Enabled") ?? "yes")) continue;
        const uri = (field("URIs") ?? "").split(/\s+/).find(isArchive);
        const signed = field("Signed-By");
        if (uri) return { uri: uri.replace(/\/$/, ""), keyring: signed?.startsWith("/") ? signed : KEYRING };
      }
    } else {
      for (const line of text.split("\n")) {
        const m = /^\s*deb\s+(?:\[([^\]]*)\]\s+)?(\S+)\s+\S+/.exec(line);
        if (!m || !isArchive(m[2]!)) continue;
        const signed = /signed-by=(\S+)/.exec(m[1] ?? "")?.[1];
        return { uri: m[2]!.replace(/\/$/, ""), keyring: signed ?? KEYRING };
      }
    }
  }
  return null;
}

/** What {@link privateApt} found. */
export interface PrivateApt {
  /** `-o` options that point apt-get / apt-cache at the private setup. */
  options: string[];
  /** `linux-*` package names the suites offer. */
  names: string[];
  mirror: string;
  /** Set when the lists could not be refreshed (stale or missing lists are then used as they are). */
  problem?: string;
}

const memo = new Map<string, PrivateApt>();

/**
 * The private apt setup for `suites`, its lists refreshed when missing, older than a week, or
 * without any package `wanted` accepts.
 */
export function privateApt(suites: string[], wanted: (name: string) => boolean): PrivateApt {
  const key = suites.join("+");
  const hit = memo.get(key);
  if (hit) return hit;
  const mirror = systemMirror() ?? { uri: FALLBACK_MIRROR, keyring: KEYRING };
  const dir = cacheDir(join("apt", key));
  const lists = join(dir, "lists"), cache = join(dir, "cache");
  for (const d of [join(lists, "partial"), join(cache, "archives", "partial")]) mkdirSync(d, { recursive: true });
  const sources = join(dir, "sources.list");
  writeFileSync(sources, suites.map((s) => `deb [signed-by=${mirror.keyring}] ${mirror.uri} ${s} main\n`).join(""));
  const options = [
    "-o", `Dir::Etc::SourceList=${sources}`, "-o", "Dir::Etc::SourceParts=/dev/null",
    "-o", `Dir::State::Lists=${lists}`, "-o", `Dir::Cache=${cache}`, "-o", "Dir::State::status=/dev/null",
    "-o", "Acquire::Languages=none",
  ];
  const names = () => (run([...options, "pkgnames", "linux-"], "apt-cache").stdout ?? "").split("\n").filter(Boolean);
  const packages = readdirSync(lists).filter((f) => f.endsWith("_Packages"));
  const age = Math.min(...packages.map((f) => Date.now() - statSync(join(lists, f)).mtimeMs));
  let found = packages.length > 0 ? names() : [];
  let problem: string | undefined;
  if (packages.length === 0 || age > MAX_AGE_MS || !found.some(wanted)) {
    const r = run([...options, "update", "-qq"]);
    if (r.status !== 0) problem = `apt-get update (${suites.join(", ")} from ${mirror.uri}) failed: ${(r.stderr ?? "").trim().split("\n").pop() || r.error}`;
    found = names();
  }
  const result: PrivateApt = { options, names: found, mirror: mirror.uri, problem };
  memo.set(key, result);
  return result;
}

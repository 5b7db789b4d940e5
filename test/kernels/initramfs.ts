/**
 * Builds the guest initramfs for the kernel matrix: busybox, the bun that runs this script,
 * libbpf and every shared library `ldd` names, the host tools the tests call (bpftool, promtool,
 * setpriv), the project (src/, test/, native/build/) and test/kernels/init.sh as /init.
 *
 * The archive is cached under ~/.cache/cgstore/initramfs by a hash of everything that goes into
 * it (paths, modes, file contents), so it is rebuilt only when an input changes. It is written
 * uncompressed: qemu hands it to the guest as is, and decompressing ~170 MB in an emulated CPU
 * would cost more boot time than the cached file costs disk.
 */
import { spawnSync } from "node:child_process";
import { closeSync, existsSync, lstatSync, openSync, readdirSync, readFileSync, readlinkSync, renameSync, rmSync, statSync, utimesSync, writeSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { cacheDir } from "./cache.ts";

/** Where the project lives inside the guest (tests find everything relative to it). */
export const GUEST_PROJECT = "/cgstore";
/** Bumped when the archive's layout changes, so old cached archives are not reused. */
const FORMAT = "cgstore-initramfs-1";
/** Host tools the tests run; a missing one is left out (the tests then skip or fail as on a host without it). */
const TOOLS = ["bpftool", "promtool", "setpriv"];
const PROJECT_DIRS = ["src", "test", "native/build", "examples", "scripts", "contrib"];
const PROJECT_FILES = ["package.json", "bunfig.toml", "tsconfig.json", "deno.json", "README.md"];
/**
 * Not needed in the guest (guest paths); leaving the runner out keeps runner edits from forcing
 * a rebuild.
 */
const SKIP = new Set([`${GUEST_PROJECT.slice(1)}/test/kernels`]);
/** Cached archives kept. */
const KEEP = 3;

type Entry =
  | { kind: "dir" }
  | { kind: "symlink"; target: string }
  | { kind: "file"; mode: number; source: string }
  | { kind: "data"; mode: number; data: Uint8Array };

/** The archive's entries by guest path (no leading slash); parents are added before children. */
class Manifest {
  readonly entries = new Map<string, Entry>();

  dir(path: string): void {
    const parts = path.split("/").filter(Boolean);
    for (let i = 1; i <= parts.length; i++) {
      const p = parts.slice(0, i).join("/");
      if (!this.entries.has(p)) this.entries.set(p, { kind: "dir" });
    }
  }

  put(path: string, entry: Entry): void {
    const p = path.replace(/^\/+/, "");
    this.dir(dirname(p) === "." ? "" : dirname(p));
    this.entries.set(p, entry);
  }

  /**
   * Copies a host path to the same guest path, recreating every symlink on the way
   * (`/lib` → `usr/lib`, `libbpf.so.1` → `libbpf.so.1.1.2`) so the dynamic loader and
   * dlopen find libraries exactly where they are on the host.
   */
  host(path: string): void {
    const parts = resolve(path).split("/").filter(Boolean);
    for (let i = 1; i <= parts.length; i++) {
      const p = "/" + parts.slice(0, i).join("/");
      const st = lstatSync(p);
      if (st.isSymbolicLink()) {
        const target = readlinkSync(p);
        this.put(p, { kind: "symlink", target });
        this.host(join(resolve(dirname(p), target), ...parts.slice(i)));
        return;
      }
      if (i < parts.length || st.isDirectory()) this.dir(p);
      else this.put(p, { kind: "file", mode: st.mode & 0o7777, source: p });
    }
  }

  /** Copies the regular files and symlinks under `hostDir` to `guestDir`. */
  tree(hostDir: string, guestDir: string, rel = ""): void {
    for (const name of readdirSync(join(hostDir, rel)).sort()) {
      const r = rel ? `${rel}/${name}` : name;
      if (SKIP.has(`${guestDir}/${r}`)) continue;
      const src = join(hostDir, r);
      const st = lstatSync(src);
      if (st.isDirectory()) this.tree(hostDir, guestDir, r);
      else if (st.isSymbolicLink()) this.put(`${guestDir}/${r}`, { kind: "symlink", target: readlinkSync(src) });
      else if (st.isFile()) this.put(`${guestDir}/${r}`, { kind: "file", mode: st.mode & 0o7777, source: src });
    }
  }
}

/** The shared libraries (and the ELF interpreter) `ldd` lists for a binary; none for static ones. */
function sharedLibraries(binary: string): string[] {
  const r = spawnSync("ldd", [binary], { encoding: "utf8" });
  if (r.status !== 0) return []; // "not a dynamic executable"
  const libs: string[] = [];
  for (const line of r.stdout.split("\n")) {
    const m = /=>\s*(\/\S+)/.exec(line) ?? /^\s*(\/\S+)\s+\(0x/.exec(line);
    if (m) libs.push(m[1]!);
  }
  return libs;
}

/** Full path of a command on PATH (plus the sbin directories a non-root PATH may lack), or null. */
export function which(cmd: string): string | null {
  const dirs = [...(process.env.PATH ?? "").split(":"), "/usr/local/sbin", "/usr/sbin", "/sbin"];
  for (const d of dirs) {
    const p = join(d || ".", cmd);
    try {
      if (statSync(p).isFile()) return p;
    } catch {}
  }
  return null;
}

/** The libbpf.so.1 that host tests load: $LIBBPF_PATH, else the loader cache's entry. */
function hostLibbpf(): string {
  if (process.env.LIBBPF_PATH) return resolve(process.env.LIBBPF_PATH);
  const r = spawnSync("ldconfig", ["-p"], { encoding: "utf8", env: { ...process.env, PATH: `${process.env.PATH}:/sbin:/usr/sbin` } });
  const m = /libbpf\.so\.1 \(libc6,x86-64\) => (\S+)/.exec(r.stdout ?? "");
  if (!m) throw new Error("libbpf.so.1 not found (ldconfig -p); scripts/setup.sh installs libbpf1");
  return m[1]!;
}

/** What the guest's /init reads: library path for dlopen, and where bun and the project are. */
function guestEnv(libDirs: string[], libbpf: string): string {
  return [
    `export LD_LIBRARY_PATH=${libDirs.join(":")}`,
    `export LIBBPF_PATH=${libbpf}`,
    `export CGSTORE_PROJECT=${GUEST_PROJECT}`,
    "",
  ].join("\n");
}

/** Everything the archive holds, before hashing or writing. */
function manifest(root: string): Manifest {
  const m = new Manifest();
  const busybox = which("busybox");
  if (!busybox) throw new Error("busybox not found; scripts/setup.sh installs busybox-static");
  const binaries = [process.execPath, busybox, hostLibbpf()];
  const tools = TOOLS.map(which).filter((p): p is string => p !== null);
  const libs = new Set<string>();
  for (const b of [...binaries, ...tools]) for (const l of sharedLibraries(b)) libs.add(l);
  libs.add(binaries[2]!);
  for (const l of libs) m.host(l);
  for (const t of tools) m.host(t);
  // Busybox and bun go to fixed places: /bb holds busybox's applet links (made at boot), after
  // the real tools on PATH, so bpftool/setpriv from the host win over busybox's namesakes.
  m.put("bb/busybox", { kind: "file", mode: 0o755, source: busybox });
  m.put("usr/local/bin/bun", { kind: "file", mode: 0o755, source: process.execPath });
  m.put("init", { kind: "file", mode: 0o755, source: join(root, "test/kernels/init.sh") });
  const libDirs = [...new Set([...libs].map((l) => dirname(l)))];
  m.put("etc/cgstore-guest.env", { kind: "data", mode: 0o644, data: new TextEncoder().encode(guestEnv(libDirs, hostLibbpf())) });
  m.put("etc/hostname", { kind: "data", mode: 0o644, data: new TextEncoder().encode("cgstore-guest\n") });
  m.put("etc/passwd", { kind: "data", mode: 0o644, data: new TextEncoder().encode("root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/sh\n") });
  m.put("etc/group", { kind: "data", mode: 0o644, data: new TextEncoder().encode("root:x:0:\nnogroup:x:65534:\n") });
  for (const d of ["proc", "sys", "dev", "tmp", "root", "run"]) m.dir(d);
  for (const d of PROJECT_DIRS) m.tree(join(root, d), `${GUEST_PROJECT.slice(1)}/${d}`);
  for (const f of PROJECT_FILES) if (existsSync(join(root, f))) m.put(`${GUEST_PROJECT}/${f}`, { kind: "file", mode: 0o644, source: join(root, f) });
  // The package's runtime dependencies (yaml, bcryptjs: neither has dependencies of its own).
  const deps = Object.keys((JSON.parse(readFileSync(join(root, "package.json"), "utf8")) as { dependencies?: Record<string, string> }).dependencies ?? {});
  for (const d of deps) m.tree(join(root, "node_modules", d), `${GUEST_PROJECT.slice(1)}/node_modules/${d}`);
  return m;
}

function contents(e: Entry): Uint8Array {
  if (e.kind === "file") return readFileSync(e.source);
  if (e.kind === "data") return e.data;
  if (e.kind === "symlink") return new TextEncoder().encode(e.target);
  return new Uint8Array(0);
}

/** A content hash of the manifest: paths, kinds, modes and bytes, in a fixed order. */
function hashOf(m: Manifest): string {
  const h = new Bun.CryptoHasher("sha256");
  h.update(FORMAT);
  for (const [path, e] of [...m.entries].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
    const body = contents(e);
    h.update(`\0${path}\0${e.kind}\0${"mode" in e ? e.mode : 0}\0${body.length}\0`);
    h.update(body);
  }
  return h.digest("hex").slice(0, 20);
}

/** One newc ("070701") cpio header + name, padded to 4 bytes, as the kernel's unpacker expects. */
function cpioHeader(ino: number, mode: number, size: number, name: string): Uint8Array {
  const hex = (n: number) => n.toString(16).padStart(8, "0");
  const nameBytes = new TextEncoder().encode(name + "\0");
  // ino, mode, uid, gid, nlink, mtime (0: reproducible), filesize, dev maj/min, rdev maj/min, namesize, check
  const fields = [ino, mode, 0, 0, 1, 0, size, 0, 0, 0, 0, nameBytes.length, 0].map(hex).join("");
  const head = new TextEncoder().encode("070701" + fields);
  const out = new Uint8Array(pad4(head.length + nameBytes.length));
  out.set(head);
  out.set(nameBytes, head.length);
  return out;
}

const pad4 = (n: number) => (n + 3) & ~3;
const S_IFDIR = 0o040000, S_IFREG = 0o100000, S_IFLNK = 0o120000;

function writeCpio(m: Manifest, out: string): void {
  const fd = openSync(out, "w");
  try {
    let ino = 1;
    const zeros = new Uint8Array(4);
    for (const [path, e] of m.entries) {
      const body = contents(e);
      const mode = e.kind === "dir" ? S_IFDIR | 0o755 : e.kind === "symlink" ? S_IFLNK | 0o777 : S_IFREG | e.mode;
      writeSync(fd, cpioHeader(ino++, mode, body.length, path));
      writeSync(fd, body);
      writeSync(fd, zeros, 0, pad4(body.length) - body.length);
    }
    writeSync(fd, cpioHeader(0, 0, 0, "TRAILER!!!"));
  } finally {
    closeSync(fd);
  }
}

/** Result of {@link buildInitramfs}: the archive path and whether this call had to write it. */
export interface Initramfs {
  path: string;
  hash: string;
  built: boolean;
  bytes: number;
}

/**
 * Returns the initramfs for the project at `root`, building it only when no archive with the
 * same content hash is cached. Only the {@link KEEP} most recently used archives are kept (each
 * is ~170 MB; more than one because several checkouts may share the cache).
 */
export function buildInitramfs(root: string): Initramfs {
  const m = manifest(root);
  const hash = hashOf(m);
  const dir = cacheDir("initramfs");
  const path = join(dir, `${hash}.cpio`);
  let built = false;
  if (existsSync(path)) {
    const now = new Date();
    utimesSync(path, now, now); // most recently used: pruned last
  } else {
    const tmp = `${path}.${process.pid}.tmp`; // rename: a concurrent run never sees half a file
    writeCpio(m, tmp);
    renameSync(tmp, path);
    built = true;
    const old = readdirSync(dir)
      .filter((f) => f.endsWith(".cpio"))
      .map((f) => ({ f, t: statSync(join(dir, f)).mtimeMs }))
      .sort((a, b) => b.t - a.t)
      .slice(KEEP);
    for (const { f } of old) rmSync(join(dir, f), { force: true });
  }
  return { path, hash, built, bytes: statSync(path).size };
}

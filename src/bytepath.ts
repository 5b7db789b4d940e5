/**
 * Directory operations on byte paths, for walking and removing cgroup trees. A cgroup's name
 * may hold any byte but "/" and NUL; string-path file APIs cannot address one that is not
 * UTF-8 (Deno's turn such bytes into U+FFFD), so these go through libc via the FFI layer and
 * behave the same on every runtime.
 * @internal
 */
import { constants } from "node:fs";
import { libbpf } from "./ffi/index.ts";
import { BpfError, ENOENT, ENOTDIR } from "./errors.ts";
import { decodeDirent64, DT_DIR, DT_UNKNOWN } from "./ffi/structs.ts";

/** A path as bytes, without the terminating NUL. */
export type BytePath = Uint8Array;

const encoder = new TextEncoder();
const S_IFMT = 0o170000, S_IFDIR = 0o040000;
const AT_FDCWD = -100, AT_EMPTY_PATH = 0x1000;
// O_DIRECTORY differs by architecture (x86-64 0o200000 is O_DIRECT on arm64): take the
// platform's. O_CLOEXEC (0o2000000) is the same on x86-64 and arm64.
const { O_RDONLY, O_WRONLY, O_DIRECTORY } = constants;
const O_CLOEXEC = 0o2000000;

export function toBytePath(path: string | Uint8Array): BytePath {
  return typeof path === "string" ? encoder.encode(path) : path;
}

/** `dir` + "/" + `name`. */
export function joinBytes(dir: BytePath, name: Uint8Array | string): BytePath {
  const n = toBytePath(name);
  const out = new Uint8Array(dir.length + 1 + n.length);
  out.set(dir);
  out[dir.length] = 0x2f;
  out.set(n, dir.length + 1);
  return out;
}

/** For error messages: the path as text, with bytes that are not UTF-8 as U+FFFD. */
const show = (path: BytePath) => new TextDecoder().decode(path);

/** The kernel's refusal as a `BpfError` (kind from the errno: EACCES is `permission` …). */
function fail(op: string, path: BytePath, rc: number): BpfError {
  return new BpfError("cgroup", `${op} ${show(path)}`, { errno: -rc });
}

export interface DirEntry {
  /** The entry's name, as the bytes the kernel holds. */
  name: Uint8Array;
  /** Its inode number (for a cgroup: the cgroup id). */
  ino: number;
  isDir: boolean;
}

/** Entries of `dir` (without "." and ".."), or null when it is gone or not a directory. */
export function listDir(dir: BytePath): DirEntry[] | null {
  const records = libbpf.readDir(dir);
  if (typeof records === "number") {
    if (records === -ENOENT || records === -ENOTDIR) return null;
    throw fail("cannot list", dir, records);
  }
  const out: DirEntry[] = [];
  for (const r of records) {
    const { name, ino, type } = decodeDirent64(r);
    if ((name.length === 1 && name[0] === 0x2e) || (name.length === 2 && name[0] === 0x2e && name[1] === 0x2e)) continue;
    // Filesystems may leave d_type unknown (cgroupfs fills it in): then ask stat.
    const isDir = type === DT_UNKNOWN ? isDirectory(joinBytes(dir, name)) : type === DT_DIR;
    out.push({ name, ino, isDir });
  }
  return out;
}

function isDirectory(path: BytePath): boolean {
  const st = libbpf.statx(AT_FDCWD, path, 0);
  return typeof st !== "number" && (st.mode & S_IFMT) === S_IFDIR;
}

/** `statx(2)` of `path`: its inode number and whether it is a directory, or `-errno`. */
export function statPath(path: BytePath): { ino: number; isDir: boolean } | number {
  const st = libbpf.statx(AT_FDCWD, path, 0);
  return typeof st === "number" ? st : { ino: st.ino, isDir: (st.mode & S_IFMT) === S_IFDIR };
}

/** The inode number of `path`, or null when it does not exist. */
export function inodeOf(path: BytePath): number | null {
  const st = libbpf.statx(AT_FDCWD, path, 0);
  if (st === -ENOENT || st === -ENOTDIR) return null;
  if (typeof st === "number") throw fail("cannot stat", path, st);
  return st.ino;
}

/** The inode number of the file `fd` is open on. */
export function inodeOfFd(fd: number): number {
  const st = libbpf.statx(fd, new Uint8Array(0), AT_EMPTY_PATH);
  if (typeof st === "number") throw new BpfError("cgroup", `cannot stat fd ${fd}`, { errno: -st });
  return st.ino;
}

/** The target of a symbolic link (e.g. `/proc/self/fd/N`), or null when it cannot be read. */
export function readLink(path: string): string | null {
  const target = libbpf.readlink(toBytePath(path));
  return typeof target === "number" ? null : new TextDecoder().decode(target);
}

/** An O_RDONLY|O_DIRECTORY fd for `dir` (close it with {@link closeFd}), or null when gone. */
export function openDirectory(dir: BytePath): number | null {
  const fd = libbpf.open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd === -ENOENT || fd === -ENOTDIR) return null;
  if (fd < 0) throw fail("cannot open", dir, fd);
  return fd;
}

export function closeFd(fd: number): void {
  libbpf.close(fd);
}

/** rmdir(2): 0 or `-errno`. */
export function removeDir(dir: BytePath): number {
  return libbpf.rmdir(dir);
}

/** A small text file (cgroup.procs), or null when it is gone. */
export function readText(path: BytePath): string | null {
  const fd = libbpf.open(path, O_RDONLY | O_CLOEXEC);
  if (fd === -ENOENT) return null;
  if (fd < 0) throw fail("cannot open", path, fd);
  try {
    const chunks: Uint8Array[] = [];
    for (;;) {
      const buf = new Uint8Array(4096);
      const n = libbpf.read(fd, buf);
      if (n < 0) throw fail("cannot read", path, n);
      if (n === 0) break;
      chunks.push(buf.subarray(0, n));
    }
    const all = new Uint8Array(chunks.reduce((s, c) => s + c.length, 0));
    let at = 0;
    for (const c of chunks) {
      all.set(c, at);
      at += c.length;
    }
    return new TextDecoder().decode(all);
  } finally {
    libbpf.close(fd);
  }
}

/** Writes `text` to an existing file in one write(2) (cgroup.procs takes one pid per write): 0 or `-errno`. */
export function writeText(path: BytePath, text: string): number {
  const fd = libbpf.open(path, O_WRONLY | O_CLOEXEC);
  if (fd < 0) return fd;
  try {
    const n = libbpf.write(fd, encoder.encode(text));
    return n < 0 ? n : 0;
  } finally {
    libbpf.close(fd);
  }
}

/**
 * The libc calls both backends make the same way once each runtime has bound the raw
 * functions: only how a symbol is declared and called differs between bun:ffi and Deno.dlopen.
 * @internal
 */
import type { Libbpf } from "./types.ts";

/** libc functions as a backend binds them (paths NUL-terminated by {@link cString}; ssize_t may be a bigint). */
export interface RawLibc {
  close(fd: number): number;
  fcntl(fd: number, cmd: number, arg: number): number;
  statx(dirfd: number, path: Uint8Array, flags: number, mask: number, buf: Uint8Array): number;
  readlink(path: Uint8Array, buf: Uint8Array, size: number): number | bigint;
  open(path: Uint8Array, flags: number): number;
  read(fd: number, buf: Uint8Array, count: number): number | bigint;
  write(fd: number, buf: Uint8Array, count: number): number | bigint;
  rmdir(path: Uint8Array): number;
}

const encoder = new TextEncoder();

/**
 * A NUL-terminated copy of a path or name for a `const char *` parameter. A NUL inside would make
 * C read a shorter string (another file, another cgroup), so it is refused.
 */
export function cString(s: string | Uint8Array): Uint8Array {
  const bytes = typeof s === "string" ? encoder.encode(s) : s;
  if (bytes.includes(0)) {
    throw new RangeError(`cgstore: ${JSON.stringify(new TextDecoder().decode(bytes))} contains a NUL byte; paths and names cannot hold one`);
  }
  const out = new Uint8Array(bytes.length + 1);
  out.set(bytes);
  return out;
}

const F_DUPFD_CLOEXEC = 1030;
const STATX_TYPE = 0x1, STATX_MODE = 0x2, STATX_INO = 0x100;

/** The {@link Libbpf} members that are plain libc calls, returning `-errno` on failure. */
export function posixCalls(libc: RawLibc, errno: () => number): Pick<
  Libbpf, "statx" | "readlink" | "open" | "read" | "write" | "rmdir" | "close" | "dupCloexec"
> {
  const result = (r: number | bigint) => {
    const n = Number(r);
    return n >= 0 ? n : -errno();
  };
  return {
    // statx, not stat: its struct is the same on every architecture, and glibc exports it since
    // 2.28 (a plain `stat` symbol only since 2.33).
    statx: (dirfd, path, flags) => {
      const stx = new Uint8Array(256); // sizeof(struct statx)
      if (libc.statx(dirfd, cString(path), flags, STATX_TYPE | STATX_MODE | STATX_INO, stx) !== 0) return -errno();
      const v = new DataView(stx.buffer);
      return { ino: v.getUint32(32, true) + v.getUint32(36, true) * 2 ** 32, mode: v.getUint16(28, true) };
    },
    readlink: (path) => {
      const buf = new Uint8Array(4096);
      const n = Number(libc.readlink(cString(path), buf, buf.byteLength));
      return n >= 0 ? buf.slice(0, n) : -errno();
    },
    open: (path, flags) => result(libc.open(cString(path), flags)),
    read: (fd, buf) => result(libc.read(fd, buf, buf.byteLength)),
    write: (fd, buf) => result(libc.write(fd, buf, buf.byteLength)),
    rmdir: (path) => (libc.rmdir(cString(path)) === 0 ? 0 : -errno()),
    close: (fd) => (libc.close(fd) === 0 ? 0 : -errno()),
    dupCloexec: (fd) => result(libc.fcntl(fd, F_DUPFD_CLOEXEC, 0)),
  };
}

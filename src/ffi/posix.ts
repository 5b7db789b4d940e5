/**
 * The plain libc calls of {@link Libbpf}, over the symbols `LIBC_SYMBOLS` declares, and the
 * NUL-terminated strings every path and name parameter takes.
 * @internal
 */
import type { Libbpf } from "./types.ts";
import type { LIBC_SYMBOLS, Symbols } from "./symbols.ts";
import { decodeStatx, STATX_MASK, statxBuffer } from "./structs.ts";

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

const F_DUPFD_CLOEXEC = 1030, F_GETFL = 3, O_ACCMODE = 3;

/** The {@link Libbpf} members that are plain libc calls, returning `-errno` on failure. */
export function posixCalls(libc: Symbols<typeof LIBC_SYMBOLS>, errno: () => number): Pick<
  Libbpf, "statx" | "readlink" | "open" | "read" | "write" | "rmdir" | "close" | "dupCloexec" | "accessMode"
> {
  const result = (r: number | bigint) => {
    const n = Number(r);
    return n >= 0 ? n : -errno();
  };
  return {
    // statx, not stat: its struct is the same on every architecture, and glibc exports it since
    // 2.28 (a plain `stat` symbol only since 2.33).
    statx: (dirfd, path, flags) => {
      const stx = statxBuffer();
      if (libc.statx(dirfd, cString(path), flags, STATX_MASK, stx) !== 0) return -errno();
      return decodeStatx(stx);
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
    accessMode: (fd) => {
      const flags = libc.fcntl(fd, F_GETFL, 0);
      return flags < 0 ? -errno() : flags & O_ACCMODE;
    },
  };
}

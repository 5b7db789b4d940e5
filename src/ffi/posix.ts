/**
 * The libc calls both backends make the same way once each runtime has bound the raw
 * functions: only how a symbol is declared and called differs between bun:ffi and Deno.dlopen.
 * @internal
 */
import type { Libbpf } from "./types.ts";

/** libc functions as a backend binds them (byte paths NUL-terminated; ssize_t may be a bigint). */
export interface RawLibc {
  close(fd: number): number;
  fcntl(fd: number, cmd: number, arg: number): number;
  stat(path: Uint8Array, buf: Uint8Array): number;
  open(path: Uint8Array, flags: number): number;
  read(fd: number, buf: Uint8Array, count: number): number | bigint;
  write(fd: number, buf: Uint8Array, count: number): number | bigint;
  rmdir(path: Uint8Array): number;
}

const F_DUPFD_CLOEXEC = 1030;

/** The {@link Libbpf} members that are plain libc calls, returning `-errno` on failure. */
export function posixCalls(libc: RawLibc, errno: () => number): Pick<
  Libbpf, "statIno" | "open" | "read" | "write" | "rmdir" | "close" | "dupCloexec"
> {
  const result = (r: number | bigint) => {
    const n = Number(r);
    return n >= 0 ? n : -errno();
  };
  return {
    statIno: (path) => {
      const st = new Uint8Array(256); // sizeof(struct stat): 144 on x86-64, 128 on arm64
      if (libc.stat(path, st) !== 0) return -errno();
      return Number(new DataView(st.buffer).getBigUint64(8, true)); // st_ino: offset 8 on both
    },
    open: (path, flags) => result(libc.open(path, flags)),
    read: (fd, buf) => result(libc.read(fd, buf, buf.byteLength)),
    write: (fd, buf) => result(libc.write(fd, buf, buf.byteLength)),
    rmdir: (path) => (libc.rmdir(path) === 0 ? 0 : -errno()),
    close: (fd) => (libc.close(fd) === 0 ? 0 : -errno()),
    dupCloexec: (fd) => result(libc.fcntl(fd, F_DUPFD_CLOEXEC, 0)),
  };
}

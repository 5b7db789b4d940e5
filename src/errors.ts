/**
 * `BpfError`: every failing kernel or libbpf call, with the errno's name, the operation, and a
 * hint where the kernel's bare errno hides the rule that was broken.
 */

const ERRNO_NAMES: Record<number, string> = {
  1: "EPERM", 2: "ENOENT", 3: "ESRCH", 4: "EINTR", 5: "EIO", 6: "ENXIO", 7: "E2BIG",
  9: "EBADF", 11: "EAGAIN", 12: "ENOMEM", 13: "EACCES", 14: "EFAULT", 16: "EBUSY",
  17: "EEXIST", 19: "ENODEV", 20: "ENOTDIR", 21: "EISDIR", 22: "EINVAL", 23: "ENFILE",
  24: "EMFILE", 28: "ENOSPC", 34: "ERANGE", 36: "ENAMETOOLONG", 38: "ENOSYS", 40: "ELOOP",
  95: "EOPNOTSUPP",
  // Kernel-internal, leaks to user space from BPF syscalls; strerror knows it as "Unknown error 524".
  524: "ENOTSUPP",
  // libbpf's own codes (libbpf.h enum libbpf_errno).
  4000: "LIBBPF_ERRNO__LIBELF", 4001: "LIBBPF_ERRNO__FORMAT", 4002: "LIBBPF_ERRNO__KVERSION",
  4003: "LIBBPF_ERRNO__ENDIAN", 4004: "LIBBPF_ERRNO__INTERNAL", 4005: "LIBBPF_ERRNO__RELOC",
  4006: "LIBBPF_ERRNO__LOAD", 4007: "LIBBPF_ERRNO__VERIFY", 4008: "LIBBPF_ERRNO__PROG2BIG",
  4009: "LIBBPF_ERRNO__KVER", 4010: "LIBBPF_ERRNO__PROGTYPE", 4011: "LIBBPF_ERRNO__WRNGPID",
  4012: "LIBBPF_ERRNO__INVSEQ", 4013: "LIBBPF_ERRNO__NLATTR",
};

/** errno values the library branches on. */
export const ENOENT = 2, EBUSY = 16, ENOTDIR = 20;

/** The symbolic name of an errno (`ENOENT`), or `E<n>` for ones we do not name. */
export function errnoName(errno: number): string {
  return ERRNO_NAMES[errno] ?? `E${errno}`;
}

/** What a caller was doing when the kernel said no. */
export type BpfOp =
  | "lookup"
  | "update"
  | "delete"
  | "get_next_key"
  | "create"
  | "open"
  | "info"
  | "pin"
  | "attach"
  | "detach"
  | "load";

/** A failed BPF operation. Test `code` (`"ENOENT"`, `"EPERM"` …), not the message. */
export class BpfError extends Error {
  override readonly name = "BpfError";
  /** Positive errno. */
  readonly errno: number;
  /** Symbolic errno (`"EINVAL"`; 524 is `"ENOTSUPP"`). */
  readonly code: string;
  readonly op: BpfOp;
  /** What to do about it, when the errno alone does not say. */
  readonly hint: string | undefined;

  constructor(op: BpfOp, errno: number, detail: string, hint?: string) {
    const code = errnoName(errno);
    super(`${op}: ${detail}: ${code} (errno ${errno})${hint ? `. ${hint}` : ""}`);
    this.errno = errno;
    this.code = code;
    this.op = op;
    this.hint = hint;
  }
}

/**
 * Input that breaks one of the kernel's rules, caught before any syscall. The message names the
 * rule and the fix. `code` is `"EINVAL"` (or `"E2BIG"` for sizes) like the kernel would say.
 */
export class BpfRuleError extends BpfError {
  constructor(op: BpfOp, rule: string, errno = 22) {
    super(op, errno, rule);
    this.message = `${op}: ${rule}`;
  }
}

const PRIVILEGE_HINT =
  "BPF needs root or CAP_BPF + CAP_NET_ADMIN (and kernel.unprivileged_bpf_disabled allows " +
  "nothing else); run as root";

/** A `BpfError` for `-rc` returned by libbpf, with the hint the errno needs in this context. */
export function bpfError(op: BpfOp, rc: number, detail: string, hint?: string): BpfError {
  const errno = rc < 0 ? -rc : rc;
  if (!hint && (errno === 1 || errno === 13)) hint = PRIVILEGE_HINT;
  if (!hint && errno === 524) {
    hint = "the kernel does not support this operation on this map type";
  }
  return new BpfError(op, errno, detail, hint);
}

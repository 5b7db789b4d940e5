/**
 * The one error model: every error cgstore throws has a stable `kind` that callers (and the CLI's
 * exit codes) branch on. Kernel failures are `BpfError`s carrying the kernel's real errno;
 * failures that never reached the kernel carry none: broken rules are `BpfRuleError`s naming the
 * rule, wrong JavaScript types are `BpfTypeError`s (a `TypeError`) naming the expected type.
 */

const ERRNO_NAMES: Record<number, string> = {
  1: "EPERM", 2: "ENOENT", 3: "ESRCH", 4: "EINTR", 5: "EIO", 6: "ENXIO", 7: "E2BIG",
  9: "EBADF", 11: "EAGAIN", 12: "ENOMEM", 13: "EACCES", 14: "EFAULT", 16: "EBUSY",
  17: "EEXIST", 19: "ENODEV", 20: "ENOTDIR", 21: "EISDIR", 22: "EINVAL", 23: "ENFILE",
  24: "EMFILE", 28: "ENOSPC", 30: "EROFS", 34: "ERANGE", 36: "ENAMETOOLONG", 38: "ENOSYS",
  39: "ENOTEMPTY", 40: "ELOOP", 95: "EOPNOTSUPP",
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
export const EPERM = 1, ENOENT = 2, EBADF = 9, EACCES = 13, EBUSY = 16, EEXIST = 17, ENOTDIR = 20,
  EINVAL = 22, E2BIG = 7, ENOTEMPTY = 39;

/** The symbolic name of an errno (`ENOENT`), or `E<n>` for ones we do not name. */
export function errnoName(errno: number): string {
  return ERRNO_NAMES[errno] ?? `E${errno}`;
}

/**
 * What went wrong, for callers to branch on (stable across versions):
 * - `not-found`: no such map, pin, id, cgroup, object member or entry;
 * - `permission`: the process may not do this (capabilities, file modes, a read-only fd);
 * - `unsupported`: this kernel or map type cannot do it at all;
 * - `closed`: the handle was closed;
 * - `rule`: an input breaks one of the kernel's (or cgstore's) rules; the message names it;
 * - `type`: a JavaScript value of the wrong type (a `TypeError`);
 * - `environment`: the machine lacks what cgstore needs (libbpf, a cgroup2 mount, bpffs);
 * - `kernel`: any other errno the kernel answered with.
 */
export type ErrorKind =
  | "not-found" | "permission" | "unsupported" | "closed" | "rule" | "type" | "environment" | "kernel";

/** What a caller was doing. */
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
  | "load"
  | "cgroup"
  | "collect";

/** The kind an errno means when nothing more specific is known. */
export function kindOfErrno(errno: number): ErrorKind {
  switch (errno) {
    case ENOENT: return "not-found";
    case EPERM: case EACCES: return "permission";
    case 95: case 524: case 38: return "unsupported";
    default: return "kernel";
  }
}

/** Options of the `BpfError` constructor. */
export interface BpfErrorInit {
  /** The kernel's (or libc's) errno, positive; omitted for failures that never reached it. */
  errno?: number;
  /** What to do about it. */
  hint?: string;
  /** Overrides the kind the errno implies. */
  kind?: ErrorKind;
  cause?: unknown;
}

/**
 * A failed cgstore operation. Branch on `kind` (or, for kernel refusals, `code`: `"ENOENT"`,
 * `"EPERM"` …), not on the message.
 */
export class BpfError extends Error {
  override readonly name: string = "BpfError";
  /** Stable category; see {@link ErrorKind}. */
  readonly kind: ErrorKind;
  /** The kernel's positive errno, or undefined when the failure never reached the kernel. */
  readonly errno: number | undefined;
  /** Symbolic errno (`"EINVAL"`; 524 is `"ENOTSUPP"`), or undefined with `errno`. */
  readonly code: string | undefined;
  readonly op: BpfOp;
  /** What to do about it, when the message alone does not say. */
  readonly hint: string | undefined;

  constructor(op: BpfOp, detail: string, init: BpfErrorInit = {}) {
    const { errno, hint } = init;
    const code = errno === undefined ? undefined : errnoName(errno);
    super(`${op}: ${detail}${code === undefined ? "" : `: ${code} (errno ${errno})`}${hint ? `. ${hint}` : ""}`,
      init.cause === undefined ? undefined : { cause: init.cause });
    this.errno = errno;
    this.code = code;
    this.op = op;
    this.hint = hint;
    this.kind = init.kind ?? (errno === undefined ? "kernel" : kindOfErrno(errno));
  }
}

/**
 * Input that breaks one of the kernel's rules (or cgstore's), caught before any syscall. The
 * message names the rule and the fix. No errno: the kernel was never asked.
 */
export class BpfRuleError extends BpfError {
  override readonly name: string = "BpfRuleError";
  constructor(op: BpfOp, rule: string, hint?: string) {
    super(op, rule, { kind: "rule", hint });
  }
}

/** A JavaScript value of the wrong type: a `TypeError` that also carries `kind: "type"`. */
export class BpfTypeError extends TypeError {
  override readonly name: string = "BpfTypeError";
  readonly kind = "type" as const;
  readonly errno: undefined = undefined;
  readonly code: undefined = undefined;
  readonly hint: string | undefined = undefined;
  readonly op: BpfOp;
  constructor(op: BpfOp, message: string) {
    super(`${op}: ${message}`);
    this.op = op;
  }
}

/** Throws a `BpfTypeError` saying what `what` should have been and what it was. */
export function typeMismatch(op: BpfOp, what: string, expected: string, got: unknown): never {
  throw new BpfTypeError(op, `${what} must be ${expected}; got ${describeValue(got)}`);
}

/** `a string ("x")`, `an object ({cgroupId, …})`, `undefined` … for type errors. */
export function describeValue(v: unknown): string {
  if (v === null) return "null";
  if (v === undefined) return "undefined";
  if (typeof v === "string") return `a string (${JSON.stringify(v.length > 40 ? `${v.slice(0, 40)}…` : v)})`;
  if (typeof v === "number" || typeof v === "bigint" || typeof v === "boolean") return `${typeof v} ${String(v)}`;
  if (ArrayBuffer.isView(v)) return `a ${v.constructor.name} of ${v.byteLength} bytes`;
  if (Array.isArray(v)) return `an array of ${v.length}`;
  if (typeof v === "function") return "a function";
  const name = (v as object).constructor?.name;
  return name && name !== "Object" ? `a ${name}` : `an object ({${Object.keys(v as object).slice(0, 4).join(", ")}})`;
}

/** The `kind` of any error cgstore threw, or undefined for errors that are not cgstore's. */
export function errorKind(e: unknown): ErrorKind | undefined {
  if (e instanceof BpfError || e instanceof BpfTypeError) return e.kind;
  return undefined;
}

/** The error thrown by a handle used after `close()`. */
export function closedError(op: BpfOp, what: string): BpfError {
  return new BpfError(op, `${what} is closed`, { kind: "closed", hint: "open it again; a closed handle stays closed" });
}

/** The error for a machine that lacks what cgstore needs (libbpf, cgroup2, bpffs). */
export function environmentError(op: BpfOp, detail: string, hint?: string, cause?: unknown): BpfError {
  return new BpfError(op, detail, { kind: "environment", hint, cause });
}

const PRIVILEGE_HINT =
  "BPF needs root or CAP_BPF + CAP_NET_ADMIN (and kernel.unprivileged_bpf_disabled allows " +
  "nothing else); run as root";

/** A `BpfError` for `-rc` returned by libbpf, with the hint the errno needs in this context. */
export function bpfError(op: BpfOp, rc: number, detail: string, hint?: string, kind?: ErrorKind): BpfError {
  const errno = rc < 0 ? -rc : rc;
  if (!hint && (errno === EPERM || errno === EACCES)) hint = PRIVILEGE_HINT;
  if (!hint && errno === 524) hint = "the kernel does not support this operation on this map type";
  return new BpfError(op, detail, { errno, hint, kind });
}

/** Plain data for an error crossing a Worker boundary (structured clone keeps no class). */
export interface SerializedError {
  name: string;
  message: string;
  kind?: ErrorKind;
  errno?: number;
  op?: BpfOp;
  hint?: string;
  stack?: string;
}

/** An error as plain data, for `postMessage`. */
export function serializeError(e: unknown): SerializedError {
  if (e instanceof BpfError || e instanceof BpfTypeError) {
    return { name: e.name, message: e.message, kind: e.kind, errno: e.errno, op: e.op, hint: e.hint, stack: e.stack };
  }
  const err = e instanceof Error ? e : new Error(String(e));
  return { name: err.name, message: err.message, stack: err.stack };
}

/** The error a `serializeError` result stands for, with its class, errno, code, kind and hint. */
export function deserializeError(s: SerializedError, where: string): Error {
  let e: Error;
  if (s.name === "BpfTypeError") e = new BpfTypeError(s.op ?? "collect", "");
  else if (s.kind !== undefined) {
    e = s.name === "BpfRuleError" ? new BpfRuleError(s.op ?? "collect", "", s.hint)
      : new BpfError(s.op ?? "collect", "", { errno: s.errno, hint: s.hint, kind: s.kind });
  } else e = s.name === "TypeError" ? new TypeError("") : s.name === "RangeError" ? new RangeError("") : new Error("");
  e.message = `${where}: ${s.message}`;
  if (s.stack) e.stack = `${e.name}: ${e.message}\n${where} stack:\n${s.stack}`;
  return e;
}

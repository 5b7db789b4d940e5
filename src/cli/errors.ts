/** CLI exit codes and the errors that map to them. */

/** Documented in `cgstore --help`. */
export const Exit = {
  OK: 0,
  /** The operation failed: not a pinned map, not cgroup storage, a kernel refusal. */
  FAILED: 1,
  /** Bad command line. */
  USAGE: 2,
  /** This machine or user cannot do BPF: not root, no libbpf, no cgroup v2, no bpffs. */
  ENVIRONMENT: 3,
  /** The demo's numbers did not add up. */
  MISMATCH: 4,
} as const;

export class UsageError extends Error {
  constructor(message: string, readonly help: string) {
    super(message);
  }
}

export class EnvironmentError extends Error {}

/** The errors for "cgstore cannot reach libbpf here", shared by every runtime backend. @internal */
import { environmentError, type BpfError } from "../errors.ts";

/** libbpf could not be opened at `path` (not installed, wrong LIBBPF_PATH, not a libbpf 1.x). */
export function libbpfMissing(path: string, cause: unknown): BpfError {
  const why = cause instanceof Error ? cause.message : String(cause);
  return environmentError("open", `cannot load ${path} (${why})`,
    "install libbpf 1.x (Debian/Ubuntu: apt-get install libbpf1) or point LIBBPF_PATH at a libbpf.so.1",
    cause);
}

/** The running runtime has no FFI backend. */
export function noFfiBackend(): BpfError {
  return environmentError("open", "this JavaScript runtime has no FFI backend for cgstore",
    "run it with Bun (>= 1.4.4) or Deno (>= 2.9, with --allow-ffi)");
}

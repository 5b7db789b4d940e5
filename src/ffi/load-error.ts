/** The error for "libbpf could not be loaded", shared by every runtime backend. @internal */
import { environmentError, type BpfError } from "../errors.ts";

/** Kind `environment`: the machine lacks libbpf (the CLI exits 3 on it). */
export function libbpfMissing(path: string, cause: unknown): BpfError {
  const why = cause instanceof Error ? cause.message : String(cause);
  return environmentError("load", `cannot load ${path} (${why})`,
    "Install libbpf 1.x (Debian/Ubuntu: apt-get install libbpf1) or point LIBBPF_PATH at a libbpf.so.1", cause);
}

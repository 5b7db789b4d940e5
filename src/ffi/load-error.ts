/** The error for "libbpf could not be loaded", shared by every runtime backend. @internal */
export function libbpfMissing(path: string, cause: unknown): Error {
  const why = cause instanceof Error ? cause.message : String(cause);
  return new Error(
    `cgstore: cannot load ${path} (${why}). ` +
      "Install libbpf 1.x (Debian/Ubuntu: apt-get install libbpf1) " +
      "or point LIBBPF_PATH at a libbpf.so.1.",
    { cause },
  );
}

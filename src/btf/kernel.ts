/** BTF objects loaded from the kernel by id, parsed once and cached. */
import { libbpf } from "../ffi/index.ts";
import { bpfError } from "../errors.ts";
import { Btf } from "./btf.ts";

const cache = new Map<number, Btf>();

/** The kernel's BTF object `id` (a map's `info.btfId`), parsed. */
export function kernelBtf(id: number): Btf {
  const hit = cache.get(id);
  if (hit) return hit;
  const raw = libbpf.btfRawById(id);
  if (typeof raw === "number") {
    throw bpfError("info", raw, `btf__load_from_kernel_by_id(${id})`,
      raw === -2 ? "the BTF object is gone (its map or program was freed)"
      : raw === -1 ? "loading BTF by id needs CAP_SYS_ADMIN (CAP_BPF is not enough)" : undefined);
  }
  const btf = new Btf(raw);
  cache.set(id, btf);
  return btf;
}

/**
 * A map's value layout from the BTF of the object file that defines it (`prog.bpf.o`), for
 * when the kernel's copy cannot be read: loading BTF by id needs CAP_SYS_ADMIN, an object
 * file on disk needs nothing but read permission.
 */
import { libbpf } from "../ffi/index.ts";
import { BpfError, bpfError, ENOENT } from "../errors.ts";
import { Btf, BtfKind } from "./btf.ts";
import { Layout } from "./layout.ts";

/** The kernel keeps at most 15 characters of a map's name (BPF_OBJ_NAME_LEN 16 with the NUL). */
const KERNEL_NAME_LENGTH = 15;

/**
 * The value layout of map `mapName` as the object file `file` declares it: the `value` of its
 * BTF-defined map in the `.maps` section (`__type(value, struct stats)`). `mapName` may be the
 * kernel's name (`map.info.name`, cut to 15 characters) or the full one.
 * ```ts
 * using map = openMap("/sys/fs/bpf/stats", { access: "read" });
 * if (map.layout === null) map.useLayout(layoutFromObjectFile("stats.bpf.o", map.info.name));
 * ```
 * Throws kind "not-found" when the file or the map is missing (naming the maps it has).
 */
export function layoutFromObjectFile(file: string, mapName: string): Layout {
  const raw = libbpf.btfRawFromElf(file);
  if (typeof raw === "number") {
    throw bpfError("info", raw, `btf__parse_elf(${file})`,
      raw === -ENOENT ? `${file} does not exist or has no .BTF section (build it with clang -g)` : undefined);
  }
  return layoutFromBtfMaps(new Btf(raw), mapName, file);
}

/**
 * The value layout of map `mapName` from an object's raw BTF (`what` names the object in
 * messages): what `layoutFromObjectFile` does once the BTF is read, also for objects opened
 * from memory. @internal
 */
export function layoutFromBtfMaps(btf: Btf, mapName: string, what: string): Layout {
  const file = what;
  const maps = btfMaps(btf);
  const hit = maps.find((m) => m.name === mapName) ??
    maps.find((m) => m.name.slice(0, KERNEL_NAME_LENGTH) === mapName.slice(0, KERNEL_NAME_LENGTH));
  if (hit === undefined) {
    throw new BpfError("info", `${file} defines no map "${mapName}" in its .maps section`, {
      kind: "not-found", hint: maps.length ? `it defines ${maps.map((m) => m.name).join(", ")}` : "it has no BTF-defined maps",
    });
  }
  if (hit.valueType === 0) {
    throw new BpfError("info", `map "${hit.name}" in ${file} declares no value type`, { kind: "not-found" });
  }
  return Layout.fromBtf(btf, hit.valueType);
}

/** The maps of a `.maps` DATASEC: each VAR's name, and the type its `value` member points to. */
function btfMaps(btf: Btf): { name: string; valueType: number }[] {
  const out: { name: string; valueType: number }[] = [];
  for (const t of btf.types) {
    if (t?.kind !== BtfKind.DATASEC || t.name !== ".maps") continue;
    for (const m of t.members ?? []) {
      const v = btf.type(m.type);
      if (v.kind !== BtfKind.VAR) continue;
      const def = btf.resolve(v.sizeOrType);
      const value = def.members?.find((f) => f.name === "value");
      // `__type(value, T)` is a member `T *value`.
      const ptr = value ? btf.resolve(value.type) : undefined;
      out.push({ name: v.name, valueType: ptr?.kind === BtfKind.PTR ? ptr.sizeOrType : 0 });
    }
  }
  return out;
}

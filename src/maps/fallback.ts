/**
 * A layout for a map whose own BTF cannot be read (an unprivileged reader: loading BTF by id
 * needs CAP_SYS_ADMIN): from the object file's BTF, else a declared schema, else the value as
 * raw words. Reading a map never fails for want of BTF.
 */
import { Layout } from "../btf/layout.ts";
import { layoutFromObjectFile } from "../btf/object-file.ts";
import type { Schema } from "../btf/schema.ts";
import { CgroupStorageMap } from "./cgroup-storage.ts";
import { PerCpuCgroupStorageMap } from "./percpu-cgroup-storage.ts";
import type { AnyStorageMap } from "./open.ts";

/**
 * Where a map's layout came from: `"map"` (its own BTF, or one declared before), `"object-file"`,
 * `"schema"`, `"words"` (raw `word0`, `word1`… when the BTF exists but could not be read), or
 * `"none"` (the map has no BTF and nothing was given).
 */
export type LayoutOrigin = "map" | "object-file" | "schema" | "words" | "none";

/** What `useFallbackLayout` may use, in this order. */
export interface FallbackLayoutOptions {
  /** An object file (`prog.bpf.o`) whose `.maps` section defines this map (matched by name). */
  objectFile?: string;
  /** The value's fields, declared. */
  schema?: Schema;
}

/**
 * Gives `map` a layout if it has none: from `objectFile`'s BTF, else `schema`, else (when the
 * map's BTF exists but could not be read) raw words. Returns where the layout came from and,
 * when the map's own BTF could not be read, why (`map.btfError`). A bad `objectFile` (missing,
 * no such map, another size) throws: it was asked for.
 * ```ts
 * using map = openMap(pin, { access: "read" });
 * const { origin, btfError } = useFallbackLayout(map, { objectFile: "stats.bpf.o" });
 * ```
 */
export function useFallbackLayout(map: AnyStorageMap, options: FallbackLayoutOptions = {}): { origin: LayoutOrigin; btfError?: Error } {
  const btfError = map.btfError;
  const result = (origin: LayoutOrigin) => (btfError ? { origin, btfError } : { origin });
  if (map.layout !== null) return result("map");
  if (options.objectFile !== undefined) {
    setLayout(map, layoutFromObjectFile(options.objectFile, map.info.name));
    return result("object-file");
  }
  if (options.schema !== undefined) {
    setLayout(map, Layout.fromSchema(options.schema));
    return result("schema");
  }
  if (btfError === undefined) return result("none");
  setLayout(map, Layout.fromSchema(wordsSchema(map.valueSize)));
  return result("words");
}

/** The value as unsigned words `word0`, `word1`…: u64 when the size allows, else u32, else bytes. */
export function wordsSchema(valueSize: number): Schema {
  const [width, type] = valueSize % 8 === 0 ? [8, "u64"] as const : valueSize % 4 === 0 ? [4, "u32"] as const : [1, "u8"] as const;
  const schema: { [field: string]: typeof type } = {};
  for (let i = 0; i < valueSize / width; i++) schema[`word${i}`] = type;
  return schema;
}

function setLayout(map: AnyStorageMap, layout: Layout): void {
  if (map instanceof PerCpuCgroupStorageMap) map.useLayout(layout);
  else if (map instanceof CgroupStorageMap) map.useLayout(layout);
  else map.useLayout(layout);
}

/**
 * Print every entry of a pinned cgroup storage map, fields named by the map's BTF:
 *   bun examples/read-pinned.ts <pin>
 *   deno run --allow-ffi examples/read-pinned.ts <pin>
 */
import { attachTypeName, openMap, PerCpuCgroupStorageMap } from "../src/index.ts";

using map = openMap(process.argv[2] ?? "/sys/fs/bpf/my_map");
console.log(`${map.info.name} (${map.info.typeName}, id ${map.info.id})`);
const print = (cgroupId: number, attachType: number | undefined, fields: unknown) =>
  console.log(`cgroup ${cgroupId}${attachType === undefined ? "" : ` ${attachTypeName(attachType)}`}:`, fields);
if (map instanceof PerCpuCgroupStorageMap) map.forEach((id, at, v) => print(id, at, map.decode(v).total));
else map.forEach((id, at, v) => print(id, at, map.decode(v)));

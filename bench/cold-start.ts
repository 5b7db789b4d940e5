/** Cold-start workload, TS side: open a pinned map, scan every entry, print the totals. */
import { PerCpuCgroupStorageMap } from "../src/index.ts";

const map = PerCpuCgroupStorageMap.open(process.argv[2]!);
const packetsField = map.field("packets"), bytesField = map.field("bytes");
let packets = 0, bytes = 0;
const entries = map.forEach((_id, _at, v) => {
  packets += packetsField.total(v);
  bytes += bytesField.total(v);
});
console.log(JSON.stringify({ entries, packets, bytes }));

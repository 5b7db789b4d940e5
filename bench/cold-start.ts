/** Cold-start workload, TS side: open a pinned map, scan every entry, print the totals. */
import { openMap } from "../src/index.ts";

const map = openMap(process.argv[2]!);
let packets = 0, bytes = 0;
const entries = map.forEach((_id, _at, v) => {
  if ("sum" in v) {
    packets += v.sum(0);
    bytes += v.sum(8);
  }
});
console.log(JSON.stringify({ entries, packets, bytes }));

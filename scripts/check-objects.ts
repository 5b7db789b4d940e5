/**
 * prepack: every BPF object the package ships must exist and load into this kernel (as root),
 * so a tarball never carries a stale or broken object. `make -s -C native` builds them first.
 */
import { BpfObject, BUNDLED_OBJECTS, bundledObject } from "../src/index.ts";

let failed = 0;
for (const name of BUNDLED_OBJECTS) {
  try {
    using obj = BpfObject.open(bundledObject(name)).load();
    console.error(`prepack: ${name} loads (${obj.programNames.join(", ")})`);
  } catch (e) {
    failed++;
    console.error(`prepack: ${name} does not load: ${(e as Error).message}`);
  }
}
if (failed > 0) {
  console.error("prepack: not packing (loading the objects needs root or CAP_BPF + CAP_NET_ADMIN + CAP_PERFMON)");
  process.exit(1);
}

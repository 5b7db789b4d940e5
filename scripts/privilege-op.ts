/**
 * One library path, run by scripts/least-privilege.ts as an unprivileged user with a given set
 * of ambient capabilities: exits 0 when it worked, else prints the error (one line) and exits 1.
 */
import {
  AttachType, BpfObject, Cgroup, PerCpuCgroupStorageMap, createMap, openMap,
} from "../src/index.ts";

const [op, a = "", b = ""] = process.argv.slice(2);
const counter = new URL("../native/build/counter.bpf.o", import.meta.url).pathname;

function run(): void {
  switch (op) {
    case "open-read": { // open a pin read-only and look every entry up
      using m = openMap(a, { access: "read" });
      m.forEach(() => {});
      return;
    }
    case "open-read-write": {
      using m = openMap(a);
      return void m.fd;
    }
    case "update": { // write an entry's own value back
      using m = PerCpuCgroupStorageMap.open(a);
      const key = { cgroupId: Number(b), attachType: AttachType.CGROUP_INET_EGRESS };
      m.update(key, m.lookup(key)!);
      return;
    }
    case "map-btf": { // the map's layout from its kernel BTF
      using m = openMap(a, { access: "read" });
      if (m.layout === null) throw m.btfError ?? new Error("no layout");
      return;
    }
    case "open-id": {
      using m = openMap({ id: Number(a) }, { access: "read" });
      return void m.fd;
    }
    case "load": {
      using o = BpfObject.open(counter).load();
      return void o;
    }
    case "attach-link":
    case "attach-prog": {
      using o = BpfObject.open(counter).load();
      const att = o.program("count_egress").attachCgroup(a, { method: op === "attach-link" ? "link" : "prog_attach" });
      att.detach();
      return;
    }
    case "create-map": {
      using m = createMap({ type: "percpu", valueSize: 16 });
      return void m.fd;
    }
    case "create-cgroup": {
      const cg = Cgroup.create(a);
      cg.remove();
      return;
    }
    default:
      throw new Error(`unknown op ${op}`);
  }
}

try {
  run();
} catch (e) {
  console.log((e as Error).message.split("\n")[0]);
  process.exitCode = 1;
}

/** `cgstore dump`: one row per entry of a cgroup storage map, decoded by its BTF. */
import { parseArgs } from "node:util";
import {
  attachTypeName, cgroupRoot, openMap, resolveCgroupPath, CgroupStorageMap, PerCpuCgroupStorageMap,
  type AnyStorageMap, type Decoded,
} from "../index.ts";
import { flatten, show, table, toJson } from "./format.ts";
import { UsageError } from "./errors.ts";
import { applyLayoutChoice, LAYOUT_HELP, LAYOUT_OPTIONS, layoutChoice } from "./layout-options.ts";
import { listenForQuit } from "./quit.ts";

export const DUMP_HELP = `Usage: cgstore dump <pinned map path> [options]
       cgstore dump --id <map id> [options]

Prints one row per entry of a BPF cgroup storage map: the cgroup's path (resolved from its id;
"(removed)" once the cgroup is gone), the attach type, and the value's fields decoded with the
map's BTF. Per-CPU maps show each field summed over CPUs.

Options:
  --id <n>            open the map by its kernel id instead of a pinned path
  --per-cpu           per-CPU maps: also show every CPU's value
  --json              machine-readable output (64-bit integers as strings)
  --watch <seconds>   redraw every <seconds> until q or Ctrl-C, with per-second rates of numeric fields
                      (with --json: one JSON document per line, with "rates" keyed
                      "<cgroup id>/<attach type>")
${LAYOUT_HELP}
  -h, --help          this text

The map is opened read-only: a pin readable by this user (e.g. mode 0644) and CAP_BPF suffice.
When the map's BTF cannot be read, values are shown as u64 words (say so with --btf or
--schema); maps without BTF are shown as hex bytes.
JSON: {"map": {...}, "entries": [{"cgroup_id", "cgroup", "attach_type", "value"}]}; per-CPU
entries have "total" and, with --per-cpu, "cpus" instead of "value".`;

export interface DumpEntry {
  cgroup_id: number;
  cgroup: string | null;
  attach_type: string | null;
  value?: Decoded;
  total?: Decoded;
  cpus?: Decoded[];
}

const hex = (b: Uint8Array) => Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");

/** Reads every entry, decoded (or as hex without BTF). */
export function collect(map: AnyStorageMap, perCpu: boolean): DumpEntry[] {
  const root = cgroupRoot();
  const entries: DumpEntry[] = [];
  const layout = map.layout;
  const entry = (id: number, at: number | undefined): DumpEntry => {
    const path = resolveCgroupPath(id);
    const e: DumpEntry = {
      cgroup_id: id,
      cgroup: path === null ? null : path === root ? "/" : path.slice(root.length),
      attach_type: at === undefined ? null : attachTypeName(at),
    };
    entries.push(e);
    return e;
  };
  if (map instanceof PerCpuCgroupStorageMap) {
    map.forEach((id, at, v) => {
      const e = entry(id, at);
      if (layout) {
        const d = map.decode(v); // totals by each field's aggregation rule
        e.total = d.total;
        if (perCpu) e.cpus = d.cpus;
      } else {
        e.total = null;
        if (perCpu) e.cpus = Array.from({ length: v.cpus }, (_, i) => hex(v.cpu(i)));
      }
    });
  } else {
    map.forEach((id, at, v) => {
      entry(id, at).value = layout ? map.decode(v) : hex(v);
    });
  }
  return entries;
}

/** Numeric leaves of an entry's value (or total), for rates. */
function numbers(e: DumpEntry): Map<string, number> {
  const out = new Map<string, number>();
  for (const [k, v] of flatten((e.total ?? e.value ?? null) as Decoded)) {
    if (typeof v === "number" || typeof v === "bigint") out.set(k, Number(v));
  }
  return out;
}

const keyOf = (e: DumpEntry) => `${e.cgroup_id}/${e.attach_type}`;

export function render(entries: DumpEntry[], perCpu: boolean, rates?: Map<string, Map<string, number>>): string {
  const fieldNames: string[] = [];
  for (const e of entries) {
    for (const k of flatten((e.total ?? e.value ?? null) as Decoded).keys()) if (!fieldNames.includes(k)) fieldNames.push(k);
  }
  const header = ["CGROUP", "ATTACH", ...fieldNames.map((f) => f.toUpperCase())];
  const rows: string[][] = [];
  for (const e of entries) {
    const leaves = flatten((e.total ?? e.value ?? null) as Decoded);
    const r = rates?.get(keyOf(e));
    rows.push([
      e.cgroup ?? `(removed) id ${e.cgroup_id}`,
      e.attach_type ?? "-",
      ...fieldNames.map((f) => {
        const rate = r?.get(f);
        return show(leaves.get(f)) + (rate === undefined ? "" : ` (${rate >= 0 ? "+" : ""}${Math.round(rate)}/s)`);
      }),
    ]);
    if (perCpu && e.cpus) {
      e.cpus.forEach((c, i) => {
        const l = typeof c === "string" ? new Map([["value", c]]) : flatten(c);
        rows.push([`  cpu${i}`, "", ...fieldNames.map((f) => show(l.get(f) ?? (f === fieldNames[0] && typeof c === "string" ? c : undefined)))]);
      });
    }
  }
  return entries.length === 0 ? "(no entries: nothing using this map is attached to a live cgroup)" : table(header, rows);
}

export async function dump(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      id: { type: "string" },
      "per-cpu": { type: "boolean", default: false },
      json: { type: "boolean", default: false },
      watch: { type: "string" },
      ...LAYOUT_OPTIONS,
      help: { type: "boolean", short: "h", default: false },
    },
  });
  if (values.help) {
    console.log(DUMP_HELP);
    return 0;
  }
  if ((positionals.length === 1) === (values.id !== undefined) || positionals.length > 1) {
    throw new UsageError("dump takes one pinned map path, or --id <map id>", DUMP_HELP);
  }
  const id = values.id === undefined ? undefined : Number(values.id);
  if (id !== undefined && !(Number.isInteger(id) && id > 0)) throw new UsageError(`--id ${values.id}: a map id is a positive integer`, DUMP_HELP);
  const interval = values.watch === undefined ? undefined : Number(values.watch);
  if (interval !== undefined && !(interval > 0)) throw new UsageError(`--watch ${values.watch}: give a positive number of seconds`, DUMP_HELP);

  const layout = layoutChoice(values, DUMP_HELP);

  // Read-only: dump never writes, and a 0644 pin opens read-only for any user with CAP_BPF.
  using map = openMap(id === undefined ? positionals[0]! : { id }, { access: "read" });
  applyLayoutChoice(map, layout, "dump");
  const perCpu = values["per-cpu"]!;
  const header = () => ({ id: map.info.id, name: map.info.name, type: map.info.typeName, key_size: map.info.keySize, value_size: map.valueSize });
  if (interval === undefined) {
    const entries = collect(map, perCpu);
    console.log(values.json ? toJson({ map: header(), entries }) : render(entries, perCpu));
    return 0;
  }

  let prev = new Map<string, { at: number; values: Map<string, number> }>();
  using quit = listenForQuit();
  while (!quit.stopped) {
    const now = performance.now();
    const entries = collect(map, perCpu);
    const rates = new Map<string, Map<string, number>>();
    const next = new Map<string, { at: number; values: Map<string, number> }>();
    for (const e of entries) {
      const values = numbers(e);
      next.set(keyOf(e), { at: now, values });
      const p = prev.get(keyOf(e));
      if (!p) continue;
      const dt = (now - p.at) / 1000;
      rates.set(keyOf(e), new Map([...values].map(([k, v]) => [k, (v - (p.values.get(k) ?? v)) / dt])));
    }
    prev = next;
    if (values.json) {
      // One compact document per line (NDJSON), so a consumer can read samples as they come.
      const sample = { map: header(), at: new Date().toISOString(), entries, rates: Object.fromEntries([...rates].map(([k, m]) => [k, Object.fromEntries(m)])) };
      console.log(JSON.stringify(JSON.parse(toJson(sample))));
    }
    else process.stdout.write(`\x1b[H\x1b[2J${map.info.name} (id ${map.info.id}) every ${interval}s, q or Ctrl-C to stop\n\n${render(entries, perCpu, rates)}\n`);
    await quit.sleep(interval * 1000);
  }
  return 0;
}

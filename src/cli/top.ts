/** `cgstore top`: the busiest cgroups by per-second rate, redrawn in place. */
import { parseArgs } from "node:util";
import { attachTypeName } from "../index.ts";
import { cgroupPathResolver } from "./cgroup-paths.ts";
import { table } from "./format.ts";
import { LAYOUT_HELP } from "./layout-options.ts";
import { UsageError } from "./errors.ts";
import { listenForQuit } from "./quit.ts";
import { Source, SOURCE_OPTIONS, sourceFrom } from "./source.ts";

export const TOP_HELP = `Usage: cgstore top --cgroup <dir> [options]
       cgstore top --map <pinned map path> [options]

Shows the busiest cgroups by per-second rate of a field, refreshed every interval (in place on
a terminal; one block per refresh otherwise).

  --cgroup <dir>      attach the bundled packet/byte counter to every cgroup under <dir>
  --map <path>        read a pinned cgroup storage map of your own instead
  --sort <field>      field to rank by (default: bytes if the value has it, else the first)
  -n <rows>           rows to show, default 20
  --interval <s>      seconds between refreshes, default 1
  --iterations <k>    stop after <k> refreshes (default: until q or Ctrl-C)
${LAYOUT_HELP}
  -h, --help          this text`;

const fmtRate = (r: number) => (Number.isNaN(r) ? "-" : r >= 100 ? String(Math.round(r)) : r.toFixed(1));

export async function top(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      ...SOURCE_OPTIONS,
      sort: { type: "string" },
      n: { type: "string", short: "n", default: "20" },
      interval: { type: "string", default: "1" },
      iterations: { type: "string" },
      help: { type: "boolean", short: "h", default: false },
    },
  });
  if (values.help) {
    console.log(TOP_HELP);
    return 0;
  }
  const from = sourceFrom(values, "top", TOP_HELP);
  const interval = Number(values.interval) * 1000, rowsWanted = Number(values.n);
  const iterations = values.iterations === undefined ? Infinity : Number(values.iterations);
  if (!(interval > 0)) throw new UsageError(`--interval ${values.interval}: give a positive number of seconds`, TOP_HELP);
  if (!(Number.isInteger(rowsWanted) && rowsWanted > 0)) throw new UsageError(`-n ${values.n}: a positive whole number`, TOP_HELP);
  if (!(iterations > 0)) throw new UsageError(`--iterations ${values.iterations}: a positive whole number`, TOP_HELP);

  const source = await Source.open(from);
  const c = source.collector;
  const sortField = values.sort ?? (c.fields.includes("bytes") ? "bytes" : c.fields[0]!);
  const sortIndex = c.fields.indexOf(sortField);
  if (sortIndex < 0) {
    await source.close();
    throw new UsageError(`--sort ${sortField}: the map's fields are ${c.fields.join(", ")}`, TOP_HELP);
  }
  using quit = listenForQuit();
  const tty = process.stdout.isTTY === true;
  const values_ = new Float64Array(c.fields.length), rates = new Float64Array(c.fields.length);
  try {
    await c.poll();
    for (let k = 0; k < iterations && !quit.stopped; k++) {
      await quit.sleep(interval);
      if (quit.stopped) break;
      source.refresh();
      await c.poll();
      const pathOf = cgroupPathResolver();
      const rows = c.slots().map((slot) => {
        c.read(slot, values_);
        c.rates(slot, rates);
        const id = c.table.cgroupId(slot), at = c.table.attachType(slot);
        const path = pathOf(id);
        return {
          rank: Number.isNaN(rates[sortIndex]!) ? -1 : rates[sortIndex]!,
          cells: [
            path ?? `(removed) id ${id}`,
            at === undefined ? "-" : attachTypeName(at).replace(/^CGROUP_/, ""),
            ...c.fields.flatMap((_, i) => [fmtRate(rates[i]!), String(values_[i]!)]),
          ],
        };
      });
      rows.sort((a, b) => b.rank - a.rank);
      const header = ["CGROUP", "ATTACH", ...c.fields.flatMap((f) => [`${f.toUpperCase()}/S`, f.toUpperCase()])];
      const text = `${c.map.info.name}: top ${Math.min(rowsWanted, rows.length)} of ${rows.length} by ${sortField}/s, every ${interval / 1000}s\n\n` +
        table(header, rows.slice(0, rowsWanted).map((r) => r.cells));
      process.stdout.write(tty ? `\x1b[H\x1b[2J${text}\n` : `${text}\n\n`);
    }
  } finally {
    await source.close();
  }
  return 0;
}

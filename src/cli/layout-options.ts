/**
 * `--btf <file.bpf.o>` and `--schema <json>`: how `dump`, `top --map` and `serve --map` name a
 * map's fields when its own BTF cannot be read (loading BTF by id needs CAP_SYS_ADMIN, which a
 * reader with CAP_BPF lacks) or it has none. Without either, the value is shown as raw words.
 */
import { errorKind, useFallbackLayout, type AnyStorageMap, type Schema } from "../index.ts";
import { UsageError } from "./errors.ts";

/** parseArgs options (spread into a command's). */
export const LAYOUT_OPTIONS = {
  btf: { type: "string" },
  schema: { type: "string" },
} as const;

/** Help lines for the options. */
export const LAYOUT_HELP = `  --btf <file.bpf.o>  name the fields from the object file that defines the map, when the
                      map's own BTF cannot be read (it needs CAP_SYS_ADMIN) or it has none
  --schema <json>     or declare them: '{"packets":"u64","bytes":"u64"}'`;

/** What `--btf`/`--schema` asked for, the schema parsed (a usage error when it is not JSON). */
export interface LayoutChoice {
  btf?: string;
  schema?: Schema;
}

export function layoutChoice(values: { btf?: string; schema?: string }, help: string): LayoutChoice {
  if (values.schema === undefined) return { btf: values.btf };
  let schema: unknown;
  try {
    schema = JSON.parse(values.schema);
  } catch {
    throw new UsageError(`--schema ${values.schema}: not JSON; give the fields as {"packets":"u64","bytes":"u64"}`, help);
  }
  if (typeof schema !== "object" || schema === null || Array.isArray(schema)) {
    throw new UsageError(`--schema ${values.schema}: give an object of fields, {"packets":"u64","bytes":"u64"}`, help);
  }
  return { btf: values.btf, schema: schema as Schema };
}

/**
 * Gives `map` a layout if it has none (see `useFallbackLayout`), and says on stderr, once, when
 * its own BTF could not be read and what is shown instead.
 */
export function applyLayoutChoice(map: AnyStorageMap, choice: LayoutChoice, command: string): void {
  const { origin, btfError } = useFallbackLayout(map, { objectFile: choice.btf, schema: choice.schema });
  if (btfError === undefined || origin === "map") return;
  const why = errorKind(btfError) === "permission" ? "loading BTF by id needs CAP_SYS_ADMIN" : btfError.message;
  const instead = origin === "object-file" ? `fields named from ${choice.btf}`
    : origin === "schema" ? "fields from --schema"
    : "showing raw words (word0, word1…); name them with --btf <the .bpf.o that defines the map> or --schema '{\"packets\":\"u64\",…}'";
  console.error(`cgstore ${command}: map "${map.info.name}": its BTF cannot be read (${why}); ${instead}`);
}

/**
 * Reading a YAML file into checked values, each error naming the file, the line and the column
 * of the node at fault (`exporter.yml:12:7: maps[0].fields[1].type: "countr" is not one of …`).
 * Shared by `--config.file` and `--web.config.file`.
 * @internal
 */
import { readFileSync } from "node:fs";
import { isMap, isScalar, isSeq, LineCounter, parseDocument, type Node } from "yaml";
import { UsageError } from "./errors.ts";

/** A bad config file: exit 2, one line with the place and what is wrong. */
export class ConfigError extends UsageError {
  override readonly name: string = "ConfigError";
}

/** One node of the document, with where it is and how to report a problem with it. */
export class YamlNode {
  readonly node: Node | null;
  /** The node's path in the document, e.g. `maps[0].fields[1]`. */
  readonly path: string;
  private readonly doc: YamlFile;

  constructor(doc: YamlFile, node: Node | null, path: string) {
    this.doc = doc;
    this.node = node;
    this.path = path;
  }

  /** `file:line:col` of this node (of the file when it has no position). */
  get at(): string {
    return this.doc.at(this.node?.range?.[0]);
  }

  /** A ConfigError at this node. */
  error(what: string): ConfigError {
    return new ConfigError(`${this.at}: ${this.path ? `${this.path}: ` : ""}${what}`, this.doc.help);
  }

  /** The keys of a mapping, refusing any not in `allowed` (typos must not pass silently). */
  keys(allowed: readonly string[]): Map<string, YamlNode> {
    if (!isMap(this.node)) throw this.error(`expected a mapping (key: value), got ${this.describe()}`);
    const out = new Map<string, YamlNode>();
    for (const pair of this.node.items) {
      const k = pair.key as Node | null;
      const name = isScalar(k) ? String(k.value) : "";
      const child = new YamlNode(this.doc, (pair.value as Node | null) ?? null, this.path ? `${this.path}.${name}` : name);
      if (!allowed.includes(name)) {
        throw new YamlNode(this.doc, k, child.path).error(`unknown key "${name}"; expected one of ${allowed.join(", ")}`);
      }
      out.set(name, child);
    }
    return out;
  }

  /** The items of a sequence. */
  items(): YamlNode[] {
    if (!isSeq(this.node)) throw this.error(`expected a list, got ${this.describe()}`);
    return this.node.items.map((n, i) => new YamlNode(this.doc, (n as Node | null) ?? null, `${this.path}[${i}]`));
  }

  string(): string {
    if (!isScalar(this.node) || (typeof this.node.value !== "string" && typeof this.node.value !== "number")) {
      throw this.error(`expected a string, got ${this.describe()}`);
    }
    return String(this.node.value);
  }

  number(): number {
    if (!isScalar(this.node) || typeof this.node.value !== "number") throw this.error(`expected a number, got ${this.describe()}`);
    return this.node.value;
  }

  boolean(): boolean {
    if (!isScalar(this.node) || typeof this.node.value !== "boolean") throw this.error(`expected true or false, got ${this.describe()}`);
    return this.node.value;
  }

  /** One of a fixed set of strings. */
  oneOf<const T extends string>(choices: readonly T[]): T {
    const s = this.string();
    if (!(choices as readonly string[]).includes(s)) throw this.error(`"${s}" is not one of ${choices.join(", ")}`);
    return s as T;
  }

  /** A mapping of strings to strings. */
  stringMap(): Record<string, string> {
    const out: Record<string, string> = {};
    if (!isMap(this.node)) throw this.error(`expected a mapping (key: value), got ${this.describe()}`);
    for (const pair of this.node.items) {
      const k = pair.key as Node | null;
      const name = isScalar(k) ? String(k.value) : "";
      out[name] = new YamlNode(this.doc, (pair.value as Node | null) ?? null, `${this.path}.${name}`).string();
    }
    return out;
  }

  private describe(): string {
    if (this.node === null) return "nothing";
    if (isMap(this.node)) return "a mapping";
    if (isSeq(this.node)) return "a list";
    if (isScalar(this.node)) return JSON.stringify(this.node.value) ?? String(this.node.value);
    return "an alias";
  }
}

/** A parsed YAML file: its root node, or a ConfigError at the first syntax error. */
export class YamlFile {
  readonly file: string;
  readonly help: string;
  private readonly lines = new LineCounter();
  readonly root: YamlNode;

  constructor(file: string, help: string, text?: string) {
    this.file = file;
    this.help = help;
    let source = text;
    if (source === undefined) {
      try {
        source = readFileSync(file, "utf8");
      } catch (e) {
        throw new ConfigError(`${file}: cannot read it: ${(e as Error).message}`, help);
      }
    }
    const doc = parseDocument(source, { lineCounter: this.lines, prettyErrors: false, uniqueKeys: true });
    const bad = doc.errors[0];
    if (bad) throw new ConfigError(`${this.at(bad.pos[0])}: ${bad.message.split("\n")[0]}`, help);
    this.root = new YamlNode(this, (doc.contents as Node | null) ?? null, "");
  }

  /** `file:line:col` of a byte offset. */
  at(offset: number | undefined): string {
    if (offset === undefined) return this.file;
    const { line, col } = this.lines.linePos(offset);
    return `${this.file}:${line}:${col}`;
  }
}

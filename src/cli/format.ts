/** Text tables and JSON for the CLI. */
import type { Decoded } from "../btf/decode.ts";

/** JSON with bigints as strings (JSON has no 64-bit integers; documented in --help). */
export function toJson(value: unknown): string {
  return JSON.stringify(value, (_k, v) => (typeof v === "bigint" ? v.toString() : v), 2);
}

/** Flattens a decoded struct into `path → value` leaves (`inner.a`, `hist`). */
export function flatten(value: Decoded, prefix = "", out: Map<string, Decoded> = new Map()): Map<string, Decoded> {
  if (value !== null && typeof value === "object" && !Array.isArray(value)) {
    for (const [k, v] of Object.entries(value)) flatten(v, prefix ? `${prefix}.${k}` : k, out);
  } else out.set(prefix || "value", value);
  return out;
}

export function show(v: Decoded | undefined): string {
  if (v === undefined || v === null) return "";
  if (Array.isArray(v)) return `[${v.map(show).join(",")}]`;
  if (typeof v === "object") return JSON.stringify(v, (_k, x) => (typeof x === "bigint" ? x.toString() : x));
  return String(v);
}

/** Left-aligned text columns; numbers right-aligned. */
export function table(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
  const numeric = header.map((_, i) => rows.length > 0 && rows.every((r) => /^-?[\d.,]*( \(.*\))?$/.test(r[i] ?? "")));
  const line = (cells: string[]) =>
    cells.map((c, i) => (numeric[i] ? c.padStart(widths[i]!) : c.padEnd(widths[i]!))).join("  ").trimEnd();
  return [line(header), ...rows.map(line)].join("\n");
}

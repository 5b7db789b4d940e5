/** Pairing and summarising A/B samples. */

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

export interface PairResult {
  c: number[];
  ts: number[];
  ratios: number[];
  /** The same TypeScript under Deno, when measured: samples and ratios to the same C run. */
  deno?: { ts: number[]; ratios: number[] };
}

/**
 * Runs `c` then `ts` (then `deno`, if given), `pairs` times (A B [C] A B [C] …); ratio = ts / c
 * per pair, and deno / c against the same C sample.
 */
export function runPairs(pairs: number, c: () => number, ts: () => number, deno?: () => number): PairResult {
  const r: PairResult = { c: [], ts: [], ratios: [] };
  if (deno) r.deno = { ts: [], ratios: [] };
  for (let i = 0; i < pairs; i++) {
    const a = c();
    const b = ts();
    r.c.push(a);
    r.ts.push(b);
    r.ratios.push(b / a);
    if (deno) {
      const d = deno();
      r.deno!.ts.push(d);
      r.deno!.ratios.push(d / a);
    }
  }
  return r;
}

/** A PairResult from samples taken in the same rounds: ratio = ts / c (and deno / c) per round. */
export function pairsOf(c: number[], ts: number[], deno?: number[]): PairResult {
  return {
    c, ts, ratios: ts.map((t, i) => t / c[i]!),
    deno: deno && { ts: deno, ratios: deno.map((d, i) => d / c[i]!) },
  };
}

export const fmt = (n: number, digits = 0) =>
  Number.isFinite(n) ? n.toLocaleString("en-US", { minimumFractionDigits: digits, maximumFractionDigits: digits }) : "–";

export const ratioRange = (r: { ratios: number[] }) =>
  `${fmt(Math.min(...r.ratios), 3)}–${fmt(Math.max(...r.ratios), 3)}`;

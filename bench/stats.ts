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
}

/** Runs `c` then `ts`, `pairs` times (A B A B …); ratio = ts / c per pair. */
export function runPairs(pairs: number, c: () => number, ts: () => number): PairResult {
  const r: PairResult = { c: [], ts: [], ratios: [] };
  for (let i = 0; i < pairs; i++) {
    const a = c();
    const b = ts();
    r.c.push(a);
    r.ts.push(b);
    r.ratios.push(b / a);
  }
  return r;
}

export const fmt = (n: number, digits = 0) =>
  Number.isFinite(n) ? n.toLocaleString("en-US", { minimumFractionDigits: digits, maximumFractionDigits: digits }) : "–";

export const ratioRange = (r: PairResult) =>
  `${fmt(Math.min(...r.ratios), 3)}–${fmt(Math.max(...r.ratios), 3)}`;

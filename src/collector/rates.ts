/**
 * Per-second rates of each slot's fields between its last two polls, kept by the main thread.
 * @internal
 */
import type { ResultsTable } from "./results.ts";

export class SlotRates {
  private readonly table: ResultsTable;
  /** Fields per slot (the row's totals; per-CPU values have no rates). */
  private readonly fields: number;
  /** Per slot: the previous poll's values and time, and the rates between the last two. */
  private readonly prevValues: Float64Array;
  private readonly prevTime: Float64Array;
  private readonly rateValues: Float64Array;
  private readonly scratch: Float64Array;

  constructor(table: ResultsTable, fields: number) {
    this.table = table;
    this.fields = fields;
    this.prevValues = new Float64Array(table.capacity * fields);
    this.prevTime = new Float64Array(table.capacity).fill(NaN);
    this.rateValues = new Float64Array(table.capacity * fields).fill(NaN);
    this.scratch = new Float64Array(table.fields);
  }

  /** A slot given to a new key: no rate until it has been polled twice. */
  reset(slot: number): void {
    this.prevTime[slot] = NaN;
    this.rateValues.fill(NaN, slot * this.fields, (slot + 1) * this.fields);
  }

  /**
   * After a poll at `now`: the rates of every live slot. A value that went down is a counter
   * reset (the value was overwritten, e.g. by update()): the rate counts from zero then.
   */
  update(slots: Iterable<number>, now: number): void {
    const n = this.fields, cur = this.scratch;
    for (const slot of slots) {
      this.table.read(slot, cur);
      const o = slot * n, then = this.prevTime[slot]!;
      const dt = (now - then) / 1000;
      for (let i = 0; i < n; i++) {
        const prev = this.prevValues[o + i]!;
        this.rateValues[o + i] = Number.isNaN(then) || dt <= 0 ? NaN : (cur[i]! >= prev ? cur[i]! - prev : cur[i]!) / dt;
        this.prevValues[o + i] = cur[i]!;
      }
      this.prevTime[slot] = now;
    }
  }

  /** The slot's rates into `out` (NaN until it has been polled twice). */
  read(slot: number, out: Float64Array): Float64Array {
    const n = this.fields;
    for (let i = 0; i < Math.min(n, out.length); i++) out[i] = this.rateValues[slot * n + i]!;
    return out;
  }
}

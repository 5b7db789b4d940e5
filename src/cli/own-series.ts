/**
 * Each packet counted once. A program attached to a cgroup also runs for its descendants'
 * sockets, counting into the attached cgroup's storage: an attached cgroup that holds processes
 * AND has attached descendants (the root, a cgroup without controllers) holds their traffic too.
 * Its own share is its value minus its nearest attached descendants' values; once such a
 * descendant is gone, its last values keep being subtracted (its traffic stays in the parent's
 * storage). Values of different keys are read at slightly different times, so a difference can
 * dip while traffic flows: counter columns are never exported lower than they were.
 * @internal
 */

/** A row before adjustment: its key (`id/attach type`), its attached parent's key, its values. */
export interface OwnRow {
  key: string;
  parent: string | undefined;
  values: Float64Array;
}

export class OwnSeries {
  /** Which columns are counters (adjusted); gauges pass through. */
  private readonly counters: readonly boolean[];
  private last = new Map<string, OwnRow>();
  private readonly absorbed = new Map<string, Float64Array>();
  private readonly exported = new Map<string, Float64Array>();

  constructor(counters: readonly boolean[]) {
    this.counters = counters;
  }

  /** Rewrites each row's counter columns in place to its own share. */
  adjust(rows: readonly OwnRow[]): void {
    const now = new Map(rows.map((r) => [r.key, r]));
    // Children gone since the last scrape: their traffic stays in the parent's storage.
    for (const [key, old] of this.last) {
      if (now.has(key) || old.parent === undefined || !now.has(old.parent)) continue;
      const acc = this.absorbed.get(old.parent) ?? new Float64Array(old.values.length);
      this.addInto(acc, old.values, 1);
      this.absorbed.set(old.parent, acc);
    }
    const raw = new Map(rows.map((r) => [r.key, Float64Array.from(r.values)]));
    for (const r of rows) {
      if (r.parent !== undefined && raw.has(r.parent)) this.addInto(now.get(r.parent)!.values, raw.get(r.key)!, -1);
    }
    for (const r of rows) {
      const acc = this.absorbed.get(r.key);
      if (acc) this.addInto(r.values, acc, -1);
      const floor = this.exported.get(r.key);
      for (let i = 0; i < r.values.length; i++) {
        if (!this.counters[i]) continue;
        r.values[i] = Math.max(r.values[i]!, floor?.[i] ?? 0);
      }
      this.exported.set(r.key, Float64Array.from(r.values));
    }
    for (const key of this.exported.keys()) if (!now.has(key)) this.exported.delete(key);
    for (const key of this.absorbed.keys()) if (!now.has(key)) this.absorbed.delete(key);
    this.last = new Map(rows.map((r) => [r.key, { key: r.key, parent: r.parent, values: raw.get(r.key)! }]));
  }

  private addInto(into: Float64Array, from: Float64Array, sign: 1 | -1): void {
    for (let i = 0; i < into.length; i++) if (this.counters[i]) into[i] = into[i]! + sign * from[i]!;
  }
}

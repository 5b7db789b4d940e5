/** Polls a set of slots: one lookup per live key, field values into the results table. */
import { PerCpuCgroupStorageMap } from "../maps/percpu-cgroup-storage.ts";
import type { LegacyStorageMap } from "../maps/open.ts";
import type { Field } from "../maps/field.ts";
import type { LookupFlags } from "../maps/storage-map.ts";
import { ElemFlags } from "../constants.ts";
import { ResultsTable, SlotState } from "./results.ts";

/** What a poller needs besides the map and the table. */
export interface PollerOptions {
  /** The collected fields, in table order. */
  fields: readonly Field[];
  /** Shared maps: read under the value's spin lock. */
  locked: boolean;
  /** Per-CPU maps: also store each of this many CPUs' values after the totals (0: totals only). */
  cpus: number;
}

export class SlotPoller {
  private readonly map: LegacyStorageMap;
  private readonly table: ResultsTable;
  private readonly fields: readonly Field[];
  private readonly flags: LookupFlags;
  private readonly cpus: number;
  private readonly values: Float64Array;
  /** Slots the last poll found without an entry (written to its `missing` array). */
  missingCount = 0;
  /** The key a poll looks up, rewritten in place for each slot (no allocation). */
  private readonly key = { cgroupId: 0, attachType: undefined as number | undefined };

  constructor(map: LegacyStorageMap, table: ResultsTable, options: PollerOptions) {
    this.map = map;
    this.table = table;
    this.fields = options.fields;
    this.flags = options.locked ? ElemFlags.F_LOCK : 0;
    this.cpus = options.cpus;
    this.values = new Float64Array(options.fields.length * (1 + options.cpus));
  }

  /**
   * Polls the slots `live[from]` … `live[to - 1]` (the live slots, listed by the main thread: a
   * poll costs per live key, not per slot of the table); returns the keys looked up. Slots whose
   * key had no entry (its cgroup is gone: to be retired) go to `missing[at …]`, `missingCount`
   * of them. Allocates nothing.
   */
  poll(poll: number, live: Int32Array, from: number, to: number, missing: Int32Array, at = 0): number {
    const { map, table, fields, values, key } = this;
    const n = fields.length;
    let looked = 0, gone = 0;
    for (let i = from; i < to; i++) {
      const slot = live[i]!;
      if (table.state(slot) !== SlotState.LIVE) continue;
      key.cgroupId = table.cgroupId(slot);
      key.attachType = table.attachType(slot);
      looked++;
      if (map instanceof PerCpuCgroupStorageMap) {
        const v = map.lookup(key);
        if (v === null) {
          missing[at + gone++] = slot;
          continue;
        }
        for (let i = 0; i < n; i++) values[i] = fields[i]!.total(v);
        for (let cpu = 0; cpu < this.cpus; cpu++) {
          for (let i = 0; i < n; i++) values[n + cpu * n + i] = fields[i]!.get(v, cpu);
        }
      } else {
        const v = map.lookup(key, this.flags);
        if (v === null) {
          missing[at + gone++] = slot;
          continue;
        }
        for (let i = 0; i < n; i++) values[i] = fields[i]!.get(v);
      }
      table.write(slot, poll, values);
    }
    this.missingCount = gone;
    return looked;
  }
}

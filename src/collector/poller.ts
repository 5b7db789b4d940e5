/** Polls a set of slots: one lookup per live key, values into the results table. */
import { CgroupStorageMap } from "../maps/cgroup-storage.ts";
import { PerCpuCgroupStorageMap } from "../maps/percpu-cgroup-storage.ts";
import type { AnyStorageMap } from "../maps/open.ts";
import { ResultsTable, SlotState } from "./results.ts";
import { U32 } from "../maps/key.ts";


export interface PollCounts {
  looked: number;
  /** Slots whose key had no entry (its cgroup is gone): to be retired. */
  missing: number[];
}

export class SlotPoller {
  private readonly values: Float64Array;
  /** u32 view of the shared map's value buffer: the map returns the same bytes every lookup. */
  private sharedWords: Uint32Array | undefined;

  constructor(
    private readonly map: AnyStorageMap,
    private readonly table: ResultsTable,
    /** Byte offsets of the u64 fields, in table order. */
    private readonly offsets: number[],
    /** Shared maps: read under the value's spin lock. */
    private readonly locked: boolean,
    /** Per-CPU maps: also store each of this many CPUs' values after the totals. */
    private readonly cpus = 0,
  ) {
    this.values = new Float64Array(offsets.length * (1 + cpus));
  }

  /** Polls live slots `first`, `first + step`, … below the table's capacity. */
  poll(poll: number, first: number, step: number): PollCounts {
    const { map, table, offsets, values } = this;
    const counts: PollCounts = { looked: 0, missing: [] };
    for (let slot = first; slot < table.capacity; slot += step) {
      if (table.state(slot) !== SlotState.LIVE) continue;
      const id = table.cgroupId(slot), at = table.attachType(slot);
      counts.looked++;
      if (map instanceof PerCpuCgroupStorageMap) {
        const v = map.lookup(id, at);
        if (v === null) {
          counts.missing.push(slot);
          continue;
        }
        const n = offsets.length;
        for (let i = 0; i < n; i++) values[i] = v.sum(offsets[i]!);
        for (let cpu = 0; cpu < this.cpus; cpu++) {
          for (let i = 0; i < n; i++) values[n + cpu * n + i] = v.u64(cpu, offsets[i]!);
        }
      } else {
        const v = this.locked ? (map as CgroupStorageMap).lookupLocked(id, at) : map.lookup(id, at);
        if (v === null) {
          counts.missing.push(slot);
          continue;
        }
        const w = (this.sharedWords ??= new Uint32Array(v.buffer, v.byteOffset, v.byteLength >> 2));
        for (let i = 0; i < offsets.length; i++) {
          const o = offsets[i]! >> 2;
          values[i] = w[o]! + w[o + 1]! * U32;
        }
      }
      table.write(slot, poll, values);
    }
    return counts;
  }
}

/**
 * Polls the tracked cgroups of a CGRP_STORAGE map. The map has no get_next_key and a lookup
 * needs an open fd per cgroup, so a poll is one scan (one run of the bundled cgroup iterator,
 * or the tree walk where it cannot load) whose records are matched to slots by cgroup id; a
 * tracked cgroup the scan did not find has no value any more (removed, or deleted) and is
 * reported missing, and a cgroup with a value that no slot tracks yet is tracked there and then
 * (the scan saw it anyway: no `refresh()` is needed to find new cgroups). With `locked`, each tracked cgroup is instead looked up under its value's
 * spin lock (one syscall per cgroup: an iterator cannot take the lock).
 * @internal
 */
import type { CgrpScanOptions, CgrpStorageMap } from "../maps/cgrp-storage.ts";
import type { Field } from "../maps/field.ts";
import { ElemFlags } from "../constants.ts";
import { ResultsTable, SlotState } from "./results.ts";

export class CgrpPoller {
  private readonly map: CgrpStorageMap<unknown>;
  private readonly table: ResultsTable;
  private readonly fields: readonly Field[];
  private readonly locked: boolean;
  private readonly scan: CgrpScanOptions;
  private readonly values: Float64Array;
  /** cgroup id → slot of every live slot, rebuilt when the live list changes. */
  private readonly slotById = new Map<number, number>();
  /** Per slot: the last poll whose scan found it. */
  private readonly seenIn: Float64Array;
  /** Slots the last poll found without a value (written to its `missing` array). */
  missingCount = 0;
  /** Cgroups the last poll started tracking. */
  added = 0;
  /** Entries the last scan found that could not be tracked (the table is full). */
  untracked = 0;
  /** Tracks a new cgroup; its slot, or -1 when the table is full. */
  private readonly adopt: (cgroupId: number) => number;

  constructor(map: CgrpStorageMap<unknown>, table: ResultsTable, options: {
    fields: readonly Field[]; locked: boolean; scan: CgrpScanOptions; adopt: (cgroupId: number) => number;
  }) {
    this.map = map;
    this.adopt = options.adopt;
    this.table = table;
    this.fields = options.fields;
    this.locked = options.locked;
    this.scan = options.scan;
    this.values = new Float64Array(options.fields.length);
    this.seenIn = new Float64Array(table.capacity);
  }

  /** After the live list changed: which slot each cgroup id has. */
  relist(live: Int32Array, count: number): void {
    this.slotById.clear();
    for (let i = 0; i < count; i++) this.slotById.set(this.table.cgroupId(live[i]!), live[i]!);
  }

  /** Calls `found(id, undefined)` for every cgroup with a value (one scan). */
  scanKeys(found: (cgroupId: number, attachType: undefined) => void): void {
    this.map.forEach((id) => found(id, undefined), this.scan);
  }

  /**
   * Polls the live slots `live[0 … count)`; returns how many were looked for. Missing slots go
   * to `missing`. Allocates nothing once warm (the scan reuses its records).
   */
  poll(poll: number, live: Int32Array, count: number, missing: Int32Array): number {
    const { table, fields, values, seenIn } = this;
    const n = fields.length;
    let gone = 0;
    if (this.locked) {
      for (let i = 0; i < count; i++) {
        const slot = live[i]!;
        const v = this.map.lookup(table.cgroupId(slot), ElemFlags.F_LOCK);
        if (v === null) {
          missing[gone++] = slot;
          continue;
        }
        for (let f = 0; f < n; f++) values[f] = fields[f]!.get(v);
        table.write(slot, poll, values);
      }
      this.missingCount = gone;
      return count;
    }
    const records = this.map.runScan(this.scan);
    const entries = this.map.lastScan.entries;
    let added = 0, untracked = 0;
    for (let i = 0; i < entries; i++) {
      const id = records.id(i);
      let slot = this.slotById.get(id);
      if (slot === undefined) {
        slot = this.adopt(id);
        if (slot < 0) {
          untracked++;
          continue;
        }
        this.slotById.set(id, slot);
        added++;
      }
      const v = records.value(i);
      for (let f = 0; f < n; f++) values[f] = fields[f]!.get(v);
      table.write(slot, poll, values);
      seenIn[slot] = poll;
    }
    for (let i = 0; i < count; i++) {
      const slot = live[i]!;
      if (seenIn[slot] !== poll && table.state(slot) === SlotState.LIVE) missing[gone++] = slot;
    }
    this.missingCount = gone;
    this.added = added;
    this.untracked = untracked;
    return count;
  }
}

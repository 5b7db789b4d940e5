/** What a `Collector` is created with, and what a poll returns. */
import type { CgroupKey } from "../maps/cgrp-key.ts";
import type { ScanMethod } from "../maps/cgrp-scan.ts";

export interface CollectorOptions {
  /**
   * Layout paths of the unsigned integer fields to collect (per-CPU maps: each combined by its
   * aggregation rule). Default: every unsigned integer field that is not a bitfield or an array.
   */
  fields?: string[];
  /** Rows in the results table (keys tracked at once). Default 4096. */
  capacity?: number;
  /** Workers to poll in: 0 (default) polls in the calling thread. */
  workers?: number;
  /**
   * With Workers: polls of fewer live keys than this run in the calling thread, where they are
   * faster (waking Workers costs more than it saves). Default `INLINE_BELOW` (measured, see
   * bench/RESULTS.md); 0 always uses the Workers.
   */
  inlineBelow?: number;
  /**
   * Shared maps: read under the value's spin lock. Default: when the value has one — except on
   * a cgrp_storage map, whose poll is one iterator run that copies values without their lock
   * (`locked: true` there looks each cgroup up under the lock instead: one syscall per cgroup).
   */
  locked?: boolean;
  /** cgrp_storage maps: poll only this cgroup and its descendants (default: the whole hierarchy). */
  root?: CgroupKey;
  /** cgrp_storage maps: how a poll scans (`"auto"`: the bundled iterator, else the tree walk). */
  method?: ScanMethod;
  /**
   * Per-CPU maps: also keep every CPU's values. A row then holds the per-field totals first,
   * then CPU 0's fields, CPU 1's, … (`fields.length × (1 + cpus)` values; see `rowValues`).
   */
  perCpu?: boolean;
}

export interface PollResult {
  /** This poll's number (1, 2, …), also stored in each row it wrote. */
  poll: number;
  looked: number;
  /**
   * cgrp_storage maps: cgroups this poll found with a value and started tracking (its scan sees
   * every cgroup, so new ones need no `refresh()`); 0 for the other maps.
   */
  added: number;
  /** Keys found gone (their slots are now retired). */
  retired: number;
  ms: number;
}

/**
 * Default `inlineBelow`: up to 256 keys one thread polled faster than 1 or 2 Workers woken through
 * shared memory, under Bun 1.4.4 and Deno 2.9.6 on 2 cores (`bun bench/inline-threshold.ts`;
 * README, Performance). A wake-up costs ~5–15 µs; a key ~0.4–1 µs.
 */
export const INLINE_BELOW = 256;

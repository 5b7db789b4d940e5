/**
 * `Collector`: polls every known key of a cgroup storage map into a `ResultsTable` — one
 * lookup per key (half a get_next_key scan), optionally spread over Workers.
 * ```ts
 * await using c = await Collector.create(map, { workers: 2 });
 * c.refresh();                       // learn keys (also: c.track({ cgroupId, attachType }))
 * await c.poll();
 * const out = new Float64Array(c.fields.length);
 * for (const slot of c.slots()) c.read(slot, out);  // consistent, from any thread
 * ```
 * Threads: the main thread owns slot assignment (refresh/track/retire); during a poll each
 * slot is written by exactly one poller. Readers in any thread use `ResultsTable.read`.
 */
import { setTimeout as sleep } from "node:timers/promises";
import { BpfError, BpfRuleError, closedError, deserializeError, type SerializedError } from "../errors.ts";
import { EncodedKey, encodeKey, type MapKey } from "../maps/key.ts";
import { PerCpuCgroupStorageMap } from "../maps/percpu-cgroup-storage.ts";
import { isLegacyStorageMap, type AnyStorageMap, type LegacyStorageMap } from "../maps/open.ts";
import type { Field } from "../maps/field.ts";
import type { AggregateRule } from "../btf/schema.ts";
import { ResultsTable, SlotState } from "./results.ts";
import { SlotPoller, type PollCounts } from "./poller.ts";
import type { WorkerInit } from "./worker.ts";

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
  /** Shared maps: read under the value's spin lock. Default: when the value has one. */
  locked?: boolean;
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
  /** Keys found gone (their slots are now retired). */
  retired: number;
  ms: number;
}

/** Polls retired slots stay unused, so a reader holding one sees the retirement first. */
const REUSE_AFTER_POLLS = 2;

const keyOf = (id: number, at: number | undefined) => `${id}/${at ?? "-"}`;

/** A key in any of the map key forms, as the collector's id and attach type (checked). */
function keyParts(map: LegacyStorageMap, op: "collect", key: MapKey): { cgroupId: number; attachType: number | undefined } {
  const words = new Uint32Array(4);
  if (key instanceof EncodedKey) {
    if (key.keySize !== map.keySize) {
      throw new BpfRuleError(op, `key ${key.describe()} was encoded for ${key.keySize}-byte keys; this map has ${map.keySize}-byte keys`);
    }
    return { cgroupId: key.cgroupId, attachType: key.attachType };
  }
  if (typeof key === "object" && key !== null) encodeKey(words, map.keySize, op, key.cgroupId, key.attachType);
  else encodeKey(words, map.keySize, op, key, undefined);
  const cgroupId = words[0]! + words[1]! * 4294967296;
  if (cgroupId > Number.MAX_SAFE_INTEGER) throw new BpfRuleError(op, `cgroup id ${cgroupId} is beyond 2^53; the collector keeps ids as numbers`);
  return { cgroupId, attachType: map.keySize === 16 ? words[2] : undefined };
}

export class Collector implements AsyncDisposable {
  readonly table: ResultsTable;
  /** The collected fields' layout paths, in row order. */
  readonly fields: string[];
  /** Each field's per-CPU aggregation rule (per-CPU maps: how the row's total was made). */
  readonly rules: readonly AggregateRule[];
  private readonly slotByKey = new Map<string, number>();
  private readonly retiredAt = new Map<number, number>();
  private readonly poller: SlotPoller;
  /** Per slot: the previous poll's values and time, and the rates between the last two. */
  private readonly prevValues: Float64Array;
  private readonly prevTime: Float64Array;
  private readonly rateValues: Float64Array;
  private readonly scratch: Float64Array;
  private readonly workers: Worker[] = [];
  /** Workers that raised an error: not asked anything again. */
  private readonly deadWorkers = new Set<Worker>();
  private polls = 0;
  private closed = false;
  /** A Worker poll in progress: slot assignment and other polls must wait for it. */
  private polling = false;
  /** Lowest slot that may be free (slots below it are known to be taken). */
  private nextFree = 0;

  /** Values per row: `fields.length`, or `fields.length × (1 + cpus)` with `perCpu`. */
  readonly rowValues: number;

  /** The map polled (kept open by the caller). */
  readonly map: LegacyStorageMap;

  private constructor(map: LegacyStorageMap, fields: Field[], capacity: number, locked: boolean, cpus: number) {
    this.map = map;
    this.fields = fields.map((f) => f.path);
    this.rules = fields.map((f) => f.rule);
    this.rowValues = fields.length * (1 + cpus);
    this.table = new ResultsTable({ capacity, fields: this.rowValues });
    this.poller = new SlotPoller(map, this.table, { fields, locked, cpus });
    this.prevValues = new Float64Array(capacity * fields.length);
    this.prevTime = new Float64Array(capacity).fill(NaN);
    this.rateValues = new Float64Array(capacity * fields.length).fill(NaN);
    this.scratch = new Float64Array(this.rowValues);
  }

  /** A collector over `map` (kept open by the caller). Starts its Workers, if any. */
  static async create(map: AnyStorageMap, options: CollectorOptions = {}): Promise<Collector> {
    if (!map.open) throw closedError("collect", `map "${map.info.name}"`);
    if (!isLegacyStorageMap(map)) {
      throw new BpfRuleError("collect", `map "${map.info.name}" is a cgrp_storage map, which the Collector does not poll yet`,
        "scan it with map.forEach(…) (one iterator run per scan)");
    }
    const layout = map.layout;
    if (!layout) {
      throw new BpfError("collect", `map "${map.info.name}" has no layout to name its fields`,
        { kind: "not-found", hint: 'declare one: map.useLayout({ packets: "u64", bytes: "u64" })' });
    }
    const paths = options.fields ?? layout.leaves()
      .filter((l) => l.type.kind === "int" && !l.type.signed && l.bitSize === undefined && [1, 2, 4, 8].includes(l.type.size))
      .map((l) => l.path);
    if (paths.length === 0) throw new BpfRuleError("collect", `map "${map.info.name}" has no unsigned integer fields to collect`, "pass options.fields");
    const fields = paths.map((p) => {
      const f = map.field(p);
      if (!f.integer || f.signed) {
        throw new BpfRuleError("collect", `field "${p}" is a ${f.kind}; the collector keeps unsigned integers (a results row holds u64s)`);
      }
      return f;
    });
    const locked = options.locked ?? (!(map instanceof PerCpuCgroupStorageMap) && layout.hasSpinLock);
    if (options.perCpu && !(map instanceof PerCpuCgroupStorageMap)) {
      throw new BpfRuleError("collect", `perCpu: map "${map.info.name}" is a shared map; it has one value per key`);
    }
    const cpus = options.perCpu && map instanceof PerCpuCgroupStorageMap ? map.cpus : 0;
    const c = new Collector(map, fields, options.capacity ?? 4096, locked, cpus);
    const n = options.workers ?? 0;
    try {
      await Promise.all(Array.from({ length: n }, (_, index) => c.startWorker({
        table: c.table.init, mapFd: map.fd, fields: fields.map((f) => f.spec), locked, cpus, index, count: n,
      })));
    } catch (e) {
      await c.close();
      throw e;
    }
    return c;
  }

  private async startWorker(init: WorkerInit): Promise<void> {
    const w = new Worker(new URL("./worker.ts", import.meta.url).href, { type: "module" });
    this.workers.push(w);
    await this.request(w, { init });
  }

  /** Sends one message to a Worker and resolves with its reply. */
  private request(w: Worker, msg: unknown): Promise<Record<string, unknown>> {
    const r = this.reply(w);
    w.postMessage(msg);
    return r;
  }

  /** The Worker's next message (a reply carrying `error` rejects). */
  private reply(w: Worker): Promise<Record<string, unknown>> {
    return new Promise((resolve, reject) => {
      const onMessage = (e: MessageEvent) => {
        w.removeEventListener("message", onMessage);
        w.removeEventListener("error", onError);
        const data = e.data as Record<string, unknown>;
        if (data.error !== undefined) reject(deserializeError(data.error as SerializedError, "collector worker"));
        else resolve(data);
      };
      const onError = (e: ErrorEvent) => {
        w.removeEventListener("message", onMessage);
        w.removeEventListener("error", onError);
        this.deadWorkers.add(w);
        reject(new BpfError("collect", `collector worker failed: ${e.message}`, { kind: "kernel" }));
      };
      w.addEventListener("message", onMessage);
      w.addEventListener("error", onError);
    });
  }

  /** Slot assignment is the main thread's, and only between polls (one writer per row). */
  private requireIdle(what: string): void {
    if (this.closed) throw closedError("collect", "collector");
    if (this.polling) throw new BpfRuleError("collect", `${what} while a poll() is running`, "await the poll first");
  }

  /**
   * Starts collecting one key (no scan needed); returns its slot. `key` takes the map key forms:
   * a cgroup id (8-byte keys), `{ cgroupId, attachType }` or `map.key(…)`.
   */
  track(key: MapKey): number {
    this.requireIdle("track()");
    // The same checks a lookup makes, now rather than in every later poll.
    const { cgroupId, attachType } = keyParts(this.map, "collect", key);
    return this.trackParts(cgroupId, attachType);
  }

  private trackParts(cgroupId: number, attachType: number | undefined): number {
    const key = keyOf(cgroupId, attachType);
    const existing = this.slotByKey.get(key);
    if (existing !== undefined) return existing;
    let slot = -1;
    for (let s = this.nextFree; s < this.table.capacity; s++) {
      if (this.table.state(s) === SlotState.FREE) {
        slot = s;
        break;
      }
    }
    if (slot < 0) throw new BpfRuleError("collect", `the collector's ${this.table.capacity} slots are all in use`, "create it with a larger capacity");
    this.nextFree = slot + 1;
    this.table.assign(slot, cgroupId, attachType);
    this.prevTime[slot] = NaN; // a new key: no rate until it has been polled twice
    this.rateValues.fill(NaN, slot * this.fields.length, (slot + 1) * this.fields.length);
    this.slotByKey.set(key, slot);
    return slot;
  }

  /**
   * Rediscovers keys with a scan of the map: tracks new ones, retires ones that are gone, and
   * frees slots retired at least two polls ago.
   */
  refresh(): { added: number; retired: number } {
    this.requireIdle("refresh()");
    for (const [slot, at] of this.retiredAt) {
      if (this.polls - at >= REUSE_AFTER_POLLS) {
        this.table.free(slot);
        this.retiredAt.delete(slot);
        this.nextFree = Math.min(this.nextFree, slot);
      }
    }
    const seen = new Set<string>();
    let added = 0;
    for (const k of this.map.keys()) {
      const key = keyOf(k.cgroupId, k.attachType);
      seen.add(key);
      if (!this.slotByKey.has(key)) {
        this.trackParts(k.cgroupId, k.attachType);
        added++;
      }
    }
    let retired = 0;
    for (const [key, slot] of this.slotByKey) {
      if (!seen.has(key)) {
        this.retire(slot, key);
        retired++;
      }
    }
    return { added, retired };
  }

  private retire(slot: number, key = keyOf(this.table.cgroupId(slot), this.table.attachType(slot))): void {
    this.table.retire(slot);
    this.slotByKey.delete(key);
    this.retiredAt.set(slot, this.polls);
  }

  /** Looks up every tracked key once and writes the results table. */
  async poll(): Promise<PollResult> {
    this.requireIdle("poll()");
    const t0 = performance.now();
    const poll = ++this.polls;
    let counts: PollCounts[];
    if (this.workers.length === 0) counts = [this.poller.poll(poll, 0, 1)];
    else {
      if (this.deadWorkers.size > 0) {
        throw new BpfError("collect", "a collector Worker failed", { kind: "kernel", hint: "close() this collector and create a new one" });
      }
      this.polling = true;
      try {
        counts = (await Promise.all(this.workers.map((w) => this.request(w, { poll })))) as unknown as PollCounts[];
      } finally {
        this.polling = false;
      }
    }
    this.updateRates(performance.now());
    let looked = 0, retired = 0;
    for (const c of counts) {
      looked += c.looked;
      for (const slot of c.missing) {
        if (this.table.state(slot) === SlotState.LIVE) {
          this.retire(slot);
          retired++;
        }
      }
    }
    return { poll, looked, retired, ms: performance.now() - t0 };
  }

  /**
   * Per-second rates of every field between the last two polls of each live slot. A value that
   * went down is a counter reset (the value was overwritten, e.g. by update()): the rate counts
   * from zero then. A new key gets rates from its second poll.
   */
  private updateRates(now: number): void {
    const n = this.fields.length, cur = this.scratch;
    for (const slot of this.slotByKey.values()) {
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

  /** Per-second rates of the slot's fields into `out` (NaN until it has been polled twice). */
  rates(slot: number, out: Float64Array): Float64Array {
    const n = this.fields.length;
    for (let i = 0; i < Math.min(n, out.length); i++) out[i] = this.rateValues[slot * n + i]!;
    return out;
  }

  /** Polls done so far. */
  get pollCount(): number {
    return this.polls;
  }

  /** The slot of a tracked key (any map key form), or undefined if it is not tracked. */
  slotOf(key: MapKey): number | undefined {
    const { cgroupId, attachType } = keyParts(this.map, "collect", key);
    return this.slotByKey.get(keyOf(cgroupId, attachType));
  }

  /** Live slots. */
  slots(): number[] {
    return [...this.slotByKey.values()].sort((a, b) => a - b);
  }

  /** A consistent copy of a slot's fields into `out`; returns the poll that wrote them. */
  read(slot: number, out: Float64Array): number {
    return this.table.read(slot, out);
  }

  /** Stops the Workers. The map stays open (it is the caller's). Idempotent. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await Promise.all(this.workers.map(async (w) => {
      try {
        // A dead Worker would never answer: terminate it straight away. A live one gets a
        // moment to close its map fd.
        if (!this.deadWorkers.has(w)) {
          await Promise.race([this.request(w, { close: true }), sleep(2000)]);
        }
      } catch {
        // it failed on the way out: terminate() below is all that is left
      } finally {
        w.terminate();
      }
    }));
    this.workers.length = 0;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}

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
import { BpfError, BpfRuleError, closedError, deserializeError, type SerializedError } from "../errors.ts";
import type { MapKey } from "../maps/key.ts";
import { PerCpuCgroupStorageMap } from "../maps/percpu-cgroup-storage.ts";
import { CgrpStorageMap, type CgrpScanOptions } from "../maps/cgrp-storage.ts";
import type { CgroupKey } from "../maps/cgrp-key.ts";
import type { AnyStorageMap } from "../maps/open.ts";
import type { Field } from "../maps/field.ts";
import type { AggregateRule } from "../btf/schema.ts";
import { ResultsTable, SlotState } from "./results.ts";
import { SlotPoller } from "./poller.ts";
import { CgrpPoller } from "./cgrp-poller.ts";
import { CollectorKeys } from "./collector-keys.ts";
import { SlotRates } from "./rates.ts";
import { INLINE_BELOW, type CollectorOptions, type PollResult } from "./options.ts";
import { Command, Dispatch } from "./dispatch.ts";
import type { WorkerInit } from "./worker.ts";

export { INLINE_BELOW, type CollectorOptions, type PollResult };


/** A Worker, and what arrives from it outside a poll. */
interface WorkerLink {
  readonly worker: Worker;
  /** The reply an init/close request awaits. */
  reply: { resolve: (data: Record<string, unknown>) => void; reject: (e: Error) => void } | null;
  /** Why the Worker died (an uncaught error), and who awaits that. */
  error: Error | null;
  onError: ((e: Error) => void) | null;
  dead: boolean;
}

/** Polls retired slots stay unused, so a reader holding one sees the retirement first. */
const REUSE_AFTER_POLLS = 2;

const keyOf = (id: number, at: number | undefined) => `${id}/${at ?? "-"}`;

export class Collector implements AsyncDisposable {
  readonly table: ResultsTable;
  /** The collected fields' layout paths, in row order. */
  readonly fields: string[];
  /** Each field's per-CPU aggregation rule (per-CPU maps: how the row's total was made). */
  readonly rules: readonly AggregateRule[];
  private readonly slotByKey = new Map<string, number>();
  /** Checks and reads the keys track() and slotOf() are given. */
  private readonly keys: CollectorKeys;
  private readonly retiredAt = new Map<number, number>();
  private readonly poller: SlotPoller | CgrpPoller;
  private readonly rateKeeper: SlotRates;
  private readonly workers: WorkerLink[] = [];
  private dispatch: Dispatch | null = null;
  private inlineBelow = INLINE_BELOW;
  /** Missing slots of a poll in this thread. */
  private readonly missing: Int32Array;
  /** The live slots, ascending, shared with the Workers; relisted before a poll after changes. */
  private readonly live: Int32Array;
  private liveCount = 0;
  private liveDirty = true;
  private polls = 0;
  private closed = false;
  /** A Worker poll in progress: slot assignment and other polls must wait for it. */
  private polling = false;
  /** Settles when the Workers' poll in progress has ended (close() waits for it). */
  private inflight: Promise<void> | null = null;
  /** Lowest slot that may be free (slots below it are known to be taken). */
  private nextFree = 0;

  /** Values per row: `fields.length`, or `fields.length × (1 + cpus)` with `perCpu`. */
  readonly rowValues: number;

  /** The map polled (kept open by the caller). */
  readonly map: AnyStorageMap;

  private constructor(map: AnyStorageMap, fields: Field[], capacity: number, locked: boolean, cpus: number, scan: CgrpScanOptions) {
    this.map = map;
    this.keys = new CollectorKeys(map);
    this.fields = fields.map((f) => f.path);
    this.rules = fields.map((f) => f.rule);
    this.rowValues = fields.length * (1 + cpus);
    this.table = new ResultsTable({ capacity, fields: this.rowValues });
    this.poller = map instanceof CgrpStorageMap
      ? new CgrpPoller(map, this.table, { fields, locked, scan, adopt: (id) => this.adopt(id) })
      : new SlotPoller(map, this.table, { fields, locked, cpus });
    this.rateKeeper = new SlotRates(this.table, fields.length);
    this.missing = new Int32Array(capacity);
    this.live = new Int32Array(new SharedArrayBuffer(4 * capacity));
  }

  /**
   * A collector over `map` (kept open by the caller). Starts its Workers, if any. A cgrp_storage
   * map is polled in the calling thread by one scan per poll (`root`, `method`), never in Workers.
   */
  static async create(map: AnyStorageMap, options: CollectorOptions = {}): Promise<Collector> {
    if (!map.open) throw closedError("collect", `map "${map.info.name}"`);
    const cgrp = map instanceof CgrpStorageMap;
    if (cgrp && (options.workers ?? 0) > 0) {
      throw new BpfRuleError("collect", `workers: map "${map.info.name}" is a cgrp_storage map, polled by one iterator run in the calling thread; Workers cannot share that run`,
        "create its Collector with workers: 0");
    }
    if (!cgrp && (options.root !== undefined || options.method !== undefined)) {
      throw new BpfRuleError("collect", `root and method choose how a cgrp_storage map is scanned; map "${map.info.name}" is a ${map.info.typeName} map`,
        "leave them out: this map's keys are polled by lookup");
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
    const locked = options.locked ?? (!cgrp && !(map instanceof PerCpuCgroupStorageMap) && layout.hasSpinLock);
    if (locked && !layout.hasSpinLock) {
      throw new BpfRuleError("collect", `locked: map "${map.info.name}"'s value has no bpf_spin_lock to read it under`, "leave locked out");
    }
    if (options.perCpu && !(map instanceof PerCpuCgroupStorageMap)) {
      throw new BpfRuleError("collect", `perCpu: map "${map.info.name}" is a shared map; it has one value per key`);
    }
    const cpus = options.perCpu && map instanceof PerCpuCgroupStorageMap ? map.cpus : 0;
    const scan: CgrpScanOptions = cgrp ? { root: options.root, method: options.method } : {};
    if (cgrp) {
      // Checked now, not at the first poll.
      const m = options.method;
      if (m !== undefined && m !== "auto" && m !== "iterator" && m !== "walk") {
        throw new BpfRuleError("collect", `method must be "auto", "iterator" or "walk"; got ${String(m)}`);
      }
      if (options.root !== undefined) map.cgroupIdOf("collect", options.root);
    }
    const c = new Collector(map, fields, options.capacity ?? 4096, locked, cpus, scan);
    const n = options.workers ?? 0;
    c.inlineBelow = options.inlineBelow ?? INLINE_BELOW;
    const dispatch = c.dispatch = n > 0 ? new Dispatch({ workers: n, capacity: c.table.capacity }) : null;
    try {
      await Promise.all(Array.from({ length: n }, (_, index) => c.startWorker({
        table: c.table.init, dispatch: dispatch!.init, live: c.live.buffer as SharedArrayBuffer, mapFd: map.fd, mapId: map.info.id, access: map.access, fields: fields.map((f) => f.spec), locked, cpus,
        index, count: n,
      })));
    } catch (e) {
      await c.close();
      throw e;
    }
    return c;
  }

  private async startWorker(init: WorkerInit): Promise<void> {
    const worker = new Worker(new URL("./worker.ts", import.meta.url).href, { type: "module" });
    const link: WorkerLink = { worker, reply: null, error: null, onError: null, dead: false };
    this.workers.push(link);
    worker.addEventListener("message", (e: MessageEvent) => {
      const data = e.data as Record<string, unknown>;
      const error = data.error !== undefined ? deserializeError(data.error as SerializedError, "collector worker") : null;
      const reply = link.reply;
      link.reply = null;
      if (reply) {
        if (error) reply.reject(error);
        else reply.resolve(data);
      }
    });
    worker.addEventListener("error", (e: ErrorEvent) => {
      link.dead = true;
      const error = new BpfError("collect", `collector worker failed: ${e.message}`, { kind: "kernel" });
      link.reply?.reject(error);
      link.reply = null;
      link.error ??= error;
      link.onError?.(error);
      this.dispatch?.wake(); // a poll waiting for it stops waiting
    });
    try {
      await this.request(link, { init });
    } catch (e) {
      link.dead = true; // it returned without serving: it would not answer a close command
      throw e;
    }
  }

  /** Posts one message to a Worker (or none: `msg` undefined) and resolves with its reply. */
  private request(link: WorkerLink, msg?: unknown): Promise<Record<string, unknown>> {
    const r = new Promise<Record<string, unknown>>((resolve, reject) => {
      link.reply = { resolve, reject };
    });
    if (msg !== undefined) link.worker.postMessage(msg);
    return r;
  }

  /** Why a Worker died (its error event may come after the poll noticed). */
  private deathOf(link: WorkerLink): Promise<Error> {
    if (link.error) return Promise.resolve(link.error);
    return new Promise((resolve) => {
      link.onError = resolve;
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
  track(key: MapKey | CgroupKey): number {
    this.requireIdle("track()");
    // The same checks a lookup makes, now rather than in every later poll.
    const { cgroupId, attachType } = this.keys.parts("collect", key);
    return this.trackParts(cgroupId, attachType);
  }

  /** A cgroup a cgrp_storage poll found: tracked now (-1 when every slot is taken). */
  private adopt(cgroupId: number): number {
    // Every slot not free is live (slotByKey) or retired (retiredAt).
    if (this.slotByKey.size + this.retiredAt.size >= this.table.capacity) return -1;
    return this.trackParts(cgroupId, undefined);
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
    this.liveDirty = true;
    this.rateKeeper.reset(slot);
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
    const found = (cgroupId: number, attachType: number | undefined) => {
      const key = keyOf(cgroupId, attachType);
      seen.add(key);
      if (!this.slotByKey.has(key)) {
        this.trackParts(cgroupId, attachType);
        added++;
      }
    };
    if (this.poller instanceof CgrpPoller) this.poller.scanKeys(found);
    else if (!(this.map instanceof CgrpStorageMap)) for (const k of this.map.keys()) found(k.cgroupId, k.attachType);
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
    this.liveDirty = true;
    this.slotByKey.delete(key);
    this.retiredAt.set(slot, this.polls);
  }

  /**
   * Looks up every tracked key once and writes the results table: in the Workers, or in the
   * calling thread when there are none or fewer live keys than `inlineBelow`.
   */
  async poll(): Promise<PollResult> {
    this.requireIdle("poll()");
    const t0 = performance.now();
    const poll = ++this.polls;
    let looked = 0, retired = 0, added = 0;
    const d = this.dispatch;
    if (this.liveDirty) this.listLive();
    if (this.poller instanceof CgrpPoller) {
      looked = this.poller.poll(poll, this.live, this.liveCount, this.missing);
      added = this.poller.added;
      this.rateKeeper.update(this.slotByKey.values(), performance.now());
      retired = this.retireMissing(this.missing, 0, this.poller.missingCount);
    } else if (d === null || this.liveCount < this.inlineBelow) {
      looked = this.poller.poll(poll, this.live, 0, this.liveCount, this.missing);
      this.rateKeeper.update(this.slotByKey.values(), performance.now());
      retired = this.retireMissing(this.missing, 0, this.poller.missingCount);
    } else {
      if (this.workers.some((l) => l.dead)) {
        throw new BpfError("collect", "a collector Worker failed", { kind: "kernel", hint: "close() this collector and create a new one" });
      }
      this.polling = true;
      try {
        d.start(Command.POLL, poll, this.liveCount);
        await (this.inflight = d.finished(() => this.workers.some((l) => l.dead)));
        for (const [i, l] of this.workers.entries()) {
          if (l.dead) throw await this.deathOf(l);
          if (d.failed(i)) throw deserializeError(d.error(i), "collector worker");
        }
      } finally {
        this.polling = false;
        this.inflight = null;
      }
      this.rateKeeper.update(this.slotByKey.values(), performance.now());
      for (let i = 0; i < d.workers; i++) {
        looked += d.looked(i);
        retired += this.retireMissing(d.missing, i * d.perWorker, d.missingCount(i));
      }
    }
    return { poll, looked, retired, added, ms: performance.now() - t0 };
  }

  /** Lists the live slots in ascending order (Worker i of n polls the i-th n-th of the list). */
  private listLive(): void {
    let n = 0;
    for (const slot of this.slotByKey.values()) this.live[n++] = slot;
    this.live.subarray(0, n).sort();
    this.liveCount = n;
    this.liveDirty = false;
    if (this.poller instanceof CgrpPoller) this.poller.relist(this.live, n);
  }

  private retireMissing(missing: Int32Array, from: number, count: number): number {
    let retired = 0;
    for (let i = from; i < from + count; i++) {
      const slot = missing[i]!;
      if (this.table.state(slot) === SlotState.LIVE) {
        this.retire(slot);
        retired++;
      }
    }
    return retired;
  }

  /**
   * Per-second rates of the slot's fields into `out` between its last two polls (NaN until it
   * has been polled twice; a value that went down counts as a reset, never a negative rate).
   */
  rates(slot: number, out: Float64Array): Float64Array {
    return this.rateKeeper.read(slot, out);
  }

  /** Polls done so far. */
  get pollCount(): number {
    return this.polls;
  }

  /** The slot of a tracked key (any map key form), or undefined if it is not tracked. */
  slotOf(key: MapKey | CgroupKey): number | undefined {
    const { cgroupId, attachType } = this.keys.parts("collect", key);
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
    // Every live Worker is asleep between polls: one close command wakes them all. A live one
    // gets a moment to close its map fd and answer; a dead one is terminated straight away.
    // A poll in progress ends first: the close command must not overwrite its control words.
    await this.inflight;
    const live = this.workers.filter((l) => !l.dead);
    const replies = live.map((l) => this.request(l).catch(() => undefined));
    this.dispatch?.start(Command.CLOSE);
    let timer: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([Promise.all(replies), new Promise((resolve) => (timer = setTimeout(resolve, 2000)))]);
    clearTimeout(timer);
    for (const l of this.workers) l.worker.terminate();
    this.workers.length = 0;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}

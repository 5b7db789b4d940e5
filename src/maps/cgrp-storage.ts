/**
 * `CgrpStorageMap`: BPF_MAP_TYPE_CGRP_STORAGE (kernel ≥ 6.2), the cgroup local storage new BPF
 * programs use. One value per cgroup, created by programs (`bpf_cgrp_storage_get` with
 * F_CREATE) or by `update` from user space, deleted by `delete` or with its cgroup. Keyed by a
 * cgroup (see `CgroupKey`); it has no get_next_key, so scans run the bundled cgroup iterator.
 */
import { libbpf } from "../ffi/index.ts";
import { BpfRuleError, EBADF, EEXIST, ENOENT, EPERM, EINVAL, typeMismatch, type BpfError, type BpfOp } from "../errors.ts";
import { ElemFlags, MapType } from "../constants.ts";
import { decode, type DecodeOptions } from "../btf/decode.ts";
import type { Layout, LayoutType } from "../btf/layout.ts";
import type { AggregateRules, DecodedStruct, Int64AsNumber, Schema, SchemaValue } from "../btf/schema.ts";
import { MapHandle } from "./handle.ts";
import { asBytes } from "./percpu-values.ts";
import { valueTarget } from "./cgroup-storage.ts";
import { LOCK_HINT, checkFlagsType, type ValueTarget } from "./storage-map.ts";
import { notAHandle, openAs, wrongType, type MapSource } from "./source.ts";
import { CgroupFds, type CgroupKey } from "./cgrp-key.ts";
import { Scanner, checkSlots, type ScanMethod, type ScanReport } from "./cgrp-scan.ts";
import { Records } from "./cgrp-iter.ts";
import type { MapInfo } from "./info.ts";
import { inodeOfFd, toBytePath } from "../bytepath.ts";

/** Called with every entry of a scan, as the other maps' `forEach` does (no attach type here). */
export type CgrpEntryCallback = (cgroupId: number, attachType: undefined, value: Uint8Array) => void;

/** Options of a scan (`forEach`, `cursor`, `keys`, `entries`). */
export interface CgrpScanOptions {
  /** Only this cgroup and its descendants (default: the whole cgroup v2 hierarchy). */
  root?: CgroupKey;
  /** `"auto"` (default): the iterator, or the tree walk where it cannot load; or force one. */
  method?: ScanMethod;
  /** Record slots of the iterator's first array (grown past it as needed). */
  slots?: number;
}

/** Flags of a lookup: 0, or `ElemFlags.F_LOCK` to copy a value under its spin lock. */
export type CgrpLookupFlags = typeof ElemFlags.ANY | typeof ElemFlags.F_LOCK;

const NO_OPTIONS: CgrpScanOptions = Object.freeze({});

/** Byte offsets of every `bpf_spin_lock` in a value. */
function lockOffsets(t: LayoutType | undefined, base = 0, out: number[] = []): number[] {
  if (t === undefined) return out;
  if (t.kind === "spin_lock") out.push(base);
  else if (t.kind === "struct" || t.kind === "union") for (const f of t.fields) lockOffsets(f.type, base + f.offset, out);
  else if (t.kind === "array") for (let i = 0; i < t.length; i++) lockOffsets(t.element, base + i * t.element.size, out);
  return out;
}

/**
 * A cgroup storage map of the modern kind. Keys are cgroups: `lookup(cg)`, `lookup("/app")`,
 * `lookup(cgroupId)` or `lookup({ fd })`; a cgroup is resolved once and its fd cached.
 * ```ts
 * using m = createMap({ type: "cgrp", schema: { packets: "u64", bytes: "u64" } });
 * m.update(cg, bytes);
 * m.forEach((id, _, v) => console.log(id, m.decode(v)));
 * ```
 */
export class CgrpStorageMap<T = DecodedStruct> extends MapHandle<T> {
  private readonly fds: CgroupFds;
  private readonly target: ValueTarget<Uint8Array>;
  private readonly staging: ValueTarget<Uint8Array>;
  private readonly scanner: Scanner;
  private lockCache: number[] | undefined;
  private readonly running: { records: Records }[] = [];
  private depth = 0;

  /** @internal use `CgrpStorageMap.open`, `openMap`, `createMap` or `BpfObject.map` */
  constructor(fd: number, info: MapInfo) {
    super(fd, info);
    this.fds = new CgroupFds(this);
    this.target = valueTarget(info.valueSize);
    this.staging = valueTarget(info.valueSize);
    const self = this;
    this.scanner = new Scanner({
      get fd() { return self.fd; },
      valueSize: info.valueSize,
      get lockOffsets() { return self.locks(); },
    });
  }

  /** Opens a CGRP_STORAGE map (a pin path, `{ id }` or `{ fd }`, which is duplicated). */
  static open<T = DecodedStruct>(source: MapSource): CgrpStorageMap<T> {
    return openAs(source, MapType.CGRP_STORAGE, "CgrpStorageMap", (fd, info) => new CgrpStorageMap<T>(fd, info));
  }

  /** `handle` as a `CgrpStorageMap` (the same object), or a `BpfRuleError` naming its type. */
  static from<T = DecodedStruct>(handle: MapHandle<unknown>): CgrpStorageMap<T> {
    if (handle instanceof CgrpStorageMap) return handle as CgrpStorageMap<T>;
    if (handle instanceof MapHandle) throw wrongType(`map "${handle.info.name}"`, handle.info, MapType.CGRP_STORAGE, "CgrpStorageMap");
    return notAHandle("CgrpStorageMap", handle);
  }

  /** Always false: one value per cgroup. */
  get perCpu(): false {
    return false;
  }

  /** What the last scan did: `method` ("iterator" or "walk"), entries, cgroups visited, reruns, reason. */
  get lastScan(): Readonly<ScanReport> {
    return this.scanner.report;
  }

  /** Declares (or overrides) the value layout; its size must be `valueSize`. */
  useLayout<const S extends Schema>(schema: S, rules?: AggregateRules<SchemaValue<S>>): CgrpStorageMap<SchemaValue<S>>;
  useLayout<V = T>(layout: Layout, rules?: AggregateRules<V>): CgrpStorageMap<V>;
  useLayout(layout: Schema | Layout, rules?: { readonly [path: string]: string | undefined }): CgrpStorageMap<unknown> {
    this.setLayout(layout, rules);
    this.lockCache = undefined;
    return this as CgrpStorageMap<unknown>;
  }

  private locks(): number[] {
    return (this.lockCache ??= lockOffsets(this.layout?.type));
  }

  private get hasLock(): boolean {
    return this.locks().length > 0;
  }

  /**
   * The value of `cgroup`, or null when it has none (or the cgroup does not exist). The result
   * belongs to the map and is overwritten by the next lookup. `ElemFlags.F_LOCK` copies it
   * under its spin lock. Allocates nothing for a reused id or `Cgroup`.
   */
  lookup(cgroup: CgroupKey, flags: CgrpLookupFlags = 0): Uint8Array | null {
    if (flags !== 0) this.checkLock("lookup", flags, "0 or ElemFlags.F_LOCK");
    const kp = this.fds.resolve("lookup", cgroup);
    if (kp === null) return null;
    const rc = flags === 0
      ? libbpf.mapLookupElem(this.fd, kp, this.target.pointer)
      : libbpf.mapLookupElemFlags(this.fd, kp, this.target.pointer, flags);
    if (rc === 0) return this.target.value;
    if (rc === -ENOENT) {
      this.fds.forgetIfRemoved();
      return null;
    }
    throw this.keyError("lookup", rc, cgroup);
  }

  /** Looks `cgroup` up into `target` (at least `valueSize` bytes); false, `target` untouched, when it has no value. */
  lookupInto(cgroup: CgroupKey, target: ArrayBufferView, flags: CgrpLookupFlags = 0): boolean {
    const dst = asBytes("lookup", target, `a Uint8Array (or other ArrayBufferView) of at least ${this.valueSize} bytes`);
    if (dst.byteLength < this.valueSize) {
      throw new BpfRuleError("lookup", `target is ${dst.byteLength} bytes; this map's values are ${this.valueSize}`, "make one with map.newValue()");
    }
    const v = this.lookup(cgroup, flags);
    if (v === null) return false;
    dst.set(v);
    return true;
  }

  /**
   * Writes `cgroup`'s value, creating it if needed. `flags`: `ElemFlags.ANY` (default),
   * `NOEXIST` (only create: EEXIST if it has one) or `EXIST` (only replace: ENOENT if not),
   * optionally `| F_LOCK` to copy into an existing value under its spin lock.
   */
  update(cgroup: CgroupKey, value: ArrayBufferView, flags: number = ElemFlags.ANY): void {
    const src = asBytes("update", value, `a Uint8Array (or other ArrayBufferView) of ${this.valueSize} bytes`);
    if (src.byteLength !== this.valueSize) {
      throw new BpfRuleError("update", `value is ${src.byteLength} bytes; this map's values are exactly ${this.valueSize} bytes`);
    }
    checkFlagsType("update", flags);
    if ((flags & ~ElemFlags.F_LOCK) > ElemFlags.EXIST) {
      throw new BpfRuleError("update", `flags ${flags}: a cgrp_storage update takes one of ElemFlags.ANY, NOEXIST or EXIST, optionally | F_LOCK`,
        "NOEXIST and EXIST together can never both hold");
    }
    if (flags & ElemFlags.F_LOCK) this.checkLock("update", flags, "ANY, NOEXIST or EXIST, | F_LOCK");
    const kp = this.fds.resolve("update", cgroup);
    if (kp === null) throw this.goneError("update", cgroup);
    this.staging.value.set(src);
    const rc = libbpf.mapUpdateElem(this.fd, kp, this.staging.pointer, flags);
    if (rc === 0) return;
    if (rc === -ENOENT && this.fds.forgetIfRemoved()) throw this.goneError("update", cgroup);
    throw this.keyError("update", rc, cgroup, flags);
  }

  /** Deletes `cgroup`'s value. ENOENT (kind "not-found") when it has none. */
  delete(cgroup: CgroupKey): void {
    const kp = this.fds.resolve("delete", cgroup);
    if (kp === null) throw this.goneError("delete", cgroup);
    const rc = libbpf.mapDeleteElem(this.fd, kp);
    if (rc === 0) return;
    if (rc === -ENOENT && this.fds.forgetIfRemoved()) throw this.goneError("delete", cgroup);
    throw this.keyError("delete", rc, cgroup);
  }

  /** A value as a plain object by the map's layout (spin locks left out). Allocates. */
  decode(value: Uint8Array, options: { int64: "number" }): Int64AsNumber<T>;
  decode(value: Uint8Array, options?: DecodeOptions): T;
  decode(value: Uint8Array, options?: DecodeOptions): unknown {
    if (!(value instanceof Uint8Array)) typeMismatch("lookup", "the value", "a Uint8Array from lookup()", value);
    return decode(this.requireLayout(), value, options);
  }

  /** A zeroed value of this map's size. */
  newValue(): Uint8Array {
    return new Uint8Array(this.valueSize);
  }

  /**
   * Calls `fn(cgroupId, undefined, value)` for every cgroup with a value (under `options.root`).
   * One iterator run copies them all; `value` is read in place and overwritten by the next
   * scan. Spin-locked values are copied without their lock (an iterator cannot take it), so
   * one may be torn: read it with `lookup(cg, ElemFlags.F_LOCK)` when that matters. Allocates
   * nothing per entry, nor per scan once warm. Returns the number of entries.
   */
  forEach(fn: CgrpEntryCallback, options?: CgrpScanOptions): number {
    const records = this.runScan(options);
    // One holder per nesting depth, reused: a scan allocates nothing once warm.
    const running = (this.running[this.depth] ??= { records });
    running.records = records;
    const n = this.scanner.report.entries;
    const outer = this.scanner.busy;
    this.scanner.busy = running;
    this.depth++;
    try {
      for (let i = 0; i < n; i++) {
        const r = running.records; // replaced by a copy if the callback starts another scan
        fn(r.id(i), undefined, r.value(i));
      }
    } finally {
      this.depth--;
      if (this.scanner.busy === running) this.scanner.busy = outer;
    }
    return n;
  }

  /** A cursor over one scan's snapshot (copied out of the shared records): `while (c.next()) …`. */
  cursor(options?: CgrpScanOptions): CgrpScanCursor {
    return new CgrpScanCursor(this, options);
  }

  /** Every cgroup id with a value. */
  *keys(options?: CgrpScanOptions): IterableIterator<number> {
    const c = this.cursor(options);
    while (c.next()) yield c.cgroupId;
  }

  /** Every entry with a copy of its value. */
  *entries(options?: CgrpScanOptions): IterableIterator<[number, Uint8Array]> {
    const c = this.cursor(options);
    while (c.next()) yield [c.cgroupId, c.value.slice()];
  }

  /** One scan; the shared records. @internal */
  runScan(options: CgrpScanOptions = NO_OPTIONS): Records {
    if (typeof options !== "object" || options === null) typeMismatch("collect", "scan options", "{ root?, method?, slots? }", options);
    const { method = "auto", root } = options;
    if (method !== "auto" && method !== "iterator" && method !== "walk") {
      throw new BpfRuleError("collect", `method must be "auto", "iterator" or "walk"; got ${String(method)}`);
    }
    const slots = checkSlots(options.slots);
    if (this.fd < 0) throw this.elemError("collect", -EBADF, "scan");
    let rootId = 0, rootPath: Uint8Array | null = null;
    if (root !== undefined) {
      rootId = this.cgroupIdOf("collect", root);
      // The walk reads the directory through the fd: the same cgroup even if its path changed.
      rootPath = toBytePath(`/proc/self/fd/${this.fds.lastFd}`);
    }
    return this.scanner.scan(method, rootId, rootPath, slots);
  }

  /**
   * The id of the cgroup `key` names (opened and cached like a lookup's key); a `BpfError` of
   * kind "not-found" when there is no such cgroup. @internal
   */
  cgroupIdOf(op: BpfOp, key: CgroupKey): number {
    if (this.fds.resolve(op, key) === null) throw this.goneError(op, key);
    return this.fds.lastId || inodeOfFd(this.fds.lastFd);
  }

  /** Closes the fd, the cached cgroup fds and the iterator. Idempotent. */
  override close(): void {
    if (!this.open) return;
    this.scanner.close();
    this.fds.close();
    super.close();
  }

  private checkLock(op: BpfOp, flags: number, allowed: string): void {
    checkFlagsType(op, flags);
    if (op === "lookup" && flags !== ElemFlags.F_LOCK) throw new BpfRuleError(op, `flags ${flags}: a cgrp_storage lookup takes ${allowed}`);
    if (!this.hasLock) {
      throw new BpfRuleError(op, `BPF_F_LOCK needs a struct bpf_spin_lock in the value, and map "${this.info.name}"'s value has none`, LOCK_HINT);
    }
  }

  private goneError(op: BpfOp, cgroup: CgroupKey): BpfError {
    return this.elemError(op, -ENOENT, `${this.fds.describe(cgroup)}: no such cgroup (removed, or never there)`, undefined, "not-found");
  }

  private keyError(op: BpfOp, rc: number, cgroup: CgroupKey, flags = 0): BpfError {
    const hint = rc === -EBADF ? "the key must be an open fd of a cgroup directory"
      : rc === -EEXIST ? "ElemFlags.NOEXIST: this cgroup has a value already"
      : rc === -ENOENT && op === "update" ? "ElemFlags.EXIST: this cgroup has no value yet"
      : rc === -EPERM ? "CGRP_STORAGE needs CAP_BPF (run as root)"
      : rc === -EINVAL && (flags & ElemFlags.F_LOCK) ? LOCK_HINT : undefined;
    return this.elemError(op, rc, this.fds.describe(cgroup), hint);
  }
}

/** A position in one scan's snapshot of a CGRP_STORAGE map; its records are its own copy. */
export class CgrpScanCursor {
  private readonly map: CgrpStorageMap<unknown>;
  private readonly options: CgrpScanOptions | undefined;
  private records: Records | null = null;
  private snapshot: Records | null = null;
  private index = -1;
  private total = 0;

  /** @internal use `map.cursor()` */
  constructor(map: CgrpStorageMap<unknown>, options?: CgrpScanOptions) {
    this.map = map;
    this.options = options;
  }

  /** Moves to the next entry (the first call runs the scan). False at the end. */
  next(): boolean {
    if (this.records === null) {
      const shared = this.map.runScan(this.options);
      this.total = this.map.lastScan.entries;
      let own = this.snapshot;
      if (own === null || own.capacity < this.total) own = this.snapshot = Records.owned(shared.valueSize, Math.max(this.total, 16));
      own.copyFrom(shared, this.total);
      this.records = own;
      this.index = -1;
    }
    if (this.index + 1 >= this.total) {
      this.index = this.total;
      return false;
    }
    this.index++;
    return true;
  }

  /** The current entry's cgroup id. */
  get cgroupId(): number {
    return this.records!.id(this.index);
  }

  /** Always undefined: CGRP_STORAGE keys have no attach type. */
  get attachType(): undefined {
    return undefined;
  }

  /** The current entry's value (the cursor's copy; overwritten by the next scan after `reset()`). */
  get value(): Uint8Array {
    return this.records!.value(this.index);
  }

  /** Entries visited since the scan started. */
  get count(): number {
    return Math.min(this.index + 1, this.total);
  }

  /** Scans again on the next `next()`, reusing this cursor's buffers. */
  reset(): this {
    this.records = null;
    this.index = -1;
    return this;
  }
}

/**
 * Scans of a CGRP_STORAGE map, which has no get_next_key: one run of the bundled cgroup
 * iterator (cgrp-iter.ts) copies every value into records read in place, or, where cgroup
 * iterators are missing (< 6.1) or refused, a walk of the cgroup tree (getdents, open, lookup
 * by fd) fills records of its own. Either way a scan is a set of records, then a loop.
 * @internal
 */
import { readFileSync } from "node:fs";
import { bundledObject } from "../bundled.ts";
import { libbpf } from "../ffi/index.ts";
import { BpfError, BpfRuleError, bpfError, ENOENT } from "../errors.ts";
import { closeFd, inodeOfFd, joinBytes, listDir, openDirectory, toBytePath, type BytePath } from "../bytepath.ts";
import { cgroupRoot } from "../cgroup/mount.ts";
import { CgrpIterator, Records, type SessionCounts } from "./cgrp-iter.ts";

/** How a scan reads the map: the bundled iterator, the tree walk, or the iterator when it loads. */
export type ScanMethod = "auto" | "iterator" | "walk";

/** What the last scan did (`map.lastScan`): updated in place by every scan. */
export interface ScanReport {
  /** The path it took: `"iterator"` (one iter/cgroup run) or `"walk"` (getdents + open + lookup). */
  method: "iterator" | "walk" | "none";
  /** Entries found. */
  entries: number;
  /** Cgroups visited. */
  cgroups: number;
  /** Extra iterator runs because the records array had to grow. */
  reruns: number;
  /** Why the iterator was not used, when `method` is "walk" without being asked to. */
  reason: string | undefined;
}

/** What a scan needs from its map. */
export interface ScanHost {
  readonly fd: number;
  readonly valueSize: number;
  /** Byte offsets of the value's spin locks (zeroed in every record, as lookup does). */
  readonly lockOffsets: readonly number[];
}

let iteratorElf: Uint8Array | null | undefined;
/**
 * The bundled iterator object's bytes (found like every bundled object: next to the module, or
 * embedded in a compiled binary), read once; null when it is not there (a checkout not built).
 */
function iteratorObject(): Uint8Array | null {
  if (iteratorElf === undefined) {
    try {
      iteratorElf = readFileSync(bundledObject("cgrp_iter.bpf.o"));
    } catch {
      iteratorElf = null;
    }
  }
  return iteratorElf;
}

/** Slots of a first records array: enough for a typical host, grown (and the walk rerun) past it. */
const DEFAULT_SLOTS = 1024;

/** One map's scanning machinery: its iterator (loaded once), or why it cannot have one. */
export class Scanner {
  readonly report: ScanReport = { method: "none", entries: 0, cgroups: 0, reruns: 0, reason: undefined };
  private iterator: CgrpIterator | null = null;
  private iteratorFailure: string | undefined;
  private readonly counts: SessionCounts = { count: 0, visited: 0 };
  private walkRecords: Records | null = null;
  private readonly host: ScanHost;
  private readonly walkKey = new Int32Array(new ArrayBuffer(8));
  /** A forEach reading the shared records right now (a nested scan must not overwrite them). */
  busy: { records: Records } | null = null;

  constructor(host: ScanHost) {
    this.host = host;
  }

  /**
   * Runs one scan of the subtree at `rootId` (0: the whole hierarchy; `rootPath` for the walk)
   * and returns the records holding `report.entries` entries. The records are shared: the next
   * scan overwrites them.
   */
  scan(method: ScanMethod, rootId: number, rootPath: BytePath | null, slots: number | undefined): Records {
    if (this.busy !== null) {
      // A scan inside a forEach callback: give the running forEach a copy to finish with.
      const running = this.busy;
      const copy = Records.owned(this.host.valueSize, this.report.entries);
      copy.copyFrom(running.records, this.report.entries);
      running.records = copy;
      this.busy = null;
    }
    const r = this.report;
    r.reruns = 0;
    r.reason = undefined;
    if (method !== "walk") {
      const it = this.loadIterator(method, slots);
      if (it !== null) return this.runIterator(it, rootId);
      r.reason = this.iteratorFailure;
    }
    return this.walk(rootPath ?? toBytePath(cgroupRoot()));
  }

  private loadIterator(method: ScanMethod, slots: number | undefined, grow?: number): CgrpIterator | null {
    if (this.iterator !== null && grow === undefined && (slots === undefined || slots <= this.iterator.records.capacity)) {
      return this.iterator;
    }
    if (this.iteratorFailure !== undefined && method === "auto") return null;
    const elf = iteratorObject();
    if (elf === null) {
      this.iteratorFailure = "the bundled iterator native/build/cgrp_iter.bpf.o is not built (make -C native)";
      if (method === "iterator") throw new BpfError("collect", this.iteratorFailure, { kind: "environment" });
      return null;
    }
    const want = grow ?? slots ?? Math.max(this.iterator?.records.capacity ?? 0, DEFAULT_SLOTS);
    try {
      const it = CgrpIterator.load(elf, this.host.fd, this.host.valueSize, want);
      this.iterator?.close();
      this.iterator = it;
      return it;
    } catch (e) {
      if (method === "iterator" || grow !== undefined || !(e instanceof BpfError) || e.errno === undefined) throw e;
      // Refused (no CAP_BPF/CAP_PERFMON, kernel < 6.1 without cgroup iterators, no BTF): walk.
      this.iteratorFailure = `the cgroup iterator could not be loaded: ${e.message}`;
      return null;
    }
  }

  private runIterator(first: CgrpIterator, rootId: number): Records {
    let it = first;
    const c = this.counts, r = this.report;
    for (;;) {
      it.run(rootId, c);
      if (c.count <= it.records.capacity) break;
      // More cgroups than slots: a bigger array (a new program bound to it), and run again.
      r.reruns++;
      it = this.loadIterator("iterator", undefined, Math.ceil(c.count * 1.5))!;
    }
    r.method = "iterator";
    r.entries = c.count;
    r.cgroups = c.visited;
    it.records.zero(c.count, this.host.lockOffsets);
    return it.records;
  }

  /** The fallback: every directory under `root` (root included, pre-order), looked up by fd. */
  private walk(root: BytePath): Records {
    const { valueSize } = this.host;
    let records = this.walkRecords ??= Records.owned(valueSize, 64);
    const value = new Uint8Array(new ArrayBuffer((valueSize + 7) & ~7), 0, valueSize);
    const valuePointer = libbpf.pointer(value), keyPointer = libbpf.pointer(this.walkKey);
    let entries = 0, cgroups = 0;
    const visit = (dir: BytePath, id: number | undefined) => {
      const fd = openDirectory(dir);
      if (fd === null) return; // removed meanwhile
      try {
        cgroups++;
        this.walkKey[0] = fd;
        const rc = libbpf.mapLookupElem(this.host.fd, keyPointer, valuePointer);
        if (rc === 0) {
          if (entries === records.capacity) {
            const bigger = Records.owned(valueSize, records.capacity * 2);
            bigger.copyFrom(records, entries);
            records = this.walkRecords = bigger;
          }
          records.set(entries++, id ?? inodeOfFd(fd), value);
        } else if (rc !== -ENOENT) throw bpfError("lookup", rc, "scan (cgroup tree walk) of a cgrp_storage map");
      } finally {
        closeFd(fd);
      }
      for (const e of listDir(dir) ?? []) if (e.isDir) visit(joinBytes(dir, e.name), e.ino);
    };
    visit(root, undefined);
    const r = this.report;
    r.method = "walk";
    r.entries = entries;
    r.cgroups = cgroups;
    records.zero(entries, this.host.lockOffsets);
    return records;
  }

  /** Unloads the iterator. */
  close(): void {
    this.iterator?.close();
    this.iterator = null;
  }
}

/** Checks a scan's `slots` option. */
export function checkSlots(slots: unknown): number | undefined {
  if (slots === undefined) return undefined;
  if (typeof slots !== "number" || !Number.isInteger(slots) || slots < 1 || slots > 1 << 24) {
    throw new BpfRuleError("collect", `slots must be a whole number from 1 to 2^24; got ${String(slots)}`);
  }
  return slots;
}

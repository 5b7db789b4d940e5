/**
 * The bundled `iter/cgroup` program (native/cgrp_iter.bpf.c) bound to one CGRP_STORAGE map, and
 * the records it writes: `{ u64 cgroup id; value, rounded up to 8 }` per cgroup with a value,
 * in a `BPF_F_MMAPABLE` array read in place through an mmap.
 *
 * The mapping outlives every view of it: views are made over one `ArrayBuffer` that wraps the
 * mapping, and the mapping is unmapped only when that `ArrayBuffer` is collected, which cannot
 * happen while any view (held by a caller, or by a callback's closure) can still be reached.
 * Touching memory after munmap would crash the process; this way it cannot be done.
 * @internal
 */
import { libbpf, type NativeHandle } from "../ffi/index.ts";
import { CGROUP_ITER_DESCENDANTS_PRE, encodeCgroupIterInfo, encodeIterAttachOpts } from "../ffi/structs.ts";
import { BpfError, bpfError } from "../errors.ts";
import { U32 } from "./key.ts";
import { disarm, releaseWhenCollected } from "../finalize.ts";
import { registerValueSlots, type ValueSlots } from "./field.ts";

const PROT_READ = 1, PROT_WRITE = 2, MAP_SHARED = 1, PAGE = 4096;

/**
 * Records: `stride`-byte slots, the cgroup id (u64) then the value. Registered as value slots,
 * so that field accessors read the views it hands out without re-checking each one.
 */
export class Records implements ValueSlots {
  readonly buffer: ArrayBuffer;
  readonly stride: number;
  readonly valueSize: number;
  /** Slots the buffer holds. */
  readonly capacity: number;
  readonly words: Uint32Array;
  readonly view: DataView;
  readonly views: Uint8Array[] = [];
  /** Where slot 0's value starts (after its id). */
  readonly first = 8;

  constructor(buffer: ArrayBuffer, valueSize: number, capacity: number) {
    this.buffer = buffer;
    this.valueSize = valueSize;
    this.stride = recordStride(valueSize);
    this.capacity = capacity;
    this.words = new Uint32Array(buffer, 0, (this.capacity * this.stride) >> 2);
    this.view = new DataView(buffer, 0, this.capacity * this.stride);
    registerValueSlots(buffer, this);
  }


  /** A records buffer of its own (JavaScript memory) for `capacity` slots. */
  static owned(valueSize: number, capacity: number): Records {
    const n = Math.max(1, capacity);
    return new Records(new ArrayBuffer(n * recordStride(valueSize)), valueSize, n);
  }

  /** Slot `i`'s cgroup id. */
  id(i: number): number {
    const w = (i * this.stride) >> 2;
    return this.words[w]! + this.words[w + 1]! * U32;
  }

  /** Slot `i`'s value: a view made once per slot and reused by every later scan. */
  value(i: number): Uint8Array {
    let v = this.views[i];
    if (v === undefined) {
      for (let j = this.views.length; j <= i; j++) this.views.push(new Uint8Array(this.buffer, j * this.stride + 8, this.valueSize));
      v = this.views[i]!;
    }
    return v;
  }

  /** Writes slot `i`: `id` and `value` (`valueSize` bytes). */
  set(i: number, id: number, value: Uint8Array): void {
    const w = (i * this.stride) >> 2;
    this.words[w] = id >>> 0;
    this.words[w + 1] = (id - (id >>> 0)) / U32;
    this.value(i).set(value);
  }

  /** Copies the first `count` slots of `from` (same value size). */
  copyFrom(from: Records, count: number): void {
    new Uint8Array(this.buffer, 0, count * this.stride).set(new Uint8Array(from.buffer, 0, count * this.stride));
  }

  /** Zeroes the bytes at `offsets` (spin locks) in the first `count` values. */
  zero(count: number, offsets: readonly number[]): void {
    if (offsets.length === 0) return;
    for (let i = 0; i < count; i++) {
      const base = (i * this.stride + 8) >> 2;
      for (const off of offsets) this.words[base + (off >> 2)] = 0;
    }
  }
}

/** Bytes per record: the u64 id, then the value rounded up to 8 (the array's value size). */
export function recordStride(valueSize: number): number {
  return 8 + ((valueSize + 7) & ~7);
}

const unmapper = new FinalizationRegistry<{ address: number; length: number }>((m) => {
  libbpf.munmap(m.address, m.length);
});

/** What one session found. */
export interface SessionCounts {
  /** Cgroups with a value (more than `capacity` means the array was too small). */
  count: number;
  /** Cgroups the walk visited. */
  visited: number;
}

/** The iterator program loaded for one map, its records array and that array's mapping. */
export class CgrpIterator {
  readonly records: Records;
  private obj: NativeHandle | null;
  private readonly prog: NativeHandle;
  /** What the fd-leak net releases if this is dropped unclosed (no reference back to it). */
  private readonly held: { obj: NativeHandle | null; link: NativeHandle | null };
  private link: NativeHandle | null = null;
  private linkFd = -1;
  private linkRoot = -1;
  private readonly out = new Uint32Array(new ArrayBuffer(16));
  private readonly outBytes = new Uint8Array(this.out.buffer);

  private constructor(obj: NativeHandle, prog: NativeHandle, records: Records) {
    this.obj = obj;
    this.prog = prog;
    this.records = records;
    this.held = { obj, link: null };
    releaseWhenCollected(this, releaseHeld, this.held);
  }

  /**
   * Opens the iterator object `elf` (its bytes: libbpf reads them until the load, which this
   * call finishes), binds it to map fd `mapFd` (values of `valueSize` bytes) with `slots`
   * record slots, loads it and maps the records. Throws a `BpfError` with the errno.
   */
  static load(elf: Uint8Array, mapFd: number, valueSize: number, slots: number): CgrpIterator {
    const obj = libbpf.objectOpenMem(elf);
    if (obj === null) throw bpfError("load", libbpf.errno(), "bpf_object__open_mem(cgrp_iter.bpf.o)");
    try {
      const find = (name: string) => {
        const m = libbpf.objectFindMapByName(obj, name);
        if (m === null) throw new BpfError("load", `cgrp_iter.bpf.o has no map "${name}"`, { kind: "environment" });
        return m;
      };
      const check = (rc: number, what: string) => {
        if (rc < 0) throw bpfError("load", rc, `${what} (cgrp_iter.bpf.o)`);
      };
      check(libbpf.objectMapReuseFd(find("target"), mapFd), "bpf_map__reuse_fd");
      const records = find("records");
      check(libbpf.objectMapSetValueSize(records, recordStride(valueSize)), "bpf_map__set_value_size");
      check(libbpf.objectMapSetMaxEntries(records, slots), "bpf_map__set_max_entries");
      const rodata = libbpf.objectMapNames(obj).find((n) => n.endsWith(".rodata"));
      const size = new Uint32Array([valueSize]);
      check(libbpf.objectMapSetInitialValue(find(rodata ?? ".rodata"), new Uint8Array(size.buffer)), "set value_size");
      const prog = libbpf.objectFindProgramByName(obj, "cgrp_scan");
      if (prog === null) throw new BpfError("load", `cgrp_iter.bpf.o has no program "cgrp_scan"`, { kind: "environment" });
      check(libbpf.objectLoad(obj), "bpf_object__load");
      const recordsFd = libbpf.mapFd(records);
      const length = Math.ceil((slots * recordStride(valueSize)) / PAGE) * PAGE;
      const address = libbpf.mmap(length, PROT_READ | PROT_WRITE, MAP_SHARED, recordsFd);
      if (address < 0) throw bpfError("load", address, "mmap of the records array");
      const buffer = libbpf.arrayBufferAt(address, length);
      unmapper.register(buffer, { address, length });
      return new CgrpIterator(obj, prog, new Records(buffer, valueSize, slots));
    } catch (e) {
      libbpf.objectClose(obj);
      throw e;
    }
  }

  /**
   * Runs one session over `rootId`'s subtree (0: the whole hierarchy) and returns what it
   * counted. Allocates nothing when the root is the one of the previous session.
   */
  run(rootId: number, counts: SessionCounts): void {
    if (this.linkRoot !== rootId) this.attach(rootId);
    const fd = libbpf.iterCreate(this.linkFd);
    if (fd < 0) throw bpfError("collect", fd, "bpf_iter_create for the cgroup scan");
    try {
      let got = 0;
      for (;;) {
        const n = libbpf.read(fd, this.outBytes);
        if (n < 0) throw bpfError("collect", n, "read of the cgroup scan iterator");
        if (n === 0) break;
        got += n;
      }
      if (got < 16) throw new BpfError("collect", `the cgroup scan iterator reported ${got} bytes, not 16`, { kind: "kernel" });
    } finally {
      libbpf.close(fd);
    }
    counts.count = this.out[0]! + this.out[1]! * U32;
    counts.visited = this.out[2]! + this.out[3]! * U32;
  }

  private attach(rootId: number): void {
    this.detach();
    const info = encodeCgroupIterInfo(CGROUP_ITER_DESCENDANTS_PRE, 0, rootId);
    const opts = encodeIterAttachOpts(libbpf.addressOf(info), info.byteLength);
    const link = libbpf.programAttachIter(this.prog, opts);
    void info.byteLength; // referenced until the call returned: its address is inside opts
    if (link === null) {
      throw bpfError("collect", libbpf.errno(), `attach of the cgroup scan iterator to cgroup ${rootId || "root"}`,
        "is the root a cgroup v2 directory that still exists?");
    }
    this.link = this.held.link = link;
    this.linkFd = libbpf.linkFd(link);
    this.linkRoot = rootId;
  }

  private detach(): void {
    if (this.link !== null) libbpf.linkDestroy(this.link);
    this.link = this.held.link = null;
    this.linkFd = -1;
    this.linkRoot = -1;
  }

  /** Unloads the program. The mapping goes when its last view is collected. */
  close(): void {
    disarm(this);
    this.detach();
    if (this.obj !== null) libbpf.objectClose(this.obj);
    this.obj = this.held.obj = null;
  }
}

function releaseHeld(h: { obj: NativeHandle | null; link: NativeHandle | null }): void {
  if (h.link !== null) libbpf.linkDestroy(h.link);
  if (h.obj !== null) libbpf.objectClose(h.obj);
}

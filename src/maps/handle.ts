/**
 * `MapHandle`: what every map handle has, whatever its element operations: the fd it owns, what
 * the kernel reports about the map, the value's layout (from BTF or declared) with its field
 * accessors, pinning and closing. Key iteration is a separate piece (storage-map.ts), which a map
 * type without get_next_key leaves out.
 */
import { libbpf } from "../ffi/index.ts";
import { BpfError, BpfRuleError, bpfError, closedError, EBADF, type BpfOp, type ErrorKind } from "../errors.ts";
import { Layout } from "../btf/layout.ts";
import { kernelBtf } from "../btf/kernel.ts";
import type { AggregateRules, DecodedStruct, FieldPath, Schema } from "../btf/schema.ts";
import { Field } from "./field.ts";
import { closeWhenCollected, disarm } from "../finalize.ts";
import { pinFd } from "../pin.ts";
import type { MapInfo } from "./info.ts";
import { fdAccess, type MapAccess } from "./source.ts";

/** Base of every map handle. `T` is the decoded value's type (from a schema, or declared). */
export abstract class MapHandle<T = DecodedStruct> implements Disposable {
  /** What the kernel reported when the map was opened. */
  readonly info: MapInfo;
  /** Bytes of one value (one CPU's value for per-CPU maps). */
  readonly valueSize: number;
  /** -1 once closed: the number may be reused by another file, so it is never used again. */
  private fdNumber: number;
  private valueLayout: Layout | null | undefined;
  private accessMode: MapAccess;
  private btfFailure: Error | undefined;
  /** The object file a `BpfObject` made this map from, and the map's name there. */
  private objectLayout: (() => Layout) | undefined;
  private readonly fields = new Map<string, Field>();
  /** Keeps the type parameter in the structural type (it is used only in signatures). */
  declare private readonly valueType?: T;

  /** @internal use `openMap`, `createMap`, `<Class>.open` or `BpfObject.map` */
  constructor(fd: number, info: MapInfo) {
    this.fdNumber = fd;
    this.info = info;
    this.valueSize = info.valueSize;
    this.accessMode = fdAccess(fd);
    // A handle dropped without close() still gives its fd back, once collected.
    closeWhenCollected(this, fd);
  }

  /** The fd this handle owns (closed by `close()`; -1 after). */
  get fd(): number {
    return this.fdNumber;
  }

  /** False once `close()` was called. */
  get open(): boolean {
    return this.fdNumber >= 0;
  }

  /**
   * What this handle may do: `"read-write"`, or `"read"` when opened with `{ access: "read" }`
   * (or from a read-only fd, or a map created with `MapFlags.RDONLY`): then every update and
   * delete is refused before the kernel is asked, with a `BpfError` of kind "permission".
   * `"write"`: a write-only fd, whose lookups the kernel refuses (EPERM).
   */
  get access(): MapAccess {
    return this.accessMode;
  }

  /** Makes this handle refuse writes (an `{ fd }` opened for reading keeps the caller's fd mode). @internal */
  limitToReading(): void {
    if (this.accessMode === "read-write") this.accessMode = "read";
  }

  /** Throws the error of kind "permission" for a write through a handle that may only read. @internal */
  protected checkWritable(op: BpfOp): void {
    if (this.accessMode !== "read") return;
    throw new BpfError(op,
      `${this.info.typeName} map "${this.info.name}" (id ${this.info.id}): this handle is read-only (opened with ` +
        `{ access: "read" }, from a read-only fd, or created with MapFlags.RDONLY) and cannot ${op}`,
      { kind: "permission", hint: 'open it with { access: "read-write" } to write (the pin must be writable by this user)' });
  }

  /**
   * Why the map's own BTF could not be read (loading BTF by id needs CAP_SYS_ADMIN: with only
   * CAP_BPF this is a `BpfError` of kind "permission"), or undefined. When it is set, `layout`
   * is null unless one was declared (give one with `useLayout(layoutFromObjectFile(…))`, a
   * schema, or `useFallbackLayout`), or the map came from a `BpfObject`, whose object file's
   * BTF describes it.
   */
  get btfError(): Error | undefined {
    if (this.valueLayout === undefined) void this.layout;
    return this.btfFailure;
  }

  /**
   * The value's layout: from the map's BTF (maps libbpf loads from a `.bpf.o` carry it), or what
   * `useLayout` declared; null if neither. Read from the kernel once, then cached.
   */
  get layout(): Layout | null {
    if (this.valueLayout === undefined) {
      this.valueLayout = this.btfLayout(this.info.btfValueTypeId);
      // A map of a BpfObject whose kernel BTF cannot be read: the object file has the same types.
      if (this.valueLayout === null && this.btfFailure && this.objectLayout) {
        try {
          this.valueLayout = this.objectLayout();
        } catch {
          // keep null: btfError says why
        }
      }
    }
    return this.valueLayout;
  }

  /**
   * Where the map's types can be read when its kernel BTF cannot (set by `BpfObject.map`: the
   * object's own BTF, from a file or from memory alike). @internal
   */
  knowObjectLayout(layout: () => Layout): void {
    this.objectLayout = layout;
  }

  /**
   * The layout of BTF type `typeId` of this map's BTF object; null when it has none, or when it
   * cannot be loaded (the reason is kept for `btfError`: reading a map never fails for want of
   * its BTF). @internal
   */
  protected btfLayout(typeId: number): Layout | null {
    if (!typeId || this.btfFailure) return null;
    try {
      return Layout.fromBtf(kernelBtf(this.info.btfId), typeId);
    } catch (e) {
      this.btfFailure = e instanceof Error ? e : new Error(String(e));
      return null;
    }
  }

  /** Sets the value layout after checking its size. @internal */
  protected setLayout(layout: Layout | Schema, rules?: { readonly [path: string]: string | undefined }): void {
    let l = layout instanceof Layout ? layout : Layout.fromSchema(layout);
    if (l.size !== this.valueSize) {
      throw new BpfRuleError("info", `the layout is ${l.size} bytes but the map's values are ${this.valueSize}`,
        "declare every field, padding included, so the sizes match");
    }
    if (rules) l = l.withRules(rules as AggregateRules);
    this.valueLayout = l;
    this.fields.clear();
  }

  /**
   * Declares how each per-CPU field combines into a total (`{ last_len: "max" }`), for
   * `decode`, field accessors' `total()`, the Collector, `dump`, `top` and `serve`. Integers
   * are summed unless declared otherwise. Needs a layout (BTF or `useLayout`).
   */
  aggregate(rules: AggregateRules<T>): this {
    this.setLayout(this.requireLayout().withRules(rules as { readonly [path: string]: AggregateRules[string] }));
    return this;
  }

  /**
   * An allocation-free accessor for the scalar field at `path` (`"bytes"`, `"inner.count"`,
   * `"hist[3]"`), made once and cached: `const bytes = map.field("bytes")`, then
   * `bytes.get(value)`, `bytes.sum(values)` or `bytes.total(values)` in the hot loop. A field
   * that cannot be read correctly (a bitfield, a struct, a misaligned integer) is refused now.
   */
  field(path: FieldPath<T>): Field {
    const p = path as string;
    let f = this.fields.get(p);
    if (f === undefined) this.fields.set(p, (f = Field.of(this.requireLayout(), p)));
    return f;
  }

  /** The layout, or an error telling how to get one. @internal */
  protected requireLayout(): Layout {
    const l = this.layout;
    if (l === null) {
      const why = this.btfFailure;
      if (why) {
        throw new BpfError("info", `map "${this.info.name}"'s BTF could not be loaded (${why.message})`, {
          kind: why instanceof BpfError ? why.kind : "kernel", errno: why instanceof BpfError ? why.errno : undefined, cause: why,
          hint: "give the layout another way: map.useLayout(layoutFromObjectFile(\"prog.bpf.o\", map.info.name)) or a schema",
        });
      }
      throw new BpfError("info", `map "${this.info.name}" has no BTF to describe its values`,
        { kind: "not-found", hint: 'declare a schema: map.useLayout({ packets: "u64", bytes: "u64" })' });
    }
    return l;
  }

  /** Pins the map at `path` on a bpf filesystem (e.g. `/sys/fs/bpf/my_map`). */
  pin(path: string): void {
    if (this.fdNumber < 0) throw closedError("pin", `map "${this.info.name}"`);
    pinFd(this.fdNumber, path, `map "${this.info.name}"`);
  }

  /**
   * Closes the fd. Idempotent. The map lives on while programs, pins or other fds hold it. A
   * handle dropped without `close()` has its fd closed when the garbage collector collects it
   * (not promptly: close or `using` is still the way).
   */
  close(): void {
    if (this.fdNumber < 0) return;
    this.release(this.fdNumber);
    this.fdNumber = -1;
  }

  /** Closes `fd`, disarming the fd-leak net first so it is never closed twice. @internal */
  protected release(fd: number): void {
    disarm(this);
    libbpf.close(fd);
  }

  [Symbol.dispose](): void {
    this.close();
  }

  /**
   * The error for a failed element operation on `where`, with what the kernel's errno means
   * here. A closed handle's calls fail (fd -1 is EBADF in the kernel, never another map) and
   * are reported as closed, without the errno. @internal
   */
  protected elemError(op: BpfOp, rc: number, where: string, hint?: string, kind?: ErrorKind): BpfError {
    if (this.fdNumber < 0 && -rc === EBADF) return closedError(op, `map "${this.info.name}"`);
    return bpfError(op, rc, `${this.info.typeName} map "${this.info.name}" (id ${this.info.id}), ${where}`, hint, kind);
  }
}

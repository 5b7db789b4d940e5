/**
 * Storage keys, written in place into one reusable buffer: `struct bpf_cgroup_storage_key`
 * (u64 cgroup id, u32 attach type, 4 bytes padding) or a bare u64 cgroup id.
 */
import { libbpf, type NativePointer } from "../ffi/index.ts";
import { BpfRuleError, type BpfOp } from "../errors.ts";
import { attachTypeName, STORAGE_KEY_SIZE } from "../constants.ts";

/** 2^32: u64s travel as two u32 halves so reading one never allocates a BigInt. */
export const U32 = 4294967296;

/** A map key as the user sees it. `attachType` is undefined for 8-byte (id-only) keys. */
export interface StorageKey {
  readonly cgroupId: number;
  readonly attachType: number | undefined;
}

/** What `update()` and friends take: a cgroup id (8-byte keys) or a `StorageKey`-like object. */
export type KeyInput = number | bigint | { cgroupId: number | bigint; attachType?: number };

export type KeySize = 8 | 16;

function badId(op: BpfOp, id: unknown): never {
  throw new BpfRuleError(
    op,
    `a cgroup id is a non-negative integer below 2^64 (got ${String(id)}); ` +
      "take it from cgroupId(path), which is the inode number of the cgroup2 directory",
  );
}

/** Throws unless `attachType` fits `keySize`; returns it as a number (0 for 8-byte keys). */
export function checkAttachType(op: BpfOp, keySize: KeySize, attachType: unknown): number {
  if (keySize === STORAGE_KEY_SIZE) {
    if (attachType === undefined) {
      throw new BpfRuleError(
        op,
        "this map has 16-byte keys ({cgroup id, attach type}): one entry per cgroup and attach " +
          "type, so pass the attach type too, e.g. (id, AttachType.CGROUP_INET_EGRESS)",
      );
    }
    if (typeof attachType !== "number" || !Number.isInteger(attachType) || attachType < 0 ||
        attachType >= U32) {
      throw new BpfRuleError(op, `attach type must be a u32 such as AttachType.CGROUP_INET_EGRESS (got ${String(attachType)})`);
    }
    return attachType;
  }
  if (attachType !== undefined) {
    throw new BpfRuleError(
      op,
      `this map has 8-byte keys (cgroup id only): one entry per cgroup shared by every attach ` +
        `type, so pass no attach type (got ${attachTypeName(Number(attachType))})`,
    );
  }
  return 0;
}

/**
 * Writes `{cgroupId, attachType}` into `words` (4 × u32, little-endian key layout).
 * A number id allocates nothing; a bigint id is accepted for ids beyond 2^53.
 */
export function encodeKey(
  words: Uint32Array,
  keySize: KeySize,
  op: BpfOp,
  cgroupId: number | bigint,
  attachType: number | undefined,
): void {
  if (typeof cgroupId === "number") {
    if (!(cgroupId >= 0 && cgroupId <= Number.MAX_SAFE_INTEGER) || !Number.isInteger(cgroupId)) {
      badId(op, cgroupId);
    }
    words[0] = cgroupId >>> 0;
    words[1] = (cgroupId - words[0]!) / U32;
  } else if (typeof cgroupId === "bigint") {
    if (cgroupId < 0n || cgroupId >= 1n << 64n) badId(op, cgroupId);
    words[0] = Number(cgroupId & 0xffffffffn);
    words[1] = Number(cgroupId >> 32n);
  } else {
    badId(op, cgroupId);
  }
  words[2] = checkAttachType(op, keySize, attachType);
  words[3] = 0;
}

/** A reusable key buffer with its native pointer, owned by one map handle or cursor. */
export class KeyBuffer {
  /** 16 bytes even for 8-byte keys: the kernel copies only key_size of them. */
  readonly words: Uint32Array = new Uint32Array(new ArrayBuffer(16));
  readonly pointer: NativePointer = libbpf.pointer(this.words);

  constructor(readonly keySize: KeySize) {}

  set(op: BpfOp, cgroupId: number | bigint, attachType: number | undefined): void {
    encodeKey(this.words, this.keySize, op, cgroupId, attachType);
  }

  /** Writes any `KeyInput` (the object form is for keys that came from `keys()`). */
  setInput(op: BpfOp, key: KeyInput): void {
    if (typeof key === "object" && key !== null) this.set(op, key.cgroupId, key.attachType);
    else this.set(op, key, undefined);
  }

  /** The id as a number (exact below 2^53; cgroup ids are small counters). */
  get cgroupId(): number {
    return this.words[0]! + this.words[1]! * U32;
  }

  /** The attach type, or undefined for 8-byte keys. */
  get attachType(): number | undefined {
    return this.keySize === STORAGE_KEY_SIZE ? this.words[2] : undefined;
  }

  copyFrom(other: KeyBuffer): void {
    this.words.set(other.words);
  }

  equals(other: KeyBuffer): boolean {
    const a = this.words, b = other.words;
    return a[0] === b[0] && a[1] === b[1] && (this.keySize === 8 || a[2] === b[2]);
  }

  toKey(): StorageKey {
    return { cgroupId: this.cgroupId, attachType: this.attachType };
  }

  describe(): string {
    const at = this.attachType;
    return at === undefined
      ? `cgroup ${this.cgroupId}`
      : `cgroup ${this.cgroupId}, ${attachTypeName(at)}`;
  }
}

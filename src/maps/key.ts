/**
 * Map keys: one convention for every element operation. A key is one argument, in one of three
 * forms:
 * - a cgroup id, `number` or `bigint` (maps with 8-byte keys: one entry per cgroup);
 * - a `{ cgroupId, attachType }` object (16-byte keys, `struct bpf_cgroup_storage_key`), such as
 *   the objects `keys()` yields;
 * - an {@link EncodedKey} from `map.key(cgroupId, attachType?)`, encoded once for hot loops.
 * Keys are written in place into one reusable buffer, so a number id, a reused object or an
 * encoded key costs no allocation.
 */
import { libbpf, type NativePointer } from "../ffi/index.ts";
import { BpfRuleError, describeValue, typeMismatch, type BpfOp } from "../errors.ts";
import { attachTypeName, STORAGE_KEY_SIZE } from "../constants.ts";

/** 2^32: u64s travel as two u32 halves so reading one never allocates a BigInt. */
export const U32 = 4294967296;

/** A key as maps hand it out: `attachType` is undefined for 8-byte (id-only) keys. */
export interface StorageKey {
  readonly cgroupId: number;
  readonly attachType: number | undefined;
}

/** A key object: `{ cgroupId, attachType }` (attachType left out, or undefined, for 8-byte keys). */
export interface StorageKeyLike {
  readonly cgroupId: number | bigint;
  readonly attachType?: number | undefined;
}

/** Every form a key may take (see the module comment). */
export type MapKey = number | bigint | StorageKeyLike | EncodedKey;

export type KeySize = 8 | 16;

const KEY_FORMS = "a cgroup id (number or bigint), a { cgroupId, attachType } object, or map.key(cgroupId, attachType?)";

function badId(op: BpfOp, id: unknown): never {
  if (typeof id !== "number" && typeof id !== "bigint") typeMismatch(op, "a cgroup id", "a number or bigint", id);
  throw new BpfRuleError(
    op,
    `a cgroup id is a whole number from 0 to 2^64-1 (got ${String(id)})`,
    "take it from cgroupId(path) or a Cgroup's id: the inode number of the cgroup2 directory",
  );
}

/** Throws unless `attachType` fits `keySize`; returns it as a number (0 for 8-byte keys). */
export function checkAttachType(op: BpfOp, keySize: KeySize, attachType: unknown): number {
  if (keySize === STORAGE_KEY_SIZE) {
    if (attachType === undefined) {
      throw new BpfRuleError(
        op,
        "this map has 16-byte keys ({cgroup id, attach type}: one entry per cgroup and attach type), so a key needs the attach type",
        "pass { cgroupId, attachType: AttachType.CGROUP_INET_EGRESS } or map.key(cgroupId, AttachType.CGROUP_INET_EGRESS)",
      );
    }
    if (typeof attachType !== "number") typeMismatch(op, "attachType", "a number such as AttachType.CGROUP_INET_EGRESS", attachType);
    if (!Number.isInteger(attachType) || attachType < 0 || attachType >= U32) {
      throw new BpfRuleError(op, `attach type must be a u32 such as AttachType.CGROUP_INET_EGRESS (got ${attachType})`);
    }
    return attachType;
  }
  if (attachType !== undefined) {
    throw new BpfRuleError(
      op,
      "this map has 8-byte keys (cgroup id only: one entry per cgroup, shared by every attach type), " +
        `so a key has no attach type (got ${typeof attachType === "number" ? attachTypeName(attachType) : describeValue(attachType)})`,
      "pass the cgroup id alone: lookup(cgroupId)",
    );
  }
  return 0;
}

/**
 * Writes `{cgroupId, attachType}` into `words` (4 × u32, the little-endian key layout).
 * A number id allocates nothing; a bigint id is accepted for ids beyond 2^53.
 */
export function encodeKey(words: Uint32Array, keySize: KeySize, op: BpfOp, cgroupId: unknown, attachType: unknown): void {
  if (typeof cgroupId === "number") {
    if (!(cgroupId >= 0 && cgroupId <= Number.MAX_SAFE_INTEGER) || !Number.isInteger(cgroupId)) badId(op, cgroupId);
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

/** 16 bytes of key storage with its native pointer (the kernel copies only key_size of them). */
abstract class KeyWords {
  /** The key's u32 words: id low, id high, attach type, padding. */
  readonly words: Uint32Array = new Uint32Array(new ArrayBuffer(16));
  /** @internal */
  readonly pointer: NativePointer = libbpf.pointer(this.words);
  readonly keySize: KeySize;

  constructor(keySize: KeySize) {
    this.keySize = keySize;
  }

  /** The id as a number (exact below 2^53; cgroup ids are small counters). */
  get cgroupId(): number {
    return this.words[0]! + this.words[1]! * U32;
  }

  /** The attach type, or undefined for 8-byte keys. */
  get attachType(): number | undefined {
    return this.keySize === STORAGE_KEY_SIZE ? this.words[2] : undefined;
  }

  /** `cgroup 42` or `cgroup 42, CGROUP_INET_EGRESS`, for messages. */
  describe(): string {
    const at = this.attachType;
    return at === undefined ? `cgroup ${this.cgroupId}` : `cgroup ${this.cgroupId}, ${attachTypeName(at)}`;
  }
}

/**
 * A key encoded once, for hot loops: `const k = map.key(cg.id, AttachType.CGROUP_INET_EGRESS)`,
 * then `map.lookup(k)` passes its bytes to the kernel as they are. Valid for every map with the
 * same key size. Immutable.
 */
export class EncodedKey extends KeyWords implements StorageKey {
  /** @internal use `map.key()` */
  constructor(keySize: KeySize, cgroupId: number | bigint, attachType: number | undefined) {
    super(keySize);
    encodeKey(this.words, keySize, "lookup", cgroupId, attachType);
  }
}

/** A reusable key buffer owned by one map handle or cursor. @internal */
export class KeyBuffer extends KeyWords {
  /**
   * The pointer to pass to the kernel for `key`: the key's own for an `EncodedKey`, else this
   * buffer's after writing `key` into it. Allocates nothing for a number or an object key.
   */
  pointerFor(op: BpfOp, key: MapKey): NativePointer {
    if (typeof key === "number") {
      const w = this.words;
      if (key >= 0 && key <= Number.MAX_SAFE_INTEGER && Number.isInteger(key) && this.keySize !== STORAGE_KEY_SIZE) {
        w[0] = key >>> 0;
        w[1] = (key - w[0]!) / U32;
        return this.pointer;
      }
    } else if (key instanceof EncodedKey) {
      if (key.keySize === this.keySize) return key.pointer;
      throw new BpfRuleError(op, `key ${key.describe()} was encoded for ${key.keySize}-byte keys; this map has ${this.keySize}-byte keys`,
        this.keySize === STORAGE_KEY_SIZE ? "encode it with this map: map.key(cgroupId, attachType)" : "encode it with this map: map.key(cgroupId)");
    } else if (typeof key === "object" && key !== null) {
      encodeKey(this.words, this.keySize, op, key.cgroupId, key.attachType);
      return this.pointer;
    }
    if (typeof key !== "number" && typeof key !== "bigint") typeMismatch(op, "a key", KEY_FORMS, key);
    encodeKey(this.words, this.keySize, op, key, undefined);
    return this.pointer;
  }

  /** Copies another buffer's key. */
  copyFrom(other: KeyWords): void {
    this.words.set(other.words);
  }

  equals(other: KeyWords): boolean {
    const a = this.words, b = other.words;
    return a[0] === b[0] && a[1] === b[1] && (this.keySize === 8 || a[2] === b[2]);
  }

  toKey(): StorageKey {
    return { cgroupId: this.cgroupId, attachType: this.attachType };
  }
}

/**
 * A reader for raw BTF (the kernel's BPF Type Format, include/uapi/linux/btf.h): header, type
 * section, string section. Pure TypeScript over bytes, so it works on BTF from the kernel
 * (`bpf_btf_get_info`) or from a `.bpf.o`'s `.BTF` section alike.
 */

export const BtfKind = {
  UNKN: 0, INT: 1, PTR: 2, ARRAY: 3, STRUCT: 4, UNION: 5, ENUM: 6, FWD: 7, TYPEDEF: 8,
  VOLATILE: 9, CONST: 10, RESTRICT: 11, FUNC: 12, FUNC_PROTO: 13, VAR: 14, DATASEC: 15,
  FLOAT: 16, DECL_TAG: 17, TYPE_TAG: 18, ENUM64: 19,
} as const;

/** One BTF member (struct/union), enumerator, parameter or datasec entry. */
export interface BtfMember {
  name: string;
  type: number;
  /** Struct/union members: offset in bits. */
  bitOffset: number;
  /** Struct/union members with kind_flag: bitfield size in bits (0 = not a bitfield). */
  bitSize: number;
}

export interface BtfEnumValue {
  name: string;
  value: bigint;
}

/** A decoded `struct btf_type` with its kind-specific trailer. */
export interface BtfType {
  id: number;
  kind: number;
  name: string;
  /** size for INT/STRUCT/UNION/ENUM/FLOAT/DATASEC; referenced type id for the others. */
  sizeOrType: number;
  kindFlag: boolean;
  /** INT: encoding bits (1 signed, 2 char, 4 bool), bit offset, bits. */
  int?: { encoding: number; offset: number; bits: number };
  /** ARRAY. */
  array?: { type: number; indexType: number; length: number };
  members?: BtfMember[];
  enumValues?: BtfEnumValue[];
}

const MAGIC = 0xeb9f;

/** Thrown for bytes that are not valid BTF. */
export class BtfFormatError extends Error {
  override readonly name = "BtfFormatError";
}

/** Parsed BTF: `types[id]` (id 0 is void and undefined). */
export class Btf {
  readonly types: (BtfType | undefined)[] = [undefined];

  constructor(bytes: Uint8Array) {
    if (bytes.byteLength < 24) throw new BtfFormatError("BTF blob shorter than its header");
    const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    if (v.getUint16(0, true) !== MAGIC) {
      throw new BtfFormatError(`bad BTF magic 0x${v.getUint16(0, true).toString(16)} (big-endian BTF is not supported)`);
    }
    const hdrLen = v.getUint32(4, true);
    const typeOff = hdrLen + v.getUint32(8, true), typeLen = v.getUint32(12, true);
    const strOff = hdrLen + v.getUint32(16, true), strLen = v.getUint32(20, true);
    if (typeOff + typeLen > bytes.byteLength || strOff + strLen > bytes.byteLength) {
      throw new BtfFormatError("BTF sections run past the end of the blob");
    }
    const strings = bytes.subarray(strOff, strOff + strLen);
    const decoder = new TextDecoder();
    const str = (off: number) => {
      if (off === 0) return "";
      const end = strings.indexOf(0, off);
      return decoder.decode(strings.subarray(off, end < 0 ? strings.length : end));
    };
    let p = typeOff;
    const end = typeOff + typeLen;
    const u32 = (o: number) => v.getUint32(o, true);
    while (p < end) {
      const info = u32(p + 4);
      const t: BtfType = {
        id: this.types.length,
        kind: (info >>> 24) & 0x1f,
        name: str(u32(p)),
        sizeOrType: u32(p + 8),
        kindFlag: (info >>> 31) === 1,
      };
      const vlen = info & 0xffff;
      p += 12;
      switch (t.kind) {
        case BtfKind.INT: {
          const e = u32(p);
          t.int = { encoding: (e >>> 24) & 0xf, offset: (e >>> 16) & 0xff, bits: e & 0xff };
          p += 4;
          break;
        }
        case BtfKind.ARRAY:
          t.array = { type: u32(p), indexType: u32(p + 4), length: u32(p + 8) };
          p += 12;
          break;
        case BtfKind.STRUCT:
        case BtfKind.UNION:
          t.members = [];
          for (let i = 0; i < vlen; i++, p += 12) {
            const off = u32(p + 8);
            t.members.push({
              name: str(u32(p)),
              type: u32(p + 4),
              bitOffset: t.kindFlag ? off & 0xffffff : off,
              bitSize: t.kindFlag ? off >>> 24 : 0,
            });
          }
          break;
        case BtfKind.ENUM: {
          const signed = t.kindFlag;
          t.enumValues = [];
          for (let i = 0; i < vlen; i++, p += 8) {
            const raw = signed ? v.getInt32(p + 4, true) : u32(p + 4);
            t.enumValues.push({ name: str(u32(p)), value: BigInt(raw) });
          }
          break;
        }
        case BtfKind.ENUM64:
          t.enumValues = [];
          for (let i = 0; i < vlen; i++, p += 12) {
            const raw = (BigInt(u32(p + 8)) << 32n) | BigInt(u32(p + 4));
            t.enumValues.push({ name: str(u32(p)), value: t.kindFlag ? BigInt.asIntN(64, raw) : raw });
          }
          break;
        case BtfKind.FUNC_PROTO:
          t.members = [];
          for (let i = 0; i < vlen; i++, p += 8) t.members.push({ name: str(u32(p)), type: u32(p + 4), bitOffset: 0, bitSize: 0 });
          break;
        case BtfKind.VAR:
        case BtfKind.DECL_TAG:
          p += 4;
          break;
        case BtfKind.DATASEC:
          t.members = [];
          for (let i = 0; i < vlen; i++, p += 12) t.members.push({ name: "", type: u32(p), bitOffset: u32(p + 4) * 8, bitSize: 0 });
          break;
        case BtfKind.PTR: case BtfKind.FWD: case BtfKind.TYPEDEF: case BtfKind.VOLATILE:
        case BtfKind.CONST: case BtfKind.RESTRICT: case BtfKind.FUNC: case BtfKind.FLOAT:
        case BtfKind.TYPE_TAG:
          break;
        default:
          throw new BtfFormatError(`unknown BTF kind ${t.kind} at type ${t.id}`);
      }
      this.types.push(t);
    }
  }

  /** The type with this id; throws for ids past the end. */
  type(id: number): BtfType {
    const t = this.types[id];
    if (t === undefined) throw new BtfFormatError(id === 0 ? "type id 0 is void" : `no BTF type ${id}`);
    return t;
  }

  /** Follows typedef/const/volatile/restrict/type_tag to the type that has a layout. */
  resolve(id: number): BtfType {
    for (let hops = 0; hops < 64; hops++) {
      const t = this.type(id);
      if (t.kind !== BtfKind.TYPEDEF && t.kind !== BtfKind.CONST && t.kind !== BtfKind.VOLATILE &&
          t.kind !== BtfKind.RESTRICT && t.kind !== BtfKind.TYPE_TAG) return t;
      id = t.sizeOrType;
    }
    throw new BtfFormatError(`type ${id}: modifier chain too long`);
  }
}

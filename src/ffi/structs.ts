/**
 * Every C struct cgstore reads or writes, with its offsets named once. Little-endian: cgstore
 * runs on x86-64 and arm64 Linux, where all of these have the same layout.
 * @internal
 */

/**
 * `struct bpf_map_create_opts` as of libbpf 1.1: `size_t sz` @0, `__u32 map_flags` @28,
 * `__u32 numa_node` @40; 48 bytes. libbpf reads `sz` to learn which fields the caller knows,
 * so later libbpf versions (which append fields) accept this shorter struct.
 */
export const MAP_CREATE_OPTS = {
  size: 48, sz: 0, btfFd: 8, btfKeyTypeId: 12, btfValueTypeId: 16, mapFlags: 28, numaNode: 40,
} as const;

/** The fields of `struct bpf_map_create_opts` cgstore sets (BTF ones: 0 for none). */
export interface MapCreateOpts {
  mapFlags: number;
  numaNode: number;
  btfFd?: number;
  btfKeyTypeId?: number;
  btfValueTypeId?: number;
}

/**
 * A `struct bpf_map_create_opts` on its own `ArrayBuffer` (its address never moves while the
 * caller keeps the view referenced), every field not named here zero.
 */
export function encodeMapCreateOpts(opts: MapCreateOpts): Uint8Array {
  const bytes = new Uint8Array(new ArrayBuffer(MAP_CREATE_OPTS.size));
  const v = new DataView(bytes.buffer);
  v.setBigUint64(MAP_CREATE_OPTS.sz, BigInt(MAP_CREATE_OPTS.size), true);
  v.setUint32(MAP_CREATE_OPTS.mapFlags, opts.mapFlags, true);
  v.setUint32(MAP_CREATE_OPTS.numaNode, opts.numaNode, true);
  v.setUint32(MAP_CREATE_OPTS.btfFd, opts.btfFd ?? 0, true);
  v.setUint32(MAP_CREATE_OPTS.btfKeyTypeId, opts.btfKeyTypeId ?? 0, true);
  v.setUint32(MAP_CREATE_OPTS.btfValueTypeId, opts.btfValueTypeId ?? 0, true);
  return bytes;
}

/** The fields {@link encodeMapCreateOpts} wrote (for tests and debugging). */
export function decodeMapCreateOpts(bytes: Uint8Array): Required<MapCreateOpts> & { sz: number } {
  const v = view(bytes);
  return {
    sz: Number(v.getBigUint64(MAP_CREATE_OPTS.sz, true)),
    mapFlags: v.getUint32(MAP_CREATE_OPTS.mapFlags, true),
    numaNode: v.getUint32(MAP_CREATE_OPTS.numaNode, true),
    btfFd: v.getUint32(MAP_CREATE_OPTS.btfFd, true),
    btfKeyTypeId: v.getUint32(MAP_CREATE_OPTS.btfKeyTypeId, true),
    btfValueTypeId: v.getUint32(MAP_CREATE_OPTS.btfValueTypeId, true),
  };
}

/**
 * `struct bpf_obj_get_opts` (`file_flags`) and `struct bpf_get_fd_by_id_opts` (`open_flags`),
 * libbpf 1.0/1.1: `size_t sz` @0, one `__u32` of flags @8, padded to 16 bytes (`size_t :0`).
 * The two structs are laid out alike; later libbpf versions append fields, and accept this
 * shorter struct by its `sz`.
 */
export const OPEN_FLAGS_OPTS = { size: 16, sz: 0, flags: 8 } as const;

/** A `struct bpf_obj_get_opts` / `bpf_get_fd_by_id_opts` with `flags` (`BPF_F_RDONLY` …), on its own `ArrayBuffer`. */
export function encodeOpenFlagsOpts(flags: number): Uint8Array {
  const bytes = new Uint8Array(new ArrayBuffer(OPEN_FLAGS_OPTS.size));
  const v = new DataView(bytes.buffer);
  v.setBigUint64(OPEN_FLAGS_OPTS.sz, BigInt(OPEN_FLAGS_OPTS.size), true);
  v.setUint32(OPEN_FLAGS_OPTS.flags, flags, true);
  return bytes;
}

/**
 * `union bpf_iter_link_info`'s cgroup member (uapi linux/bpf.h, 6.1+): `order` u32 @0,
 * `cgroup_fd` u32 @4, `cgroup_id` u64 @8; 16 bytes. At most one of fd and id is non-zero;
 * both zero walk from the default hierarchy's root.
 */
export const CGROUP_ITER_INFO = { size: 16, order: 0, cgroupFd: 4, cgroupId: 8 } as const;
/** `enum bpf_cgroup_iter_order`: pre-order walk of the root and every descendant. */
export const CGROUP_ITER_DESCENDANTS_PRE = 2;

/** A cgroup iterator's link info; on its own ArrayBuffer (its address goes into attach opts). */
export function encodeCgroupIterInfo(order: number, cgroupFd: number, cgroupId: number): Uint8Array {
  const bytes = new Uint8Array(new ArrayBuffer(CGROUP_ITER_INFO.size));
  const v = view(bytes);
  v.setUint32(CGROUP_ITER_INFO.order, order, true);
  v.setUint32(CGROUP_ITER_INFO.cgroupFd, cgroupFd, true);
  v.setBigUint64(CGROUP_ITER_INFO.cgroupId, BigInt(cgroupId), true);
  return bytes;
}

/**
 * libbpf `struct bpf_iter_attach_opts`: `size_t sz` @0, `union bpf_iter_link_info *link_info`
 * @8, `__u32 link_info_len` @16; 24 bytes.
 */
export const ITER_ATTACH_OPTS = { size: 24, sz: 0, linkInfo: 8, linkInfoLen: 16 } as const;

/** Attach opts pointing at `linkInfoAddress` (keep the link info's buffer alive through the call). */
export function encodeIterAttachOpts(linkInfoAddress: number, linkInfoLen: number): Uint8Array {
  const bytes = new Uint8Array(new ArrayBuffer(ITER_ATTACH_OPTS.size));
  const v = view(bytes);
  v.setBigUint64(ITER_ATTACH_OPTS.sz, BigInt(ITER_ATTACH_OPTS.size), true);
  v.setBigUint64(ITER_ATTACH_OPTS.linkInfo, BigInt(linkInfoAddress), true);
  v.setUint32(ITER_ATTACH_OPTS.linkInfoLen, linkInfoLen, true);
  return bytes;
}

/**
 * `struct file_handle` for a cgroup2 (kernfs) directory: `handle_bytes` u32 @0 = 8,
 * `handle_type` i32 @4 = FILEID_KERNFS (0xfe), `f_handle` @8 = the u64 kernfs id, which is the
 * cgroup id. `open_by_handle_at` on it opens the cgroup by id without walking the tree.
 */
export function encodeCgroupFileHandle(cgroupId: number): Uint8Array {
  const bytes = new Uint8Array(new ArrayBuffer(16));
  const v = view(bytes);
  v.setUint32(0, 8, true);
  v.setInt32(4, 0xfe, true);
  v.setBigUint64(8, BigInt(cgroupId), true);
  return bytes;
}

/**
 * `struct bpf_map_info` (uapi linux/bpf.h): type @0, id @4, key_size @8, value_size @12,
 * max_entries @16, map_flags @20, name[16] @24, …, btf_id @64, btf_key_type_id @68,
 * btf_value_type_id @72.
 *
 * Its size grew with the kernel: 80 bytes (to 5.15), 88 (map_extra, 5.16+), 104 (hash,
 * 6.18+). Older kernels copy out what they know and accept a larger buffer whose tail is zero;
 * 6.18+ also reads the buffer in, so it must be all zero: a zero-filled 104-byte buffer works
 * on every kernel.
 */
export const MAP_INFO = {
  size: 104,
  type: 0, id: 4, keySize: 8, valueSize: 12, maxEntries: 16, mapFlags: 20,
  name: 24, nameLength: 16,
  btfId: 64, btfKeyTypeId: 68, btfValueTypeId: 72,
} as const;

/** The `struct bpf_map_info` fields cgstore uses. */
export interface RawMapInfo {
  type: number;
  id: number;
  keySize: number;
  valueSize: number;
  maxEntries: number;
  flags: number;
  name: string;
  btfId: number;
  btfKeyTypeId: number;
  btfValueTypeId: number;
}

/** A zero-filled `struct bpf_map_info` buffer for `bpf_obj_get_info_by_fd`. */
export function mapInfoBuffer(): Uint8Array {
  return new Uint8Array(new ArrayBuffer(MAP_INFO.size));
}

/** The fields of a `struct bpf_map_info` the kernel filled in. */
export function decodeMapInfo(bytes: Uint8Array): RawMapInfo {
  const v = view(bytes);
  const u32 = (off: number) => v.getUint32(off, true);
  return {
    type: u32(MAP_INFO.type),
    id: u32(MAP_INFO.id),
    keySize: u32(MAP_INFO.keySize),
    valueSize: u32(MAP_INFO.valueSize),
    maxEntries: u32(MAP_INFO.maxEntries),
    flags: u32(MAP_INFO.mapFlags),
    name: cStringAt(bytes, MAP_INFO.name, MAP_INFO.nameLength),
    btfId: u32(MAP_INFO.btfId),
    btfKeyTypeId: u32(MAP_INFO.btfKeyTypeId),
    btfValueTypeId: u32(MAP_INFO.btfValueTypeId),
  };
}

/**
 * `struct bpf_link_info` (uapi linux/bpf.h): type @0, id @4, prog_id @8, then a union aligned
 * to 8 @16, whose cgroup member is `cgroup_id` u64 @16, `attach_type` u32 @24. The kernel
 * copies out no more than the buffer holds, so 32 zero bytes suffice on every kernel.
 */
export const LINK_INFO = { size: 32, type: 0, id: 4, progId: 8, cgroupId: 16, attachType: 24 } as const;

/** `enum bpf_link_type` values cgstore tells apart. */
export const LinkType = { CGROUP: 3 } as const;

/** The `struct bpf_link_info` fields cgstore uses (the cgroup ones are 0 for other link types). */
export interface RawLinkInfo {
  type: number;
  id: number;
  progId: number;
  cgroupId: number;
  attachType: number;
}

/** The fields of a `struct bpf_link_info` the kernel filled in. */
export function decodeLinkInfo(bytes: Uint8Array): RawLinkInfo {
  const v = view(bytes);
  return {
    type: v.getUint32(LINK_INFO.type, true),
    id: v.getUint32(LINK_INFO.id, true),
    progId: v.getUint32(LINK_INFO.progId, true),
    cgroupId: u64At(v, LINK_INFO.cgroupId),
    attachType: v.getUint32(LINK_INFO.attachType, true),
  };
}

/**
 * `struct bpf_prog_info` (uapi linux/bpf.h), its head: type @0, id @4, …, name[16] @64. The
 * kernel copies out no more than the buffer holds (80 zero bytes reach the name).
 */
export const PROG_INFO = { size: 80, type: 0, id: 4, name: 64, nameLength: 16 } as const;

/** The `struct bpf_prog_info` fields cgstore uses. */
export interface RawProgInfo {
  type: number;
  id: number;
  name: string;
}

/** The fields of a `struct bpf_prog_info` the kernel filled in. */
export function decodeProgInfo(bytes: Uint8Array): RawProgInfo {
  const v = view(bytes);
  return {
    type: v.getUint32(PROG_INFO.type, true),
    id: v.getUint32(PROG_INFO.id, true),
    name: cStringAt(bytes, PROG_INFO.name, PROG_INFO.nameLength),
  };
}

/** A zero-filled buffer of `size` bytes for `bpf_obj_get_info_by_fd` to fill. */
export function infoBuffer(size: number): Uint8Array {
  return new Uint8Array(new ArrayBuffer(size));
}

/**
 * `struct linux_dirent64` / glibc `struct dirent64`: `d_ino` u64 @0, `d_off` @8, `d_reclen` u16
 * @16 (the whole record's length), `d_type` u8 @18, `d_name` NUL-terminated @19.
 */
export const DIRENT64 = { ino: 0, reclen: 16, type: 18, name: 19 } as const;

/** `d_type` values cgstore tells apart. */
export const DT_UNKNOWN = 0, DT_DIR = 4;

/** One directory entry record. `name` is a view into the record (the kernel's bytes). */
export interface Dirent64 {
  ino: number;
  type: number;
  name: Uint8Array;
}

/** The fields of one `dirent64` record (as copied out of `readdir64`). */
export function decodeDirent64(record: Uint8Array): Dirent64 {
  const end = record.indexOf(0, DIRENT64.name);
  return {
    ino: u64At(view(record), DIRENT64.ino),
    type: record[DIRENT64.type]!,
    name: record.subarray(DIRENT64.name, end < 0 ? record.length : end),
  };
}

/**
 * `struct statx` (uapi linux/stat.h, the same on every architecture; 256 bytes): `stx_mode` u16
 * @28, `stx_ino` u64 @32.
 */
export const STATX = { size: 256, mode: 28, ino: 32 } as const;

/** `statx` mask bits for the fields {@link decodeStatx} reads. */
export const STATX_MASK = 0x1 /* TYPE */ | 0x2 /* MODE */ | 0x100 /* INO */;

/** A zero-filled `struct statx` for `statx(2)` to fill. */
export function statxBuffer(): Uint8Array {
  return new Uint8Array(new ArrayBuffer(STATX.size));
}

/** The inode number and mode a `statx(2)` call filled in. */
export function decodeStatx(bytes: Uint8Array): { ino: number; mode: number } {
  const v = view(bytes);
  return { ino: u64At(v, STATX.ino), mode: v.getUint16(STATX.mode, true) };
}

function view(bytes: Uint8Array): DataView {
  return new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/** A u64 as a number (inode numbers and ids stay below 2^53). */
function u64At(v: DataView, offset: number): number {
  return v.getUint32(offset, true) + v.getUint32(offset + 4, true) * 2 ** 32;
}

/** A NUL-terminated string in a fixed-size field (all `length` bytes when no NUL). */
function cStringAt(bytes: Uint8Array, offset: number, length: number): string {
  const field = bytes.subarray(offset, offset + length);
  const nul = field.indexOf(0);
  return new TextDecoder().decode(nul < 0 ? field : field.subarray(0, nul));
}

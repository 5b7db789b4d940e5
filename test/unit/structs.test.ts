/**
 * The C struct layouts in src/ffi/structs.ts against the kernel's and glibc's ABI. Offsets are
 * written here as literal numbers from the headers (uapi linux/bpf.h, linux/stat.h, libbpf's
 * bpf.h, glibc's dirent.h), so a wrong constant in the module fails here.
 */
import { describe, expect, test } from "../helpers/harness.ts";
import {
  DIRENT64, MAP_CREATE_OPTS, MAP_INFO, STATX, STATX_MASK, decodeDirent64, decodeMapCreateOpts, decodeMapInfo,
  decodeStatx, encodeMapCreateOpts, mapInfoBuffer, statxBuffer, CGROUP_ITER_INFO, ITER_ATTACH_OPTS,
  encodeCgroupIterInfo, encodeIterAttachOpts, encodeCgroupFileHandle,
} from "../../src/ffi/structs.ts";

describe("C struct layouts", () => {
  test("struct bpf_map_create_opts (libbpf 1.1): sz @0, map_flags @28, numa_node @40, 48 bytes", () => {
    expect(MAP_CREATE_OPTS).toEqual({ size: 48, sz: 0, btfFd: 8, btfKeyTypeId: 12, btfValueTypeId: 16, mapFlags: 28, numaNode: 40 });
    const bytes = encodeMapCreateOpts({ mapFlags: 0x18, numaNode: 3 });
    expect(bytes.byteLength).toBe(48);
    expect(bytes.byteOffset).toBe(0);
    expect(bytes.buffer.byteLength).toBe(48); // its own ArrayBuffer: the address never moves
    const v = new DataView(bytes.buffer);
    expect(v.getBigUint64(0, true)).toBe(48n);
    expect(v.getUint32(28, true)).toBe(0x18);
    expect(v.getUint32(40, true)).toBe(3);
    // Every other field (btf_fd, inner_map_fd, map_extra, map_ifindex …) stays zero.
    const others = [...bytes].filter((_, i) => !(i < 8 || (i >= 28 && i < 32) || (i >= 40 && i < 44)));
    expect(others.every((b) => b === 0)).toBe(true);
    expect(decodeMapCreateOpts(bytes)).toEqual({ sz: 48, mapFlags: 0x18, numaNode: 3, btfFd: 0, btfKeyTypeId: 0, btfValueTypeId: 0 });
    // CGRP_STORAGE maps need BTF: btf_fd @8, btf_key_type_id @12, btf_value_type_id @16.
    const withBtf = new DataView(encodeMapCreateOpts({ mapFlags: 1, numaNode: 0, btfFd: 7, btfKeyTypeId: 1, btfValueTypeId: 5 }).buffer);
    expect([withBtf.getUint32(8, true), withBtf.getUint32(12, true), withBtf.getUint32(16, true), withBtf.getUint32(28, true)]).toEqual([7, 1, 5, 1]);
  });

  test("cgroup iterator link info (16 bytes), bpf_iter_attach_opts (24), a kernfs file handle", () => {
    expect(CGROUP_ITER_INFO).toEqual({ size: 16, order: 0, cgroupFd: 4, cgroupId: 8 });
    const info = new DataView(encodeCgroupIterInfo(2, 9, 1234).buffer);
    expect([info.getUint32(0, true), info.getUint32(4, true), info.getBigUint64(8, true)]).toEqual([2, 9, 1234n]);
    expect(ITER_ATTACH_OPTS).toEqual({ size: 24, sz: 0, linkInfo: 8, linkInfoLen: 16 });
    const opts = new DataView(encodeIterAttachOpts(0x7f0012345678, 16).buffer);
    expect([opts.getBigUint64(0, true), opts.getBigUint64(8, true), opts.getUint32(16, true)]).toEqual([24n, 0x7f0012345678n, 16]);
    const fh = new DataView(encodeCgroupFileHandle(4242).buffer);
    expect([fh.getUint32(0, true), fh.getInt32(4, true), fh.getBigUint64(8, true)]).toEqual([8, 0xfe, 4242n]);
  });

  test("struct bpf_map_info: fields at the uapi offsets, a zero-filled 104-byte buffer", () => {
    expect(MAP_INFO.size).toBe(104);
    const buf = mapInfoBuffer();
    expect(buf.byteLength).toBe(104);
    expect(buf.every((b) => b === 0)).toBe(true); // 6.18+ reads the buffer in: it must be zero
    const v = new DataView(buf.buffer);
    v.setUint32(0, 21, true); // type
    v.setUint32(4, 1234, true); // id
    v.setUint32(8, 16, true); // key_size
    v.setUint32(12, 24, true); // value_size
    v.setUint32(16, 0, true); // max_entries
    v.setUint32(20, 0x10, true); // map_flags
    buf.set(new TextEncoder().encode("counters"), 24); // name[16]
    v.setUint32(64, 7, true); // btf_id
    v.setUint32(68, 8, true); // btf_key_type_id
    v.setUint32(72, 9, true); // btf_value_type_id
    expect(decodeMapInfo(buf)).toEqual({
      type: 21, id: 1234, keySize: 16, valueSize: 24, maxEntries: 0, flags: 0x10, name: "counters",
      btfId: 7, btfKeyTypeId: 8, btfValueTypeId: 9,
    });
  });

  test("bpf_map_info name: all 16 bytes when the kernel left no NUL", () => {
    const buf = mapInfoBuffer();
    buf.set(new TextEncoder().encode("abcdefghijklmnop"), 24);
    buf[40] = 0x41; // ifindex, right after the name: not part of it
    expect(decodeMapInfo(buf).name).toBe("abcdefghijklmnop");
  });

  test("struct dirent64: d_ino @0, d_reclen @16, d_type @18, d_name @19", () => {
    expect(DIRENT64).toEqual({ ino: 0, reclen: 16, type: 18, name: 19 });
    const record = new Uint8Array(32); // d_reclen: 19 + "cg\xff" + NUL, padded to 8
    const v = new DataView(record.buffer);
    v.setUint32(0, 0x89abcdef, true);
    v.setUint32(4, 0x12, true); // d_ino above 2^32
    v.setUint16(16, 32, true);
    record[18] = 4; // DT_DIR
    record.set([0x63, 0x67, 0xff, 0], 19);
    record[24] = 0x7a; // padding after the NUL: not part of the name
    const e = decodeDirent64(record);
    expect(e.ino).toBe(0x12 * 2 ** 32 + 0x89abcdef);
    expect(e.type).toBe(4);
    expect([...e.name]).toEqual([0x63, 0x67, 0xff]);
  });

  test("struct statx: stx_mode @28, stx_ino @32, 256 bytes; the mask asks for type, mode, ino", () => {
    expect(STATX).toEqual({ size: 256, mode: 28, ino: 32 });
    expect(STATX_MASK).toBe(0x1 | 0x2 | 0x100);
    const buf = statxBuffer();
    expect(buf.byteLength).toBe(256);
    const v = new DataView(buf.buffer);
    v.setUint16(28, 0o040755, true);
    v.setUint32(32, 5, true);
    v.setUint32(36, 1, true);
    expect(decodeStatx(buf)).toEqual({ ino: 2 ** 32 + 5, mode: 0o040755 });
  });
});

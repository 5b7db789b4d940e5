/** `struct bpf_map_info`, read through `bpf_obj_get_info_by_fd`. */
import { libbpf } from "../ffi/index.ts";
import { bpfError } from "../errors.ts";
import { mapTypeName } from "../constants.ts";

/** What the kernel reports about a map. */
export interface MapInfo {
  /** `enum bpf_map_type` number. */
  readonly type: number;
  /** The kernel's name for it: `cgroup_storage`, `percpu_cgroup_storage`, … */
  readonly typeName: string;
  /** Kernel-wide map id (`openMap({ id })`, `bpftool map show id N`). */
  readonly id: number;
  readonly name: string;
  readonly keySize: number;
  readonly valueSize: number;
  readonly maxEntries: number;
  /** Create flags the kernel keeps (RDONLY/WRONLY only restrict the fd and are not reported). */
  readonly flags: number;
  /** 0 when the map was created without BTF. */
  readonly btfId: number;
  readonly btfKeyTypeId: number;
  readonly btfValueTypeId: number;
}

/**
 * sizeof(struct bpf_map_info) on 6.18+ kernels. Older kernels copy less and accept the larger
 * buffer because its tail is zero; 6.18+ also reads the buffer in, so it must be all zero.
 */
const INFO_SIZE = 104;

export function readMapInfo(fd: number): MapInfo {
  const buf = new ArrayBuffer(INFO_SIZE);
  const len = new Uint32Array(new ArrayBuffer(4));
  len[0] = INFO_SIZE;
  const rc = libbpf.objGetInfoByFd(fd, libbpf.pointer(new Uint8Array(buf)), libbpf.pointer(len));
  if (rc < 0) throw bpfError("info", rc, `bpf_obj_get_info_by_fd(fd ${fd})`);
  const v = new DataView(buf);
  const u32 = (off: number) => v.getUint32(off, true);
  const nameBytes = new Uint8Array(buf, 24, 16);
  const nul = nameBytes.indexOf(0);
  return {
    type: u32(0),
    typeName: mapTypeName(u32(0)),
    id: u32(4),
    keySize: u32(8),
    valueSize: u32(12),
    maxEntries: u32(16),
    flags: u32(20),
    name: new TextDecoder().decode(nameBytes.subarray(0, nul < 0 ? 16 : nul)),
    btfId: u32(64),
    btfKeyTypeId: u32(68),
    btfValueTypeId: u32(72),
  };
}

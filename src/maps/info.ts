/** `struct bpf_map_info`, read through `bpf_obj_get_info_by_fd`. */
import { libbpf } from "../ffi/index.ts";
import { bpfError } from "../errors.ts";
import { mapTypeName } from "../constants.ts";
import { decodeMapInfo, mapInfoBuffer } from "../ffi/structs.ts";

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

/** The kernel's description of map `fd` (`bpf_obj_get_info_by_fd`). */
export function readMapInfo(fd: number): MapInfo {
  const buf = mapInfoBuffer();
  const len = new Uint32Array(new ArrayBuffer(4));
  len[0] = buf.byteLength;
  const rc = libbpf.objGetInfoByFd(fd, libbpf.pointer(buf), libbpf.pointer(len));
  if (rc < 0) throw bpfError("info", rc, `bpf_obj_get_info_by_fd(fd ${fd})`);
  const info = decodeMapInfo(buf);
  return { ...info, typeName: mapTypeName(info.type) };
}

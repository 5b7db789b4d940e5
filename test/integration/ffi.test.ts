/** The FFI layer against the real kernel: symbols from the one table reach it on this runtime. */
import { describe, expect, test } from "../helpers/harness.ts";
import { libbpf } from "../../src/ffi/index.ts";
import { encodeMapCreateOpts } from "../../src/ffi/structs.ts";
import { readMapInfo } from "../../src/maps/info.ts";
import { MapType } from "../../src/index.ts";
import { bpf } from "../helpers/env.ts";

describe.skipIf(!bpf.ok)("FFI calls", () => {
  test("bpf_map_create with create opts, bpf_map_info read back, bpf_map_delete_elem", () => {
    const opts = encodeMapCreateOpts({ mapFlags: 0, numaNode: 0 });
    const fd = libbpf.mapCreate(MapType.CGROUP_STORAGE, "cgstore_ffi", 8, 24, 0, libbpf.pointer(opts));
    expect(fd).toBeGreaterThanOrEqual(0);
    try {
      const info = readMapInfo(fd);
      expect(info).toMatchObject({ type: MapType.CGROUP_STORAGE, typeName: "cgroup_storage", name: "cgstore_ffi", keySize: 8, valueSize: 24, maxEntries: 0 });
      expect(info.id).toBeGreaterThan(0);
      const key = new Uint8Array(new ArrayBuffer(8));
      // Cgroup storage entries live and die with attachments: the kernel refuses delete.
      expect(libbpf.mapDeleteElem(fd, libbpf.pointer(key))).toBe(-22); // -EINVAL
      expect(libbpf.mapDeleteElem(-1, libbpf.pointer(key))).toBe(-9); // -EBADF
    } finally {
      expect(libbpf.close(fd)).toBe(0);
    }
  });
});

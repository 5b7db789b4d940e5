/**
 * The keys a Collector is given (`track`, `slotOf`), in the forms its map takes, checked as
 * the map's own element operations check them and reduced to the (cgroup id, attach type) a
 * results row holds.
 * @internal
 */
import { BpfRuleError, type BpfOp } from "../errors.ts";
import { EncodedKey, KeyBuffer, type KeySize, type MapKey } from "../maps/key.ts";
import { CgrpStorageMap } from "../maps/cgrp-storage.ts";
import type { CgroupKey } from "../maps/cgrp-key.ts";
import type { AnyStorageMap } from "../maps/open.ts";

export interface KeyParts {
  cgroupId: number;
  attachType: number | undefined;
}

export class CollectorKeys {
  private readonly map: AnyStorageMap;
  /** Legacy maps: the maps' own key checks (forms, sizes, ranges). */
  private readonly buffer: KeyBuffer | null;

  constructor(map: AnyStorageMap) {
    this.map = map;
    this.buffer = map instanceof CgrpStorageMap ? null : new KeyBuffer(map.keySize as KeySize);
  }

  /**
   * `key` as a row's id and attach type. A cgrp_storage map takes a cgroup in any `CgroupKey`
   * form (a `Cgroup`, a path, an id, `{ fd }`): an id is kept as given, the others are resolved
   * to their cgroup's id (a `BpfError` of kind "not-found" when there is no such cgroup).
   */
  parts(op: BpfOp, key: MapKey | CgroupKey): KeyParts {
    const map = this.map;
    if (map instanceof CgrpStorageMap) {
      if (typeof key === "number" && Number.isInteger(key) && key >= 1 && key <= Number.MAX_SAFE_INTEGER) {
        return { cgroupId: key, attachType: undefined };
      }
      if (key instanceof EncodedKey) {
        throw new BpfRuleError(op, `map "${map.info.name}" is a cgrp_storage map: its keys are cgroups, not encoded keys`,
          "pass the cgroup: a Cgroup, its path, its id or { fd }");
      }
      return { cgroupId: map.cgroupIdOf(op, key as CgroupKey), attachType: undefined };
    }
    const buffer = this.buffer!;
    buffer.pointerFor(op, key as MapKey);
    // An encoded key keeps its own words; the other forms were written into the buffer.
    const parts = key instanceof EncodedKey ? key : buffer;
    const cgroupId = parts.cgroupId;
    if (cgroupId > Number.MAX_SAFE_INTEGER) throw new BpfRuleError(op, `cgroup id ${cgroupId} is beyond 2^53; the collector keeps ids as numbers`);
    return { cgroupId, attachType: parts.attachType };
  }
}

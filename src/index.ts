/**
 * cgstore: read and write BPF cgroup local storage maps (`BPF_MAP_TYPE_CGROUP_STORAGE`,
 * `BPF_MAP_TYPE_PERCPU_CGROUP_STORAGE`) from TypeScript through libbpf, with lookups that
 * allocate nothing.
 * @packageDocumentation
 */
export {
  AttachFlags, AttachType, ElemFlags, MapFlags, MapType, attachTypeName, isCgroupAttachType,
  mapTypeName, CGROUP_ID_KEY_SIZE, MAX_PERCPU_VALUE_SIZE, MAX_SHARED_VALUE_SIZE, STORAGE_KEY_SIZE,
} from "./constants.ts";
export { BpfError, BpfRuleError, errnoName, type BpfOp } from "./errors.ts";
export { possibleCpus } from "./cpus.ts";
export { Cgroup } from "./cgroup/handle.ts";
export { cgroupId, cgroupPath, cgroupRoot } from "./cgroup/mount.ts";
export { removeCgroupTree, type RemoveOptions } from "./cgroup/remove.ts";
export { resolveCgroupPath } from "./cgroup/resolve.ts";
export { openMap, createMap, type AnyStorageMap, type CreateMapOptions, type MapSource } from "./maps/open.ts";
export { CgroupStorageMap } from "./maps/cgroup-storage.ts";
export { PerCpuCgroupStorageMap } from "./maps/percpu-cgroup-storage.ts";
export { PerCpuValues, perCpuStride } from "./maps/percpu-values.ts";
export { ScanCursor } from "./maps/cursor.ts";
export type { StorageMap } from "./maps/storage-map.ts";
export type { DecodedPerCpu } from "./maps/percpu-cgroup-storage.ts";
export { Btf, BtfFormatError, BtfKind, type BtfType, type BtfMember, type BtfEnumValue } from "./btf/btf.ts";
export { Layout, type FieldRef, type LayoutField, type LayoutType, type Schema, type SchemaScalar } from "./btf/layout.ts";
export { decode, sumDecoded, type Decoded, type DecodeOptions } from "./btf/decode.ts";
export type { KeyInput, StorageKey } from "./maps/key.ts";
export type { MapInfo } from "./maps/info.ts";
export { BpfObject, BpfProgram, CgroupAttachment, type AttachMethod, type AttachOptions } from "./object.ts";
export { Collector, type CollectorOptions, type PollResult } from "./collector/collector.ts";
export { ResultsTable, SlotState, NO_ATTACH_TYPE, type ResultsTableInit } from "./collector/results.ts";
export {
  escapeLabel, formatMetrics, metricName, OPENMETRICS_CONTENT_TYPE, TEXT_CONTENT_TYPE, type CollectorStats,
} from "./collector/exposition.ts";

/**
 * cgstore: read and write BPF cgroup local storage maps (`BPF_MAP_TYPE_CGROUP_STORAGE`,
 * `BPF_MAP_TYPE_PERCPU_CGROUP_STORAGE`) from TypeScript through libbpf, with lookups that
 * allocate nothing.
 * @packageDocumentation
 */
export {
  AttachFlags, AttachType, ElemFlags, MapFlags, MapType, attachTypeName, isCgroupAttachType,
  mapTypeName, CGROUP_ID_KEY_SIZE, MAX_PERCPU_VALUE_SIZE, MAX_SHARED_VALUE_SIZE, STORAGE_KEY_SIZE,
  MAX_CPU_FLAG, type CpuFlags, type ElemFlagsTable,
} from "./constants.ts";
export { perCpuElemFlags, type FeatureProbe } from "./features.ts";
export {
  BpfError, BpfRuleError, BpfTypeError, errnoName, errorKind, type BpfOp, type ErrorKind,
} from "./errors.ts";
export { possibleCpus } from "./cpus.ts";
export { Cgroup } from "./cgroup/handle.ts";
export { cgroupId, cgroupPath, cgroupRoot } from "./cgroup/mount.ts";
export { removeCgroupTree, type RemoveOptions } from "./cgroup/remove.ts";
export { cgroupLabels, type CgroupLabels } from "./cgroup/labels.ts";
export { resolveCgroupPath } from "./cgroup/resolve.ts";
export {
  openMap, createMap, isLegacyStorageMap, type AnyStorageMap, type CreateMapOptions, type LegacyStorageMap,
  type MapAccess, type MapSource, type OpenMapOptions, type StorageMapKind,
} from "./maps/open.ts";
export { useFallbackLayout, wordsSchema, type FallbackLayoutOptions, type LayoutOrigin } from "./maps/fallback.ts";
export { layoutFromObjectFile } from "./btf/object-file.ts";
export {
  CgrpStorageMap, CgrpScanCursor, type CgrpEntryCallback, type CgrpLookupFlags, type CgrpScanOptions,
} from "./maps/cgrp-storage.ts";
export type { CgroupKey } from "./maps/cgrp-key.ts";
export type { ScanMethod, ScanReport } from "./maps/cgrp-scan.ts";
export type { CreateCgrpMapOptions } from "./maps/cgrp-create.ts";
export { CgroupStorageMap } from "./maps/cgroup-storage.ts";
export { PerCpuCgroupStorageMap } from "./maps/percpu-cgroup-storage.ts";
export { PerCpuValues, perCpuStride } from "./maps/percpu-values.ts";
export { ScanCursor } from "./maps/cursor.ts";
export type { StorageMap, EntryCallback, LookupFlags } from "./maps/storage-map.ts";
export type { MapHandle } from "./maps/handle.ts";
export type { DecodedPerCpu } from "./maps/percpu-cgroup-storage.ts";
export { Field, type FieldKind } from "./maps/field.ts";
export { Btf, BtfFormatError, BtfKind, type BtfType, type BtfMember, type BtfEnumValue } from "./btf/btf.ts";
export { Layout, type FieldRef, type LayoutField, type LayoutType } from "./btf/layout.ts";
export type {
  AggregateRule, AggregateRules, DecodedStruct, FieldPath, Int64AsNumber, Schema, SchemaScalar, SchemaValue,
} from "./btf/schema.ts";
export { decode, aggregateDecoded, type Decoded, type DecodeOptions } from "./btf/decode.ts";
export { EncodedKey, type MapKey, type StorageKey, type StorageKeyLike } from "./maps/key.ts";
export type { MapInfo } from "./maps/info.ts";
export { bundledObject, bundledObjectBytes, BUNDLED_OBJECTS, type BundledObjectName } from "./bundled.ts";
export { BpfObject, BpfProgram } from "./object.ts";
export {
  CgroupAttachment, openLink, type AttachMethod, type AttachMode, type LinkInfo,
} from "./attach/attachment.ts";
export type { AttachOptions } from "./attach/attach.ts";
export { setLibbpfLogging, libbpfLogging } from "./ffi/index.ts";
export { Collector, type CollectorOptions, type PollResult } from "./collector/collector.ts";
export { ResultsTable, SlotState, NO_ATTACH_TYPE, type ResultsTableInit } from "./collector/results.ts";
export {
  escapeLabel, formatMetrics, metricName, OPENMETRICS_CONTENT_TYPE, TEXT_CONTENT_TYPE,
  type MetricFamily, type MetricSample, type MetricType,
} from "./collector/exposition.ts";
export { collectorFamilies, type CollectorFamiliesOptions, type CollectorStats } from "./collector/collector-families.ts";

/**
 * The BPF objects cgstore ships, compiled from `native/*.bpf.c` when the package is packed
 * (`prepack`) and found next to the module at run time: nothing is compiled on the user's machine.
 */
import { existsSync, readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { environmentError } from "./errors.ts";

/**
 * The objects in the package, under `native/build/`:
 * - `counter.bpf.o`: `count_egress` / `count_ingress` (cgroup_skb) count packets and bytes into
 *   `pcpu_stats` (per-CPU) and `shared_stats` (spin-locked), 16-byte keys. The CLI's counter.
 * - `counter8.bpf.o`: the same with 8-byte keys (`pcpu_stats8`, `shared_stats8`).
 * - `sock_create.bpf.o`: `count_sock_create` (cgroup/sock_create) counts sockets into `sock_count`.
 * - `types.bpf.o`: values of every layout feature the decoder handles (the tests' fixture).
 * - `cgrp_iter.bpf.o`: the `iter/cgroup` program `CgrpStorageMap` scans with (bound to any
 *   BPF_MAP_TYPE_CGRP_STORAGE map at load).
 * - `cgrp_counter.bpf.o`: cgroup_skb counters into BPF_MAP_TYPE_CGRP_STORAGE maps
 *   (`cgrp_stats`, and `cgrp_locked` under a spin lock).
 * - `netstats.bpf.o`: per-cgroup packets, bytes, u32/u16/u8 gauges and a log2 packet-size
 *   histogram (the exporter's config example, examples/netstats.yml).
 */
export const BUNDLED_OBJECTS = [
  "counter.bpf.o", "counter8.bpf.o", "sock_create.bpf.o", "types.bpf.o", "cgrp_iter.bpf.o", "cgrp_counter.bpf.o",
  "netstats.bpf.o",
] as const;
/** A name of {@link BUNDLED_OBJECTS}. */
export type BundledObjectName = (typeof BUNDLED_OBJECTS)[number];

/** Where `bun build --compile` puts the files a binary embeds (Bun's virtual file system). */
export const EMBEDDED_ROOT = "/$bunfs/root/";

/** Is this code running inside a `bun build --compile` executable? */
export function isCompiledBinary(): boolean {
  return import.meta.url.startsWith(`file://${EMBEDDED_ROOT}`);
}

/** The path of an embedded copy of `name` in a compiled binary, or null (not compiled, not embedded). */
function embeddedPath(name: string): string | null {
  if (!isCompiledBinary()) return null;
  // Only Bun compiles binaries; its global is looked up, not imported, so Deno never sees it.
  const files = (globalThis as { Bun?: { embeddedFiles?: readonly Blob[] } }).Bun?.embeddedFiles ?? [];
  return files.some((f) => (f as Blob & { name?: string }).name === name) ? EMBEDDED_ROOT + name : null;
}

/**
 * The path of a BPF object that ships with cgstore, for `BpfObject.open`:
 * ```ts
 * using obj = BpfObject.open(bundledObject("counter.bpf.o")).load();
 * ```
 * From an npm install or a checkout it is `native/build/<name>` next to the module (a checkout
 * builds it with `make -C native`); in a `bun build --compile` binary it is the embedded copy
 * under `/$bunfs/`, which `BpfObject.open` reads itself (libbpf cannot see Bun's virtual files).
 * @throws BpfError of kind "environment" when the file is not there (a checkout not built yet,
 * or cgstore loaded over the network, e.g. from JSR: there is no local file to give libbpf).
 */
export function bundledObject(name: BundledObjectName): string {
  if (!(BUNDLED_OBJECTS as readonly string[]).includes(name)) {
    throw environmentError("open", `"${name}" is not a bundled BPF object`, `bundled: ${BUNDLED_OBJECTS.join(", ")}`);
  }
  const embedded = embeddedPath(name);
  if (embedded !== null) return embedded;
  if (isCompiledBinary()) {
    throw environmentError("open", `this executable carries no ${name}`, "build it with `npm run build:binary`, which embeds the BPF objects");
  }
  const url = new URL(`../native/build/${name}`, import.meta.url);
  if (url.protocol !== "file:") {
    throw environmentError("open", `the bundled ${name} has no local path: cgstore was loaded from ${url.origin}`,
      "run cgstore from an npm install or a local copy of the package, or open your own object file");
  }
  const path = fileURLToPath(url);
  if (!existsSync(path)) {
    throw environmentError("open", `${path} is missing`,
      "in a checkout build it with `make -C native` (npm run build:native); an installed package carries it (reinstall cgstore)");
  }
  return path;
}

/**
 * The bytes of a bundled BPF object, for `BpfObject.open(bytes, name)`: read from the package or
 * the binary, or fetched next to the module when cgstore was loaded over the network (JSR), where
 * there is no file to give libbpf.
 */
export async function bundledObjectBytes(name: BundledObjectName): Promise<Uint8Array> {
  const url = new URL(`../native/build/${name}`, import.meta.url);
  if (url.protocol === "file:" || isCompiledBinary()) return readFileSync(bundledObject(name));
  const res = await fetch(url);
  if (!res.ok) throw environmentError("open", `cannot fetch ${url}: HTTP ${res.status}`);
  return new Uint8Array(await res.arrayBuffer());
}

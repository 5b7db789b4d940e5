/**
 * A collector Worker: its own libbpf handle (each thread dlopens), its own map fd (on a file of
 * its own where it may: see `openOwn`), the shared results table. Polls its `index`-th of `count` shares of the live slots
 * when the main thread bumps the shared generation word (see ./dispatch.ts); between polls it
 * sleeps in `Atomics.wait`. Messages: init → { ready } (or { error }); the close command →
 * { closed }; a failed poll leaves its error in shared memory before counting itself done.
 * The module evaluates synchronously (nothing is loaded at import), so the handler below is in
 * place before the runtime delivers the parent's first message; the parent posts init at once.
 * @internal
 */
import { isLegacyStorageMap, openMap, type AnyStorageMap } from "../maps/open.ts";
import type { MapAccess } from "../maps/source.ts";
import { BpfRuleError } from "../errors.ts";
import { Field, type FieldSpec } from "../maps/field.ts";
import { serializeError } from "../errors.ts";
import { ResultsTable, type ResultsTableInit } from "./results.ts";
import { SlotPoller } from "./poller.ts";
import { Command, Dispatch, type DispatchInit } from "./dispatch.ts";

export interface WorkerInit {
  table: ResultsTableInit;
  dispatch: DispatchInit;
  /** The live slots the main thread lists before each poll. */
  live: SharedArrayBuffer;
  mapFd: number;
  /** The map's id: a Worker opens its own file by id where it may (see `openOwn`). */
  mapId: number;
  /** The main thread's access to the map (a Worker never asks for more). */
  access: MapAccess;
  /** The collected fields' accessors, as plain data. */
  fields: FieldSpec[];
  locked: boolean;
  /** CPUs whose values each row also keeps (0: totals only). */
  cpus: number;
  index: number;
  count: number;
}

declare const self: Worker;

/** Serves polls until the close command; returns to let the Worker's event loop idle. */
function serve(init: WorkerInit, poller: SlotPoller, d: Dispatch, close: () => void): void {
  const region = init.index * d.perWorker, live = new Int32Array(init.live);
  let gen = 0;
  for (;;) {
    gen = d.awaitCommand(gen);
    if (d.command === Command.CLOSE) {
      close();
      self.postMessage({ closed: true });
      return;
    }
    let looked = 0, failed = false;
    try {
      // A contiguous share of the live list: Workers writing interleaved rows would share cache
      // lines of the results table (rows are 40 bytes for two fields).
      const n = d.live, from = Math.floor((n * init.index) / init.count), to = Math.floor((n * (init.index + 1)) / init.count);
      looked = poller.poll(d.poll, live, from, to, d.missing, region);
    } catch (e) {
      failed = true;
      d.setError(init.index, serializeError(e));
    }
    d.report(init.index, looked, poller.missingCount, failed);
  }
}

/**
 * The map, on a file of this Worker's own: opened by id (a new struct file), else the main
 * thread's fd duplicated. Every bpf() call on an fd takes a reference on its file in a
 * multi-threaded process; Workers sharing one file bounce that counter's cache line between
 * cores on every lookup (C's own two-thread poll gains ~0.1× throughput from separate files).
 * Opening by id needs CAP_SYS_ADMIN; without it, and for write-only handles, the duplicate.
 */
function openOwn(init: WorkerInit): AnyStorageMap {
  // Only for the access an open by id can ask for exactly (a write-only handle's Worker would
  // get read access it never had).
  if (init.access === "write") return openMap({ fd: init.mapFd });
  try {
    const own = openMap({ id: init.mapId }, { access: init.access });
    if (own.info.id === init.mapId) return own;
    own.close();
  } catch {
    // no CAP_SYS_ADMIN (or the id is gone): the shared file it is
  }
  return openMap({ fd: init.mapFd });
}

self.onmessage = (event: MessageEvent) => {
  const init = (event.data as { init: WorkerInit }).init;
  let poller: SlotPoller, close: () => void;
  try {
    const map = openOwn(init);
    close = () => map.close();
    if (!isLegacyStorageMap(map)) throw new BpfRuleError("collect", "the Collector's workers poll only the legacy cgroup storage maps");
    poller = new SlotPoller(map, new ResultsTable(init.table), {
      fields: init.fields.map((spec) => new Field(spec)), locked: init.locked, cpus: init.cpus,
    });
  } catch (e) {
    self.postMessage({ error: serializeError(e) });
    return;
  }
  self.postMessage({ ready: true });
  // Block only after this turn of the event loop: Bun sends a posted message when it turns.
  setTimeout(() => serve(init, poller, new Dispatch(init.dispatch), close), 0);
};

/**
 * A collector Worker: its own libbpf handle (each thread dlopens), its own map fd (a duplicate;
 * fds are process-wide), the shared results table. Polls slots `index`, `index + count`, … on
 * request. Messages: init → { ready }; { poll } → { poll, looked, missing }; { close } → { closed }.
 * The module evaluates synchronously (nothing is loaded at import), so the handler below is in
 * place before the runtime delivers the parent's first message; the parent posts init at once.
 * @internal
 */
import { isLegacyStorageMap, openMap } from "../maps/open.ts";
import { BpfRuleError } from "../errors.ts";
import { Field, type FieldSpec } from "../maps/field.ts";
import { serializeError } from "../errors.ts";
import { ResultsTable, type ResultsTableInit } from "./results.ts";
import { SlotPoller } from "./poller.ts";

export interface WorkerInit {
  table: ResultsTableInit;
  mapFd: number;
  /** The collected fields' accessors, as plain data. */
  fields: FieldSpec[];
  locked: boolean;
  /** CPUs whose values each row also keeps (0: totals only). */
  cpus: number;
  index: number;
  count: number;
}

declare const self: Worker;

let poller: SlotPoller | undefined;
let init: WorkerInit | undefined;
let close: (() => void) | undefined;

self.onmessage = (event: MessageEvent) => {
  const msg = event.data as { init?: WorkerInit; poll?: number; close?: true };
  try {
    if (msg.init) {
      init = msg.init;
      const map = openMap({ fd: init.mapFd });
      close = () => map.close();
      if (!isLegacyStorageMap(map)) throw new BpfRuleError("collect", "the Collector's workers poll only the legacy cgroup storage maps");
      poller = new SlotPoller(map, new ResultsTable(init.table), {
        fields: init.fields.map((spec) => new Field(spec)), locked: init.locked, cpus: init.cpus,
      });
      self.postMessage({ ready: true });
    } else if (msg.poll !== undefined) {
      const counts = poller!.poll(msg.poll, init!.index, init!.count);
      self.postMessage({ poll: msg.poll, ...counts });
    } else if (msg.close) {
      close?.();
      self.postMessage({ closed: true });
    }
  } catch (e) {
    self.postMessage({ error: serializeError(e) });
  }
};

/**
 * The Collector's dispatch to its Workers without messages: one shared `Int32Array` of control
 * words. Polls are the hot path, so neither side posts anything for one:
 * - the main thread writes the poll number, zeroes DONE, bumps GEN and `Atomics.notify`s it;
 * - each Worker sleeps in `Atomics.wait(GEN)` (a Worker may block), polls its share of the slots,
 *   writes its counts and missing slots into its own words, then adds 1 to DONE and notifies;
 * - the main thread awaits DONE = workers with `Atomics.waitAsync`, which does not block its event
 *   loop (Bun 1.4 and Deno 2.9 both have it).
 * Messages remain for what is rare: init/ready and close/closed. A poll's error travels in shared
 * memory too (JSON of `serializeError`: class, errno, kind, hint): Bun 1.4.4 delivers a Worker's
 * postMessage only when the Worker's event loop turns, and between polls it is blocked in
 * `Atomics.wait`, so a posted error could arrive long after the poll (seen in the tests).
 * @internal
 */
import type { SerializedError } from "../errors.ts";

/** Control words. */
const GEN = 0, CMD = 1, POLL = 2, DONE = 3, LIVE = 4, HEADER = 5;
/** Per Worker: status (0 ok, 1 failed), keys looked up, missing slots written, error bytes. */
const PER_WORKER = 4;
/** Room for one serialized error per Worker (longer ones are cut, still valid JSON). */
const ERROR_BYTES = 8192;
export const Command = { POLL: 1, CLOSE: 2 } as const;

/** What a Worker needs to rebuild its view of the control block. */
export interface DispatchInit {
  control: SharedArrayBuffer;
  missing: SharedArrayBuffer;
  errors: SharedArrayBuffer;
  workers: number;
  capacity: number;
}

type AsyncWait = { async: false; value: string } | { async: true; value: Promise<string> };
const waitAsync = (Atomics as unknown as { waitAsync?: (a: Int32Array, i: number, v: number) => AsyncWait }).waitAsync;

export class Dispatch {
  readonly ctrl: Int32Array;
  /** Missing slots, a region of `perWorker` words for each Worker. */
  readonly missing: Int32Array;
  readonly workers: number;
  readonly perWorker: number;
  readonly init: DispatchInit;
  private readonly errors: Uint8Array;

  constructor(init: DispatchInit | { workers: number; capacity: number }) {
    const full: DispatchInit = "control" in init ? init : {
      control: new SharedArrayBuffer(4 * (HEADER + PER_WORKER * init.workers)),
      missing: new SharedArrayBuffer(4 * Math.max(1, init.capacity)),
      errors: new SharedArrayBuffer(ERROR_BYTES * init.workers),
      workers: init.workers,
      capacity: init.capacity,
    };
    this.init = full;
    this.ctrl = new Int32Array(full.control);
    this.missing = new Int32Array(full.missing);
    this.errors = new Uint8Array(full.errors);
    this.workers = full.workers;
    this.perWorker = Math.ceil(full.capacity / Math.max(1, full.workers));
  }

  // Main thread.

  /** Wakes every Worker for `cmd` (a poll numbered `poll` of `live` listed slots). */
  start(cmd: number, poll = 0, live = 0): void {
    const c = this.ctrl;
    Atomics.store(c, DONE, 0);
    Atomics.store(c, LIVE, live);
    Atomics.store(c, CMD, cmd);
    Atomics.store(c, POLL, poll);
    for (let i = 0; i < this.workers; i++) Atomics.store(c, HEADER + PER_WORKER * i, 0);
    Atomics.add(c, GEN, 1);
    Atomics.notify(c, GEN);
  }

  /** Resolves once every Worker has counted itself done, or `gaveUp()` says stop waiting. */
  async finished(gaveUp: () => boolean): Promise<void> {
    const c = this.ctrl;
    for (;;) {
      const done = Atomics.load(c, DONE);
      if (done >= this.workers || gaveUp()) return;
      if (waitAsync) {
        const r = waitAsync(c, DONE, done);
        if (r.async) await r.value;
      } else await new Promise((resolve) => setTimeout(resolve, 0));
    }
  }

  /** Wakes `finished()` to look again (a Worker died). */
  wake(): void {
    Atomics.notify(this.ctrl, DONE);
  }

  failed(worker: number): boolean {
    return Atomics.load(this.ctrl, HEADER + PER_WORKER * worker) !== 0;
  }

  looked(worker: number): number {
    return Atomics.load(this.ctrl, HEADER + PER_WORKER * worker + 1);
  }

  missingCount(worker: number): number {
    return Atomics.load(this.ctrl, HEADER + PER_WORKER * worker + 2);
  }

  /** The error Worker `worker` reported (status 1), as it serialized it. */
  error(worker: number): SerializedError {
    const n = Atomics.load(this.ctrl, HEADER + PER_WORKER * worker + 3);
    const bytes = this.errors.slice(worker * ERROR_BYTES, worker * ERROR_BYTES + n); // a copy: decoders refuse shared views
    return JSON.parse(new TextDecoder().decode(bytes)) as SerializedError;
  }

  // Worker side.

  /** Stores a failed poll's error for the main thread (before `report`). */
  setError(worker: number, e: SerializedError): void {
    let json = new TextEncoder().encode(JSON.stringify(e));
    if (json.length > ERROR_BYTES) {
      const cut = { ...e, stack: undefined, message: e.message.slice(0, ERROR_BYTES / 4) };
      json = new TextEncoder().encode(JSON.stringify(cut));
    }
    this.errors.set(json, worker * ERROR_BYTES);
    Atomics.store(this.ctrl, HEADER + PER_WORKER * worker + 3, json.length);
  }

  /** Blocks until the generation moves past `seen`; returns the new one. */
  awaitCommand(seen: number): number {
    Atomics.wait(this.ctrl, GEN, seen);
    return Atomics.load(this.ctrl, GEN);
  }

  get command(): number {
    return Atomics.load(this.ctrl, CMD);
  }

  /** Listed live slots of this poll. */
  get live(): number {
    return Atomics.load(this.ctrl, LIVE);
  }

  get poll(): number {
    return Atomics.load(this.ctrl, POLL);
  }

  /** A Worker's counts, then it counts itself done (status 1: it posted an error first). */
  report(worker: number, looked: number, missing: number, failed: boolean): void {
    const c = this.ctrl, at = HEADER + PER_WORKER * worker;
    Atomics.store(c, at + 1, looked);
    Atomics.store(c, at + 2, missing);
    Atomics.store(c, at, failed ? 1 : 0);
    Atomics.add(c, DONE, 1);
    Atomics.notify(c, DONE);
  }
}

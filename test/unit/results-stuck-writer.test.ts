/** ResultsTable.read when a writer stopped inside a row (seq left odd) or was only slow. */
import { expect, test } from "../helpers/harness.ts";
import { ResultsTable } from "../../src/collector/results.ts";

test("a writer that died mid-row makes read throw after about a second, not spin forever", () => {
  const table = new ResultsTable({ capacity: 1, fields: 2 });
  new Uint32Array(table.buffer)[0] = 1; // the row's seq word, odd: a write that never finished
  const started = Date.now();
  expect(() => table.read(0, new Float64Array(2))).toThrow(/writer never finished/);
  expect(Date.now() - started).toBeGreaterThanOrEqual(1000);
});

test("a writer that finishes late is waited for (descheduled writers on a loaded machine)", async () => {
  const table = new ResultsTable({ capacity: 1, fields: 2 });
  const seq = new Uint32Array(table.buffer);
  seq[0] = 1;
  // Finish the write from another thread 300 ms later, while read() spins.
  const w = new Worker(URL.createObjectURL(new Blob([
    "self.onmessage = (e) => { const a = new Int32Array(e.data); postMessage(0); Atomics.wait(a, 1, 0, 300); Atomics.store(a, 0, 2); };",
  ], { type: "application/javascript" })), { type: "module" });
  const waiting = new Promise((ok) => w.addEventListener("message", ok, { once: true }));
  w.postMessage(table.buffer);
  await waiting; // the worker is running (slow to start in emulated guests), now spin
  expect(table.read(0, new Float64Array(2))).toBe(0);
  w.terminate();
});

/** The error a call throws, for assertions on its fields; a call that throws none fails the test. */
import { BpfError } from "../../src/index.ts";

/** Whatever `fn` throws. */
export function thrown(fn: () => unknown): Error {
  try {
    fn();
  } catch (e) {
    return e as Error;
  }
  throw new Error("expected an error, but nothing was thrown");
}

/** The `BpfError` `fn` throws (anything else is rethrown). */
export function caught(fn: () => unknown): BpfError {
  const e = thrown(fn);
  if (e instanceof BpfError) return e;
  throw e;
}

/** Possible CPUs: the count that sizes every per-CPU value buffer. */
import { libbpf } from "./ffi/index.ts";

let cached = 0;

/**
 * The number of **possible** CPUs (`/sys/devices/system/cpu/possible`, as libbpf counts them),
 * which is what the kernel uses to size per-CPU values. Not the online count and not
 * `navigator.hardwareConcurrency`: a buffer sized by those can be overrun by the kernel.
 */
export function possibleCpus(): number {
  if (cached > 0) return cached;
  const n = libbpf.numPossibleCpus();
  if (n <= 0) throw new Error(`cgstore: cannot count possible CPUs (libbpf returned ${n})`);
  cached = n;
  return n;
}

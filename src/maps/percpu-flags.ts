/**
 * The per-CPU element flags' rules (`ElemFlags.cpu(n)`, `ElemFlags.ALL_CPUS`), checked before
 * any syscall with the rule named, and the one-CPU value buffer the kernel's `BPF_F_CPU` reads
 * into. Allocation-free: flag words are taken apart arithmetically.
 * @internal
 */
import { libbpf, type NativePointer } from "../ffi/index.ts";
import { BpfRuleError } from "../errors.ts";
import { ElemFlags, F_CPU_FLAG, cpuOfFlags, lowFlags } from "../constants.ts";
import { checkFlagsType } from "./storage-map.ts";
import { perCpuStride } from "./percpu-values.ts";

/** `BPF_F_CPU | BPF_F_ALL_CPUS`. */
export const CPU_BITS = F_CPU_FLAG | ElemFlags.ALL_CPUS;

/** True when `flags` carries `BPF_F_CPU` or `BPF_F_ALL_CPUS` (any number, no checks). */
export function hasCpuBits(flags: number): boolean {
  return (lowFlags(flags) & CPU_BITS) !== 0;
}

function checkCpu(op: "lookup" | "update", flags: number, cpus: number): void {
  const cpu = cpuOfFlags(flags);
  if (cpu >= cpus) {
    throw new BpfRuleError(op, `ElemFlags.cpu(${cpu}): this map has ${cpus} possible CPUs (0..${cpus - 1}); the kernel answers ERANGE`,
      "CPUs are counted as /sys/devices/system/cpu/possible lists them (map.cpus)");
  }
}

/**
 * Checks a per-CPU update's flags: `ANY` or `EXIST`, optionally with `ElemFlags.cpu(n)` or
 * `ElemFlags.ALL_CPUS` (not both). Throws a `BpfRuleError` naming the rule.
 */
export function checkPerCpuUpdateFlags(flags: unknown, cpus: number): asserts flags is number {
  checkFlagsType("update", flags);
  const low = lowFlags(flags);
  const base = low & ~CPU_BITS;
  if (base !== ElemFlags.ANY && base !== ElemFlags.EXIST) {
    throw new BpfRuleError("update",
      base === ElemFlags.NOEXIST
        ? "BPF_NOEXIST cannot succeed on cgroup storage: entries are created only when a program using the map is attached to the cgroup"
        : `flags ${flags}: per-CPU cgroup storage accepts only ElemFlags.ANY and EXIST, plus ElemFlags.cpu(n) or ALL_CPUS (no F_LOCK: per-CPU values hold no spin lock)`,
      base === ElemFlags.NOEXIST ? "update existing entries with ElemFlags.ANY or ElemFlags.EXIST" : undefined);
  }
  if ((low & CPU_BITS) === CPU_BITS) {
    throw new BpfRuleError("update", "BPF_F_CPU and BPF_F_ALL_CPUS together: the kernel answers EINVAL",
      "write one CPU with ElemFlags.cpu(n), or every CPU with ElemFlags.ALL_CPUS");
  }
  if ((low & F_CPU_FLAG) === 0 && cpuOfFlags(flags) !== 0) {
    throw new BpfRuleError("update", `flags ${flags}: the upper 32 bits hold a CPU number only with BPF_F_CPU`, "use ElemFlags.cpu(n)");
  }
  if ((low & F_CPU_FLAG) !== 0) checkCpu("update", flags, cpus);
}

/** Checks a per-CPU lookup's non-zero flags: exactly `ElemFlags.cpu(n)` with n < `cpus`. */
export function checkPerCpuLookupFlags(flags: unknown, cpus: number): asserts flags is number {
  checkFlagsType("lookup", flags);
  const low = lowFlags(flags);
  if ((low & ElemFlags.ALL_CPUS) !== 0) {
    throw new BpfRuleError("lookup", "BPF_F_ALL_CPUS is for update only (the kernel answers EINVAL on lookup)",
      "read one CPU with lookup(key, ElemFlags.cpu(n)), or every CPU with lookup(key)");
  }
  if (low !== F_CPU_FLAG) {
    throw new BpfRuleError("lookup", `flags ${flags}: a per-CPU map's lookup takes no flags or ElemFlags.cpu(n) (per-CPU values hold no spin lock)`);
  }
  checkCpu("lookup", flags, cpus);
}

/** One CPU's value as `BPF_F_CPU` reads and writes it: `valueSize` bytes (buffer rounded to 8). */
export class OneCpuValue {
  /** The value, `valueSize` bytes: what a `cpu(n)` lookup returns. */
  readonly view: Uint8Array;
  readonly pointer: NativePointer;

  constructor(valueSize: number) {
    const buffer = new ArrayBuffer(perCpuStride(valueSize));
    this.view = new Uint8Array(buffer, 0, valueSize);
    this.pointer = libbpf.pointer(new Uint8Array(buffer));
  }
}

/** Throws the rule for `BPF_F_CPU`/`BPF_F_ALL_CPUS` (or CPU bits) on a map that is not per-CPU. */
export function refuseCpuFlags(op: "lookup" | "update", flags: number): void {
  if (hasCpuBits(flags) || cpuOfFlags(flags) !== 0) {
    throw new BpfRuleError(op, `flags ${flags}: BPF_F_CPU and BPF_F_ALL_CPUS (ElemFlags.cpu(n), ALL_CPUS) apply only to per-CPU maps (the kernel answers EINVAL)`,
      "a shared map has one value per entry: use no CPU flags");
  }
}

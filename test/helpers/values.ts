/** Reading the counter programs' values (native/counter.h) in tests. */
export const STATS = { packets: 0, bytes: 8 } as const; // struct stats
export const LOCKED = { lock: 0, packets: 8, bytes: 16 } as const; // struct locked_stats

export function u64(bytes: Uint8Array, offset: number): number {
  return Number(new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).getBigUint64(offset, true));
}

export function setU64(bytes: Uint8Array, offset: number, n: number): void {
  new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).setBigUint64(offset, BigInt(n), true);
}

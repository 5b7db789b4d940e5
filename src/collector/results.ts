/**
 * `ResultsTable`: poll results in one SharedArrayBuffer that every thread reads without copying.
 * One fixed-size row per slot; a slot keeps its key until the key is retired, so readers can
 * hold on to a slot number.
 *
 * Row layout (u32 words): [seq, state, id lo, id hi, attach type, poll, value0 lo, value0 hi, …].
 * Values are u64s, exact below 2^53: per field (per-CPU maps: summed over CPUs), then, for a
 * Collector with `perCpu`, each CPU's fields.
 *
 * Consistency is a per-row seqlock, and every access to a row is an `Atomics` operation:
 * - the writer makes seq odd, stores the row's words, then makes seq even again (seq + 2);
 * - a reader loads seq (retrying while odd), loads the words, loads seq again, and retries if
 *   it changed.
 * Atomics are sequentially consistent, so all of them fall into one total order. A writer's
 * word stores lie between its two seq stores in that order. If a reader sees the same even seq
 * before and after its loads, no seq store of any writer lies between them, so no writer was
 * inside its critical section while the reader loaded: every word comes from the same write.
 * (With plain loads and stores the JS memory model would not give that ordering argument; the
 * cost is a few ns per word against a ~1 µs lookup per row.)
 */

import { U32 } from "../maps/key.ts";

const HEADER_WORDS = 6;
const SEQ = 0, STATE = 1, ID_LO = 2, ID_HI = 3, ATTACH = 4, POLL = 5;
/** How long one odd seq may last before a reader decides its writer died mid-row. */
const STUCK_WRITER_MS = 1000;
/** Attach type stored for 8-byte (id-only) keys. */
export const NO_ATTACH_TYPE = 0xffffffff;

export const SlotState = { FREE: 0, LIVE: 1, RETIRED: 2 } as const;

/** Everything a `ResultsTable` needs to be rebuilt in another thread. */
export interface ResultsTableInit {
  buffer: SharedArrayBuffer;
  capacity: number;
  fields: number;
}

export class ResultsTable {
  readonly buffer: SharedArrayBuffer;
  readonly capacity: number;
  /** u64 fields per row. */
  readonly fields: number;
  /** u32 words per row. */
  readonly rowWords: number;
  private readonly words: Uint32Array;

  constructor(init: ResultsTableInit | { capacity: number; fields: number }) {
    this.capacity = init.capacity;
    this.fields = init.fields;
    this.rowWords = HEADER_WORDS + 2 * init.fields;
    this.buffer = "buffer" in init ? init.buffer : new SharedArrayBuffer(4 * this.rowWords * init.capacity);
    this.words = new Uint32Array(this.buffer);
  }

  /** What to post to a Worker so it can open the same table. */
  get init(): ResultsTableInit {
    return { buffer: this.buffer, capacity: this.capacity, fields: this.fields };
  }

  private base(slot: number): number {
    if (!(slot >= 0 && slot < this.capacity)) throw new RangeError(`slot ${slot} is not in 0..${this.capacity - 1}`);
    return slot * this.rowWords;
  }

  state(slot: number): number {
    return Atomics.load(this.words, this.base(slot) + STATE);
  }

  cgroupId(slot: number): number {
    const b = this.base(slot);
    return Atomics.load(this.words, b + ID_LO) + Atomics.load(this.words, b + ID_HI) * U32;
  }

  /** The slot's attach type, or undefined for 8-byte keys. */
  attachType(slot: number): number | undefined {
    const at = Atomics.load(this.words, this.base(slot) + ATTACH);
    return at === NO_ATTACH_TYPE ? undefined : at;
  }

  /** Writer side: claims `slot` for a key (state LIVE, fields zeroed). */
  assign(slot: number, cgroupId: number, attachType: number | undefined): void {
    const w = this.words, b = this.base(slot);
    const seq = Atomics.add(w, b + SEQ, 1) + 1; // odd: readers retry
    Atomics.store(w, b + ID_LO, cgroupId >>> 0);
    Atomics.store(w, b + ID_HI, Math.floor(cgroupId / U32));
    Atomics.store(w, b + ATTACH, attachType ?? NO_ATTACH_TYPE);
    Atomics.store(w, b + POLL, 0);
    for (let i = 0; i < 2 * this.fields; i++) Atomics.store(w, b + HEADER_WORDS + i, 0);
    Atomics.store(w, b + STATE, SlotState.LIVE);
    Atomics.store(w, b + SEQ, seq + 1);
  }

  /** Writer side: marks `slot` retired (its key vanished). Its last values stay readable. */
  retire(slot: number): void {
    const w = this.words, b = this.base(slot);
    const seq = Atomics.add(w, b + SEQ, 1) + 1;
    Atomics.store(w, b + STATE, SlotState.RETIRED);
    Atomics.store(w, b + SEQ, seq + 1);
  }

  /** Writer side: frees a retired slot for reuse. */
  free(slot: number): void {
    const w = this.words, b = this.base(slot);
    const seq = Atomics.add(w, b + SEQ, 1) + 1;
    Atomics.store(w, b + STATE, SlotState.FREE);
    Atomics.store(w, b + SEQ, seq + 1);
  }

  /**
   * Writer side: stores one poll's values (`values[i]` = field i, an integer below 2^53).
   * One writer per slot at a time.
   */
  write(slot: number, poll: number, values: Float64Array): void {
    const w = this.words, b = this.base(slot);
    const seq = Atomics.add(w, b + SEQ, 1) + 1;
    Atomics.store(w, b + POLL, poll);
    for (let i = 0, o = b + HEADER_WORDS; i < this.fields; i++, o += 2) {
      const total = values[i]!;
      const h = Math.floor(total / U32);
      Atomics.store(w, o, total - h * U32);
      Atomics.store(w, o + 1, h);
    }
    Atomics.store(w, b + SEQ, seq + 1);
  }

  /**
   * Reader side, any thread: copies a consistent snapshot of the slot's fields into `out`
   * (field i at `out[i]`) and returns the poll number that wrote them (0: never polled).
   * Retries while a writer is inside the row. Allocates nothing.
   */
  read(slot: number, out: Float64Array): number {
    const w = this.words, b = this.base(slot), n = Math.min(out.length, this.fields);
    let oddSeq = -1, oddSince = 0;
    for (let spins = 0; ; spins++) {
      const s1 = Atomics.load(w, b + SEQ);
      if (s1 & 1) {
        // A writer that died mid-row (a terminated Worker) leaves seq odd forever. One that is
        // merely descheduled (a loaded machine) leaves it odd for a while, and one writing
        // nonstop makes it odd again and again: give up only on the same odd seq for a long
        // time, checking the clock once per ~1M spins.
        if ((spins & 0xfffff) === 0xfffff) {
          if (s1 !== oddSeq) (oddSeq = s1), (oddSince = Date.now());
          else if (Date.now() - oddSince > STUCK_WRITER_MS) throw new Error(`slot ${slot}: its writer never finished (seq ${s1})`);
        }
        continue;
      }
      const poll = Atomics.load(w, b + POLL);
      for (let i = 0, o = b + HEADER_WORDS; i < n; i++, o += 2) {
        out[i] = Atomics.load(w, o) + Atomics.load(w, o + 1) * U32;
      }
      if (Atomics.load(w, b + SEQ) === s1) return poll;
    }
  }
}

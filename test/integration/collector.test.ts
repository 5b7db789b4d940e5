/** The collector: exact totals under load with Workers, seqlocked reads, keys that come and go. */
import { setTimeout as sleep } from "node:timers/promises";
import { afterEach, describe, expect, test } from "../helpers/harness.ts";
import {
  AttachType, BpfError, BpfObject, Collector, MapFlags, PerCpuCgroupStorageMap, ResultsTable, SlotState, createMap,
  type Cgroup,
} from "../../src/index.ts";
import { bpf, native } from "../helpers/env.ts";
import { cleanup, closeLater, sendUdpAsync, testCgroup, track, UDP_IPV4_OVERHEAD, waitFor } from "../helpers/fixture.ts";
import { boundedKeys } from "../helpers/bounded-scan.ts";

const { CGROUP_INET_EGRESS: EGRESS, CGROUP_INET_INGRESS: INGRESS } = AttachType;

describe("ResultsTable seqlock (no kernel needed)", () => {
  test("a reader never sees a row whose fields come from two different writes", async () => {
    const table = new ResultsTable({ capacity: 1, fields: 8 });
    table.assign(0, 1, 0);
    const stop = new SharedArrayBuffer(4);
    const w = new Worker(new URL("../fixtures/torn-writer.ts", import.meta.url).href, { type: "module" });
    const next = () => new Promise((ok) => w.addEventListener("message", ok, { once: true }));
    const started = next();
    w.postMessage({ table: table.init, stop });
    await started;
    const out = new Float64Array(8);
    const raw = new Uint32Array(table.buffer);
    let reads = 0, torn = 0, rawTorn = 0, lastPoll = 0;
    // 400 ms, longer if needed for 1000 reads and one torn plain read (the control): in an
    // emulated guest (test/kernels) reads are far slower and the two threads overlap less.
    const end = Date.now() + 400;
    while (Date.now() < end || ((reads <= 1000 || rawTorn === 0) && Date.now() < end + 20_000)) {
      const poll = table.read(0, out);
      reads++;
      if (out.some((v) => v !== out[0]) || (poll > 0 && out[0] !== poll * 4294967297)) torn++;
      if (poll < lastPoll) torn++; // never goes backwards
      lastPoll = poll;
      // Control: the same row read with plain loads and no seqlock does tear.
      const first = raw[6];
      for (let i = 7; i < 22; i++) if (raw[i] !== first) { rawTorn++; break; }
    }
    Atomics.store(new Int32Array(stop), 0, 1);
    const writes = await new Promise<number>((ok) => w.addEventListener("message", (e) => ok(e.data as number), { once: true }));
    w.terminate();
    expect(writes).toBeGreaterThan(1000);
    expect(reads).toBeGreaterThan(1000);
    expect(torn).toBe(0);
    expect(rawTorn).toBeGreaterThan(0);
  });
});

describe.skipIf(!bpf.ok)("Collector on real maps", () => {
  afterEach(cleanup);

  function setup(n: number) {
    const obj = closeLater(BpfObject.open(native("counter.bpf.o")).load());
    const pcpu = closeLater(PerCpuCgroupStorageMap.from(obj.map("pcpu_stats")));
    const shared = closeLater(obj.map("shared_stats"));
    const cgs = Array.from({ length: n }, () => testCgroup("coll"));
    for (const cg of cgs) {
      track(obj.program("count_egress").attachCgroup(cg));
      track(obj.program("count_ingress").attachCgroup(cg));
    }
    return { obj, pcpu, shared, cgs };
  }

  test("2 Workers under load: totals equal the traffic sent and a plain lookup of every key", async () => {
    const { pcpu, cgs } = setup(12);
    await using c = await Collector.create(pcpu, { workers: 2, inlineBelow: 0 });
    expect(c.fields).toEqual(["packets", "bytes"]);
    expect(c.refresh()).toEqual({ added: 24, retired: 0 });
    const traffic = Promise.all(cgs.map((cg, i) => sendUdpAsync(cg, 50 + 10 * i, 20 + i)));
    let polls = 0, done = false;
    traffic.then(() => (done = true));
    while (!done) {
      const r = await c.poll();
      expect(r.looked).toBe(24);
      polls++;
    }
    await traffic;
    const final = await c.poll();
    expect(final.retired).toBe(0);
    const out = new Float64Array(2);
    for (const [i, cg] of cgs.entries()) {
      const packets = 50 + 10 * i, bytes = packets * (20 + i + UDP_IPV4_OVERHEAD);
      for (const at of [EGRESS, INGRESS]) {
        expect(c.read(c.slotOf({ cgroupId: cg.id, attachType: at })!, out)).toBe(final.poll);
        expect([...out]).toEqual([packets, bytes]);
        const v = pcpu.lookup({ cgroupId: cg.id, attachType: at })!;
        expect([v.sumU64(0), v.sumU64(8)]).toEqual([...out]);
      }
    }
    expect(polls).toBeGreaterThan(0);
  }, 30_000);

  test("per-second rates between polls (counter resets count from zero), raw per-CPU values", async () => {
    const { pcpu, cgs } = setup(1);
    await using c = await Collector.create(pcpu, { perCpu: true });
    expect(c.rowValues).toBe(2 * (1 + pcpu.cpus));
    c.refresh();
    const slot = c.slotOf({ cgroupId: cgs[0]!.id, attachType: EGRESS })!;
    const rates = new Float64Array(2);
    await c.poll();
    expect(Number.isNaN(c.rates(slot, rates)[0])).toBe(true); // one poll: no rate yet
    await sendUdpAsync(cgs[0]!, 100, 10);
    const t0 = performance.now();
    await sleep(100);
    await c.poll();
    const dt = (performance.now() - t0) / 1000;
    c.rates(slot, rates);
    expect(rates[0]).toBeGreaterThan(100 / (dt + 1)); // 100 packets over (at most) the poll gap
    expect(rates[1]! / rates[0]!).toBeCloseTo(10 + UDP_IPV4_OVERHEAD, 6);
    await c.poll();
    expect([...c.rates(slot, rates)]).toEqual([0, 0]); // no traffic since
    pcpu.updateAll({ cgroupId: cgs[0]!.id, attachType: EGRESS }, new Uint8Array(16)); // reset to 0
    await c.poll();
    expect([...c.rates(slot, rates)]).toEqual([0, 0]); // a drop is a reset, never a negative rate

    await sendUdpAsync(cgs[0]!, 7, 1);
    await c.poll();
    const row = new Float64Array(c.rowValues);
    c.read(slot, row);
    const v = pcpu.lookup({ cgroupId: cgs[0]!.id, attachType: EGRESS })!;
    expect([row[0], row[1]]).toEqual([7, 7 * 29]);
    for (let cpu = 0; cpu < pcpu.cpus; cpu++) {
      expect([row[2 + 2 * cpu], row[3 + 2 * cpu]]).toEqual([v.u64(cpu, 0), v.u64(cpu, 8)]);
    }
  });

  test("misuse is refused: bad keys, and slot changes or polls while a Worker poll runs", async () => {
    const { pcpu, cgs } = setup(2);
    await using c = await Collector.create(pcpu, { workers: 1, inlineBelow: 0 });
    expect(() => c.track(cgs[0]!.id)).toThrow(/16-byte keys/); // no attach type
    expect(() => c.track({ cgroupId: -1, attachType: EGRESS })).toThrow(/whole number from 0 to 2\^64-1/);
    expect(() => c.track("5" as never)).toThrow(TypeError);
    // Every key form lands on the same slot.
    const slot = c.track({ cgroupId: cgs[0]!.id, attachType: EGRESS });
    expect(c.track(pcpu.key(cgs[0]!.id, EGRESS))).toBe(slot);
    expect(c.slotOf(pcpu.key(cgs[0]!.id, EGRESS))).toBe(slot);
    c.refresh();
    const running = c.poll();
    expect(() => c.refresh()).toThrow(/while a poll\(\) is running/);
    expect(() => c.track({ cgroupId: cgs[1]!.id, attachType: EGRESS })).toThrow(/while a poll\(\) is running/);
    await expect(c.poll()).rejects.toThrow(/while a poll\(\) is running/);
    expect((await running).looked).toBe(4);
  });

  test("shared map with a spin lock: polled under the lock, inline", async () => {
    const { shared, cgs } = setup(2);
    await using c = await Collector.create(shared);
    expect(c.fields).toEqual(["packets", "bytes"]); // the lock is not a field
    c.refresh();
    await sendUdpAsync(cgs[1]!, 7, 100);
    await c.poll();
    const out = new Float64Array(2);
    c.read(c.slotOf({ cgroupId: cgs[1]!.id, attachType: EGRESS })!, out);
    expect([...out]).toEqual([7, 7 * 128]);
  });

  test("cgroups removed and created while polling: retired, then found, slots reused late", async () => {
    const { obj, pcpu, cgs } = setup(3);
    await using c = await Collector.create(pcpu);
    c.refresh();
    const gone = cgs[0]!;
    const slot = c.slotOf({ cgroupId: gone.id, attachType: EGRESS })!;
    const freed = Math.min(slot, c.slotOf({ cgroupId: gone.id, attachType: INGRESS })!);
    gone.remove();
    expect(waitFor(() => pcpu.lookup({ cgroupId: gone.id, attachType: EGRESS }) === null, 5000)).toBe(true);
    const r = await c.poll();
    expect(r.retired).toBe(2); // egress and ingress
    expect(c.table.state(slot)).toBe(SlotState.RETIRED);
    expect(c.slotOf({ cgroupId: gone.id, attachType: EGRESS })).toBeUndefined();

    const fresh = testCgroup("coll-new");
    track(obj.program("count_egress").attachCgroup(fresh));
    expect(c.refresh()).toEqual({ added: 1, retired: 0 });
    const freshSlot = c.slotOf({ cgroupId: fresh.id, attachType: EGRESS })!;
    expect(freshSlot).toBeGreaterThanOrEqual(6); // retired one poll ago: not reused yet
    expect(c.table.state(freed)).toBe(SlotState.RETIRED);
    await c.poll();
    await c.poll();
    const again = testCgroup("coll-new2");
    track(obj.program("count_egress").attachCgroup(again));
    expect(c.refresh()).toEqual({ added: 1, retired: 0 });
    expect(c.slotOf({ cgroupId: again.id, attachType: EGRESS })).toBe(freed); // two polls later: the lowest freed slot
  });

  test("a retired slot stays unused one poll after retirement and is reused two polls after", async () => {
    const { obj, pcpu, cgs } = setup(3);
    await using c = await Collector.create(pcpu);
    c.refresh();
    // Slots and cgroup ids through slots() and the table only (no key arguments).
    const slotsOf = (id: number) => c.slots().filter((s) => c.table.cgroupId(s) === id);
    const gone = cgs[1]!;
    const freed = slotsOf(gone.id);
    expect(freed).toHaveLength(2); // egress and ingress
    gone.remove();
    expect(waitFor(() => !boundedKeys(pcpu.keys()).some((k) => k.cgroupId === gone.id), 5000)).toBe(true);
    expect((await c.poll()).retired).toBe(2); // poll N retires them
    for (const s of freed) expect(c.table.state(s)).toBe(SlotState.RETIRED);

    const attachNew = (tag: string) => {
      const cg = testCgroup(tag);
      track(obj.program("count_egress").attachCgroup(cg));
      return cg;
    };
    await c.poll(); // N + 1: one poll after retirement
    const early = attachNew("coll-early");
    expect(c.refresh()).toEqual({ added: 1, retired: 0 });
    const [earlySlot] = slotsOf(early.id);
    expect(earlySlot).toBeDefined();
    expect(freed).not.toContain(earlySlot);
    for (const s of freed) expect(c.table.state(s)).toBe(SlotState.RETIRED); // a reader still sees the retirement

    await c.poll(); // N + 2: two polls after
    const late = attachNew("coll-late");
    expect(c.refresh()).toEqual({ added: 1, retired: 0 });
    expect(slotsOf(late.id)).toEqual([Math.min(...freed)]); // the lowest freed slot
    expect(c.table.state(Math.max(...freed))).toBe(SlotState.FREE);
  });

  test("Workers woken through shared memory: missing keys come back and retire; small polls stay inline", async () => {
    const { pcpu, cgs } = setup(3);
    await using c = await Collector.create(pcpu, { workers: 2, inlineBelow: 0 });
    c.refresh();
    for (let i = 0; i < 50; i++) expect((await c.poll()).looked).toBe(6); // many wake-ups, each answered once
    cgs[1]!.remove();
    expect(waitFor(() => pcpu.lookup({ cgroupId: cgs[1]!.id, attachType: EGRESS }) === null, 5000)).toBe(true);
    expect(await c.poll()).toMatchObject({ looked: 6, retired: 2 });
    expect((await c.poll()).looked).toBe(4);
    // Below inlineBelow the calling thread polls: its error is not a Worker's.
    const m = closeLater(createMap({ type: "percpu", schema: { packets: "u64", bytes: "u64" }, flags: MapFlags.WRONLY }));
    await using inline = await Collector.create(m, { workers: 1, inlineBelow: 2 });
    inline.track({ cgroupId: 1, attachType: EGRESS });
    const e = await inline.poll().then(() => undefined, (x: unknown) => x);
    expect((e as BpfError).message).toMatch(/^lookup: /);
    inline.track({ cgroupId: 2, attachType: EGRESS });
    await expect(inline.poll()).rejects.toThrow(/^collector worker: lookup: /);
    // close() during a Worker poll waits for it: the poll completes, nothing hangs.
    const polling = c.poll();
    await c.close();
    expect((await polling).looked).toBe(4);
  });

  test("an error thrown in a Worker reaches the caller with its class, errno, kind and hint", async () => {
    // A write-only fd: the Worker's lookup is refused by the kernel (EPERM), not by cgstore.
    const m = closeLater(createMap({ type: "percpu", schema: { packets: "u64", bytes: "u64" }, flags: MapFlags.WRONLY }));
    await using c = await Collector.create(m, { workers: 1, inlineBelow: 0 });
    c.track({ cgroupId: 1, attachType: EGRESS });
    const e = await c.poll().then(() => undefined, (x: unknown) => x);
    expect(e).toBeInstanceOf(BpfError);
    const err = e as BpfError;
    expect([err.kind, err.code, err.errno, err.op]).toEqual(["permission", "EPERM", 1, "lookup"]);
    expect(err.hint).toMatch(/write-only/);
    expect(err.message).toMatch(/^collector worker: lookup: /);
    const closed = closeLater(createMap({ type: "shared", valueSize: 8 }));
    closed.close();
    await expect(Collector.create(closed)).rejects.toThrow(/is closed/);
  });
});

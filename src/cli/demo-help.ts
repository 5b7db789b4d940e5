/** Kept apart from demo.ts so `--help` works without loading libbpf. */
export const DEMO_HELP = `Usage: cgstore demo

Loads the bundled counter program (native/counter.bpf.o: a per-CPU map and a spin-locked shared
map, 16-byte keys), creates three cgroups, attaches it at ingress and egress, sends a known
amount of UDP traffic over 127.0.0.1 from inside each cgroup, prints what the maps hold, and
removes everything it made. Needs root. Exit code 4 if the maps disagree with the traffic sent.`;

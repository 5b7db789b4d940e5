/* Shared by the counter programs: the value layouts cgstore's tests, demo and bench read. */
#ifndef CGSTORE_COUNTER_H
#define CGSTORE_COUNTER_H

/* Per-CPU value: no lock needed, each CPU owns its slot. */
struct stats {
	__u64 packets;
	__u64 bytes;
};

/* Shared value: one copy per cgroup, so CPUs serialise on the spin lock. */
struct locked_stats {
	struct bpf_spin_lock lock;
	__u64 packets;
	__u64 bytes;
};

#endif

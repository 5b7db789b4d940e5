/* C reference for the hot-lookup workload: one key looked up `iterations` times through libbpf.
 * Usage: hot_lookup <pinned map> <cgroup id> <attach type> <iterations> <percpu|shared|locked> [idle threads]
 *   `idle threads` (default 0) start first and sleep in pause(): a multi-threaded process shares
 *   its fd table, so the kernel takes a reference on the map file on every bpf() call (fdget)
 *   instead of borrowing it; Bun and Deno always run several threads.
 *   percpu: lookup + packets and bytes summed over CPUs; shared: plain lookup of the
 *   {lock, packets, bytes} value; locked: the same with BPF_F_LOCK.
 * Prints {"ns_per_op", "packets"}. */
#include <pthread.h>
#include <string.h>
#include <unistd.h>
#include "common.h"

static void *idle(void *arg)
{
	(void)arg;
	for (;;)
		pause();
	return NULL;
}

int main(int argc, char **argv)
{
	if (argc != 6 && argc != 7) {
		fprintf(stderr, "usage: %s <pin> <cgroup id> <attach type> <iterations> <mode>\n", argv[0]);
		return 2;
	}
	struct pinned_map m;
	if (open_pinned(argv[1], &m))
		return 1;
	struct key16 key = { .id = strtoull(argv[2], NULL, 10), .attach_type = atoi(argv[3]) };
	long iters = atol(argv[4]);
	uint64_t flags = !strcmp(argv[5], "locked") ? BPF_F_LOCK : 0;
	int (*volatile lookup)(int, const void *, void *, __u64) = bpf_map_lookup_elem_flags;
	int threads = argc == 7 ? atoi(argv[6]) : 0;
	for (int t = 0; t < threads; t++) {
		pthread_t thread;
		if (pthread_create(&thread, NULL, idle, NULL) != 0)
			return 1;
	}
	uint64_t packets = 0, bytes = 0;
#define LOOKUPS(n) do { \
		for (long i = 0; i < (n); i++) { \
			if (lookup(m.fd, &key, m.value, flags)) { \
				fprintf(stderr, "lookup failed\n"); \
				return 1; \
			} \
			add_counts(&m, &packets, &bytes); \
		} \
	} while (0)
	WARM_UP(LOOKUPS(10000));
	double t0 = now_ns();
	LOOKUPS(iters);
	printf("{\"ns_per_op\": %.1f, \"packets\": %llu}\n", (now_ns() - t0) / iters, (unsigned long long)packets);
	return 0;
}

/* C reference for the hot-lookup workload: one key looked up `iterations` times through libbpf.
 * Usage: hot_lookup <pinned map> <cgroup id> <attach type> <iterations> <percpu|shared|locked> [threaded]
 *   `threaded` starts one idle thread first: a multi-threaded process shares its fd table, so
 *   the kernel refcounts the map file on every bpf() call (fdget), as it does for Bun.
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
	pthread_t thread;
	if (argc == 7 && pthread_create(&thread, NULL, idle, NULL) != 0)
		return 1;
	uint64_t packets = 0, bytes = 0;

	for (int pass = 0; pass < 2; pass++) { /* pass 0 warms up with a tenth of the work */
		long n = pass ? iters : iters / 10 + 1;
		double t0 = now_ns();
		for (long i = 0; i < n; i++) {
			if (lookup(m.fd, &key, m.value, flags)) {
				fprintf(stderr, "lookup failed\n");
				return 1;
			}
			add_counts(&m, &packets, &bytes);
		}
		if (pass)
			printf("{\"ns_per_op\": %.1f, \"packets\": %llu}\n", (now_ns() - t0) / n,
			       (unsigned long long)packets);
	}
	return 0;
}

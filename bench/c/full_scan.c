/* C reference for the full-scan workload: get_next_key + lookup of every entry, summing packets
 * and bytes over CPUs, `iterations` times. Usage: full_scan <pinned map> <iterations>
 * Prints {"ns_per_entry", "entries", "packets", "bytes"} (the counts of the last scan). */
#include <errno.h>
#include "common.h"

int main(int argc, char **argv)
{
	if (argc != 3) {
		fprintf(stderr, "usage: %s <pinned map> <iterations>\n", argv[0]);
		return 2;
	}
	struct pinned_map m;
	if (open_pinned(argv[1], &m))
		return 1;
	long iters = atol(argv[2]);
	int (*volatile next)(int, const void *, void *) = bpf_map_get_next_key;
	int (*volatile lookup)(int, const void *, void *) = bpf_map_lookup_elem;
	uint64_t packets = 0, bytes = 0;
	long entries = 0;
	double t0 = now_ns();
	for (long it = 0; it < iters; it++) {
		struct key16 key, prev;
		const void *p = NULL;
		packets = bytes = 0;
		entries = 0;
		while (next(m.fd, p, &key) == 0) {
			if (lookup(m.fd, &key, m.value) == 0) {
				add_counts(&m, &packets, &bytes);
				entries++;
			}
			prev = key;
			p = &prev;
		}
	}
	double ns = now_ns() - t0;
	printf("{\"ns_per_entry\": %.1f, \"entries\": %ld, \"packets\": %llu, \"bytes\": %llu}\n",
	       entries ? ns / (iters * entries) : 0.0, entries, (unsigned long long)packets,
	       (unsigned long long)bytes);
	return 0;
}

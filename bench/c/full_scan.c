/* C reference for the full-scan workload: get_next_key + lookup of every entry, summing packets
 * and bytes over CPUs, `iterations` times. Usage: full_scan <pinned map> <iterations>
 * Prints {"ns_per_entry", "entries", "packets", "bytes"} (the counts of the last scan). */
#include <errno.h>
#include "common.h"

int main(int argc, char **argv)
{
	struct pinned_map m;
	long iters = open_scan_args(argc, argv, &m);
	if (iters < 0)
		return 1;
	int (*volatile next)(int, const void *, void *) = bpf_map_get_next_key;
	int (*volatile lookup)(int, const void *, void *) = bpf_map_lookup_elem;
	uint64_t packets = 0, bytes = 0;
	long entries = 0;
#define SCAN() do { \
		struct key16 key, prev; \
		const void *p = NULL; \
		packets = bytes = 0; \
		entries = 0; \
		while (next(m.fd, p, &key) == 0) { \
			if (lookup(m.fd, &key, m.value) == 0) { \
				add_counts(&m, &packets, &bytes); \
				entries++; \
			} \
			prev = key; \
			p = &prev; \
		} \
	} while (0)
	double ns = TIMED(iters, SCAN());
	print_scan(ns, iters, entries, packets, bytes);
	return 0;
}

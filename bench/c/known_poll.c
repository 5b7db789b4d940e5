/* C reference for the known-key poll: collect the keys once (untimed), then look up every key
 * `iterations` times, summing packets and bytes. Usage: known_poll <pinned map> <iterations>
 * Prints {"ns_per_entry", "entries", "packets", "bytes"} (the counts of the last poll). */
#include "common.h"

int main(int argc, char **argv)
{
	struct pinned_map m;
	long iters = open_scan_args(argc, argv, &m);
	if (iters < 0)
		return 1;
	long n;
	struct key16 *keys = collect_keys(&m, &n);
	int (*volatile lookup)(int, const void *, void *) = bpf_map_lookup_elem;
	uint64_t packets = 0, bytes = 0;
#define POLL() do { \
		packets = bytes = 0; \
		for (long i = 0; i < n; i++) \
			if (lookup(m.fd, &keys[i], m.value) == 0) \
				add_counts(&m, &packets, &bytes); \
	} while (0)
	double ns = TIMED(iters, POLL());
	print_scan(ns, iters, n, packets, bytes);
	return 0;
}

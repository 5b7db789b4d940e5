/* C reference for the hot-lookup workload: the same lookups cgstore's TypeScript side does,
 * through libbpf, on the same pinned map.
 * Usage: hot_lookup <pinned map> <cgroup id> <attach type|-> <iterations> <mode>
 *   mode: percpu (lookup + sum of two u64 fields over CPUs), shared, locked (BPF_F_LOCK)
 * Prints: {"ns_per_op": N, "check": SUM} */
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct key16 {
	uint64_t id;
	uint32_t attach_type;
	uint32_t pad;
};

static double now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e9 + ts.tv_nsec;
}

int main(int argc, char **argv)
{
	if (argc != 6) {
		fprintf(stderr, "usage: %s <pin> <cgroup id> <attach type|-> <iterations> <percpu|shared|locked>\n", argv[0]);
		return 2;
	}
	int fd = bpf_obj_get(argv[1]);
	if (fd < 0) {
		fprintf(stderr, "bpf_obj_get(%s): %d\n", argv[1], fd);
		return 1;
	}
	struct bpf_map_info info = {};
	uint32_t len = sizeof(info);
	if (bpf_obj_get_info_by_fd(fd, &info, &len))
		return 1;
	struct key16 key = { .id = strtoull(argv[2], NULL, 10) };
	if (strcmp(argv[3], "-"))
		key.attach_type = atoi(argv[3]);
	long iters = atol(argv[4]);
	const char *mode = argv[5];
	int ncpu = libbpf_num_possible_cpus();
	size_t stride = (info.value_size + 7) & ~7u;
	int percpu = !strcmp(mode, "percpu");
	uint64_t flags = !strcmp(mode, "locked") ? BPF_F_LOCK : 0;
	uint8_t *val = aligned_alloc(8, stride * (percpu ? ncpu : 1) + 8);
	int (*volatile lookup)(int, const void *, void *, __u64) = bpf_map_lookup_elem_flags;
	uint64_t check = 0;

	for (int pass = 0; pass < 2; pass++) { /* pass 0: warm-up, a tenth of the work */
		long n = pass ? iters : iters / 10;
		double t0 = now_ns();
		for (long i = 0; i < n; i++) {
			if (lookup(fd, &key, val, flags)) {
				fprintf(stderr, "lookup failed\n");
				return 1;
			}
			if (percpu) {
				for (int c = 0; c < ncpu; c++) {
					uint64_t *f = (uint64_t *)(val + c * stride);
					check += f[0] + f[1];
				}
			} else {
				check += val[8] + val[16];
			}
		}
		if (pass)
			printf("{\"ns_per_op\": %.1f, \"check\": %llu}\n", (now_ns() - t0) / n, (unsigned long long)check);
	}
	return 0;
}

/* Shared by the C reference programs: timing and opening a pinned map with its geometry. */
#ifndef CGSTORE_BENCH_COMMON_H
#define CGSTORE_BENCH_COMMON_H
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

struct key16 {
	uint64_t id;
	uint32_t attach_type;
	uint32_t pad;
};

static inline double now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e9 + ts.tv_nsec;
}

/* The same warm-up the TypeScript side gets (bench/workloads.ts warmUpNs): 250 ms of the
 * timed work (BENCH_WARMUP_MS: --quick shortens it), so neither side is timed cold. */
static inline double warmup_ns(void)
{
	const char *ms = getenv("BENCH_WARMUP_MS");
	return ms ? atof(ms) * 1e6 : 250e6;
}
#define WARM_UP(...) do { \
		if (getenv("BENCH_COLD")) /* the cold-start row times a whole process: no warm-up */ \
			break; \
		double warm_end_ = now_ns() + warmup_ns(); \
		do { __VA_ARGS__; } while (now_ns() < warm_end_); \
	} while (0)
/* The warm-up, then `iters` timed runs of the body: the nanoseconds those took (GNU C). The
 * body is variadic, like WARM_UP's, as an expanded body may hold commas. */
#define TIMED(iters, ...) ({ \
		WARM_UP(__VA_ARGS__); \
		double t0_ = now_ns(); \
		for (long it_ = 0; it_ < (iters); it_++) \
			__VA_ARGS__; \
		now_ns() - t0_; \
	})

struct pinned_map {
	int fd;
	struct bpf_map_info info;
	int ncpu;       /* possible CPUs */
	size_t stride;  /* round_up(value_size, 8) */
	int percpu;
	uint8_t *value; /* big enough for one lookup */
};

static inline int open_pinned(const char *path, struct pinned_map *m)
{
	uint32_t len = sizeof(m->info);
	m->fd = bpf_obj_get(path);
	if (m->fd < 0 || bpf_obj_get_info_by_fd(m->fd, &m->info, &len)) {
		fprintf(stderr, "cannot open %s\n", path);
		return -1;
	}
	m->ncpu = libbpf_num_possible_cpus();
	m->stride = (m->info.value_size + 7) & ~7u;
	m->percpu = m->info.type == BPF_MAP_TYPE_PERCPU_CGROUP_STORAGE;
	m->value = aligned_alloc(8, m->stride * (m->percpu ? m->ncpu : 1) + 8);
	return 0;
}

/* `prog <pinned map> <iterations>`: opens the map; returns the iterations, or -1 after an error. */
static inline long open_scan_args(int argc, char **argv, struct pinned_map *m)
{
	if (argc != 3) {
		fprintf(stderr, "usage: %s <pinned map> <iterations>\n", argv[0]);
		return -1;
	}
	if (open_pinned(argv[1], m))
		return -1;
	return atol(argv[2]);
}

/* Every key of the map, collected once (untimed) with get_next_key; their number in *n. */
static inline struct key16 *collect_keys(const struct pinned_map *m, long *n)
{
	long cap = 1024, k = 0;
	struct key16 *keys = malloc(cap * sizeof(*keys));
	const void *p = NULL;
	while (bpf_map_get_next_key(m->fd, p, &keys[k]) == 0) {
		p = &keys[k++];
		if (k == cap) {
			keys = realloc(keys, (cap *= 2) * sizeof(*keys));
			p = &keys[k - 1];
		}
	}
	*n = k;
	return keys;
}

/* The one JSON line the scan references print; the runner compares the counts with TS's. */
static inline void print_scan(double ns, long iters, long entries, uint64_t packets, uint64_t bytes)
{
	printf("{\"ns_per_entry\": %.1f, \"entries\": %ld, \"packets\": %llu, \"bytes\": %llu}\n",
	       entries ? ns / (iters * entries) : 0.0, entries, (unsigned long long)packets,
	       (unsigned long long)bytes);
}

/* Adds packets and bytes (struct stats / struct locked_stats, native/counter.h) of one value. */
static inline void add_counts(const struct pinned_map *m, uint64_t *packets, uint64_t *bytes)
{
	if (m->percpu) {
		for (int c = 0; c < m->ncpu; c++) {
			const uint64_t *f = (const uint64_t *)(m->value + c * m->stride);
			*packets += f[0];
			*bytes += f[1];
		}
	} else {
		const uint64_t *f = (const uint64_t *)m->value; /* {lock, packets, bytes} */
		*packets += f[1];
		*bytes += f[2];
	}
}
#endif

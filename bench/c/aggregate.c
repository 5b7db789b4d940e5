/* C reference for per-CPU aggregation without syscalls: sum every u64 field of a per-CPU value
 * buffer (cpus × round_up(value_size, 8) bytes), `iterations` times.
 * Usage: aggregate <cpus> <value size> <iterations>. Prints {"ns_per_op", "check"}. */
#include "common.h"
#include <string.h>

int main(int argc, char **argv)
{
	if (argc != 4) {
		fprintf(stderr, "usage: %s <cpus> <value size> <iterations>\n", argv[0]);
		return 2;
	}
	int cpus = atoi(argv[1]), vs = atoi(argv[2]);
	long iters = atol(argv[3]);
	size_t stride = (vs + 7) & ~7, fields = vs / 8;
	uint8_t *buf = aligned_alloc(8, stride * cpus);
	for (size_t i = 0; i < stride * cpus / 4; i++) /* same pattern as the TS side: u64s < 2^16 */
		((uint32_t *)buf)[i] = i & 1 ? 0 : (uint32_t)(i * 2654435761u) & 0xffff;
	uint64_t *sums = calloc(fields, sizeof(*sums)), check = 0;
	uint8_t *volatile vbuf = buf; /* keep the compiler from hoisting the work out of the loop */
#define SUM() do { \
		const uint8_t *b = vbuf; \
		memset(sums, 0, fields * sizeof(*sums)); \
		for (int c = 0; c < cpus; c++) { \
			const uint64_t *v = (const uint64_t *)(b + c * stride); \
			for (size_t f = 0; f < fields; f++) \
				sums[f] += v[f]; \
		} \
	} while (0)
	WARM_UP(SUM());
	double t0 = now_ns();
	for (long it = 0; it < iters; it++) {
		SUM();
		check += sums[it % fields];
	}
	double ns = now_ns() - t0;
	printf("{\"ns_per_op\": %.1f, \"check\": %llu}\n", ns / iters, (unsigned long long)check);
	return 0;
}

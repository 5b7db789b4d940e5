/* Control for the Collector's speed-up, like for like: the known-key poll in C split over
 * <threads> threads, each looking up its contiguous share of the map's keys on an fd of its own
 * (opened by map id: a file of its own), as each Worker polls its share of the live slots. Prints the poll's ns per entry (wall
 * time / (iterations × entries)). Usage: parallel_poll <pinned map> <iterations> <threads> */
#include <pthread.h>
#include <unistd.h>
#include "common.h"

static struct pinned_map m;
static struct key16 *keys;
static long n, iters;
static int threads;

struct share {
	long from, to;
	uint8_t *value;
	uint64_t sum;
};

static void *poll_share(void *arg)
{
	struct share *s = arg;
	int fd = threads > 1 ? bpf_map_get_fd_by_id(m.info.id) : m.fd;
	if (fd < 0)
		fd = m.fd;
	for (long it = 0; it < iters; it++)
		for (long i = s->from; i < s->to; i++)
			if (bpf_map_lookup_elem(fd, &keys[i], s->value) == 0)
				s->sum += s->value[0];
	if (fd != m.fd)
		close(fd);
	return NULL;
}

static double run(long count)
{
	pthread_t t[64];
	struct share s[64];
	long saved = iters;
	iters = count;
	double t0 = now_ns();
	for (int k = 0; k < threads; k++) {
		s[k] = (struct share){ n * k / threads, n * (k + 1) / threads, aligned_alloc(8, m.stride * m.ncpu + 8), 0 };
		pthread_create(&t[k], NULL, poll_share, &s[k]);
	}
	for (int k = 0; k < threads; k++)
		pthread_join(t[k], NULL);
	double ns = now_ns() - t0;
	for (int k = 0; k < threads; k++)
		free(s[k].value);
	iters = saved;
	return ns;
}

int main(int argc, char **argv)
{
	if (argc != 4 || open_pinned(argv[1], &m))
		return 1;
	iters = atol(argv[2]);
	threads = atoi(argv[3]);
	if (threads < 1 || threads > 64)
		return 2;
	keys = collect_keys(&m, &n);
	/* The same warm-up as the other references: polls until warmup_ns() has passed. */
	double warm_end = now_ns() + warmup_ns();
	while (now_ns() < warm_end)
		run(1);
	double ns = run(iters);
	printf("{\"ns_per_entry\": %.1f, \"entries\": %ld}\n", n ? ns / (iters * n) : 0.0, n);
	return 0;
}

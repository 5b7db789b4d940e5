/* Control for the Collector's speed-up: how much parallelism the machine gives right now. Each
 * of <threads> threads does the same fixed CPU work; prints the wall time. Throughput speed-up
 * of N threads = N × t(1) / t(N) (2.0 on two idle cores). Usage: parallel <threads> */
#include <pthread.h>
#include "common.h"

static void *spin(void *arg)
{
	volatile unsigned long x = 0;
	for (unsigned long i = 0; i < 100000000UL; i++)
		x += i;
	return arg;
}

int main(int argc, char **argv)
{
	int n = argc > 1 ? atoi(argv[1]) : 1;
	pthread_t t[64];
	if (n < 1 || n > 64)
		return 2;
	double t0 = now_ns();
	for (int i = 0; i < n; i++)
		pthread_create(&t[i], NULL, spin, NULL);
	for (int i = 0; i < n; i++)
		pthread_join(t[i], NULL);
	printf("{\"ns\": %.0f}\n", now_ns() - t0);
	return 0;
}

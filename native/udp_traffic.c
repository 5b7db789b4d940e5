/* udp_traffic: join a cgroup, then send COUNT UDP datagrams of SIZE payload bytes to itself on
 * 127.0.0.1, receiving each before sending the next (so none is dropped).
 *
 * Both sockets are created after the move, so egress and ingress are both charged to CGROUP.
 * Each datagram is 20 (IPv4) + 8 (UDP) + SIZE bytes in skb->len at cgroup_skb hooks.
 * Usage: udp_traffic <cgroup dir> <count> <size>. Exit 0 on success. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static int die(const char *what)
{
	perror(what);
	return 1;
}

int main(int argc, char **argv)
{
	if (argc != 4) {
		fprintf(stderr, "usage: %s <cgroup dir> <count> <size>\n", argv[0]);
		return 2;
	}
	long count = atol(argv[2]), size = atol(argv[3]);
	if (count < 0 || size < 0 || size > 65000) {
		fprintf(stderr, "bad count or size\n");
		return 2;
	}

	char procs[4096];
	snprintf(procs, sizeof(procs), "%s/cgroup.procs", argv[1]);
	FILE *f = fopen(procs, "w");
	if (!f)
		return die(procs);
	if (fprintf(f, "%d\n", getpid()) < 0 || fclose(f) != 0)
		return die("join cgroup");

	int rx = socket(AF_INET, SOCK_DGRAM, 0), tx = socket(AF_INET, SOCK_DGRAM, 0);
	if (rx < 0 || tx < 0)
		return die("socket");
	struct sockaddr_in addr = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(addr);
	if (bind(rx, (struct sockaddr *)&addr, sizeof(addr)) < 0 ||
	    getsockname(rx, (struct sockaddr *)&addr, &len) < 0)
		return die("bind");

	char *buf = calloc(1, size ? size : 1);
	for (long i = 0; i < count; i++) {
		if (sendto(tx, buf, size, 0, (struct sockaddr *)&addr, sizeof(addr)) != size)
			return die("sendto");
		if (recv(rx, buf, size ? size : 1, 0) < 0)
			return die("recv");
	}
	return 0;
}

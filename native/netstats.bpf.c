// SPDX-License-Identifier: GPL-2.0
/* cgroup_skb statistics for the exporter's tests and examples (examples/netstats.yml): counters,
 * u32/u16/u8 gauges and a histogram of packet sizes in kernel-side log2 buckets, laid out as
 * ebpf_exporter lays them out (bucket i counts skb->len <= 2^i, the last bucket the rest). */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

#define SIZE_BUCKETS 16

struct net_stats {
	__u64 packets;
	__u64 bytes;
	__u32 max_len;  /* largest packet (per CPU; the exporter takes the max) */
	__u16 last_len; /* size of the last packet, truncated to 16 bits */
	__u8 seen;      /* 1 once a packet was counted (the exporter ORs the CPUs) */
	__u8 pad;
	__u64 size_log2[SIZE_BUCKETS];
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_CGROUP_STORAGE);
	__type(key, struct bpf_cgroup_storage_key);
	__type(value, struct net_stats);
} net SEC(".maps");

static __always_inline int count(struct __sk_buff *skb)
{
	struct net_stats *s = bpf_get_local_storage(&net, 0);
	__u32 len = skb->len, i;

	s->packets++;
	s->bytes += len;
	if (len > s->max_len)
		s->max_len = len;
	s->last_len = len;
	s->seen = 1;
	/* Bounded loop (kernel >= 5.3 verifies it). */
	for (i = 0; i < SIZE_BUCKETS - 1; i++)
		if (len <= (1u << i))
			break;
	s->size_log2[i & (SIZE_BUCKETS - 1)]++;
	return 1;
}

SEC("cgroup_skb/egress")
int net_egress(struct __sk_buff *skb) { return count(skb); }

SEC("cgroup_skb/ingress")
int net_ingress(struct __sk_buff *skb) { return count(skb); }

char LICENSE[] SEC("license") = "GPL";

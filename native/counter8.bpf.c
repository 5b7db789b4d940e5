// SPDX-License-Identifier: GPL-2.0
/* The same counter with 8-byte keys (u64 cgroup id only): the kernel shares one entry per
 * cgroup across attach types, so ingress and egress add into the same value. */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include "counter.h"

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_CGROUP_STORAGE);
	__type(key, __u64);
	__type(value, struct stats);
} pcpu_stats8 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_CGROUP_STORAGE);
	__type(key, __u64);
	__type(value, struct locked_stats);
} shared_stats8 SEC(".maps");

static __always_inline int count(struct __sk_buff *skb)
{
	struct stats *p = bpf_get_local_storage(&pcpu_stats8, 0);
	struct locked_stats *s = bpf_get_local_storage(&shared_stats8, 0);

	p->packets++;
	p->bytes += skb->len;
	bpf_spin_lock(&s->lock);
	s->packets++;
	s->bytes += skb->len;
	bpf_spin_unlock(&s->lock);
	return 1;
}

SEC("cgroup_skb/egress")
int count_egress8(struct __sk_buff *skb) { return count(skb); }

SEC("cgroup_skb/ingress")
int count_ingress8(struct __sk_buff *skb) { return count(skb); }

char LICENSE[] SEC("license") = "GPL";

// SPDX-License-Identifier: GPL-2.0
/* cgroup_skb counter with 16-byte keys ({cgroup id, attach type}): ingress and egress of one
 * cgroup get separate entries. Counts every packet (skb->len bytes) in a per-CPU map and in a
 * spin-locked shared map, so a reader can check one against the other. Never drops. */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include "counter.h"

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_CGROUP_STORAGE);
	__type(key, struct bpf_cgroup_storage_key);
	__type(value, struct stats);
} pcpu_stats SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_CGROUP_STORAGE);
	__type(key, struct bpf_cgroup_storage_key);
	__type(value, struct locked_stats);
} shared_stats SEC(".maps");

static __always_inline int count(struct __sk_buff *skb)
{
	struct stats *p = bpf_get_local_storage(&pcpu_stats, 0);
	struct locked_stats *s = bpf_get_local_storage(&shared_stats, 0);

	p->packets++;
	p->bytes += skb->len;
	bpf_spin_lock(&s->lock);
	s->packets++;
	s->bytes += skb->len;
	bpf_spin_unlock(&s->lock);
	return 1;
}

SEC("cgroup_skb/egress")
int count_egress(struct __sk_buff *skb) { return count(skb); }

SEC("cgroup_skb/ingress")
int count_ingress(struct __sk_buff *skb) { return count(skb); }

char LICENSE[] SEC("license") = "GPL";

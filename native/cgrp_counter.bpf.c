// SPDX-License-Identifier: GPL-2.0
/* Packets and bytes per cgroup in BPF_MAP_TYPE_CGRP_STORAGE maps (kernel >= 6.2), filled from
 * cgroup_skb hooks: the entry belongs to the socket's own cgroup (not the cgroup the program is
 * attached to, as with the legacy cgroup storage maps) and is created on first use
 * (BPF_LOCAL_STORAGE_GET_F_CREATE). `cgrp_stats` is lock-free (atomic adds); `cgrp_locked`
 * holds a bpf_spin_lock so both fields move together. */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include "counter.h"

#define CGRP_STORAGE_MAP 32 /* BPF_MAP_TYPE_CGRP_STORAGE: not in 6.1 uapi headers */

struct cgroup {
	int level;
} __attribute__((preserve_access_index));
extern struct cgroup *bpf_cgroup_from_id(__u64 cgid) __ksym;
extern void bpf_cgroup_release(struct cgroup *cgrp) __ksym;

struct {
	__uint(type, CGRP_STORAGE_MAP);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct stats);
} cgrp_stats SEC(".maps");

struct {
	__uint(type, CGRP_STORAGE_MAP);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct locked_stats);
} cgrp_locked SEC(".maps");

static __always_inline int count(struct __sk_buff *skb)
{
	struct cgroup *cgrp = bpf_cgroup_from_id(bpf_skb_cgroup_id(skb));
	if (!cgrp)
		return 1;
	struct stats *s = bpf_cgrp_storage_get(&cgrp_stats, cgrp, 0, BPF_LOCAL_STORAGE_GET_F_CREATE);
	if (s) {
		__sync_fetch_and_add(&s->packets, 1);
		__sync_fetch_and_add(&s->bytes, skb->len);
	}
	struct locked_stats *l = bpf_cgrp_storage_get(&cgrp_locked, cgrp, 0, BPF_LOCAL_STORAGE_GET_F_CREATE);
	if (l) {
		bpf_spin_lock(&l->lock);
		l->packets++;
		l->bytes += skb->len;
		bpf_spin_unlock(&l->lock);
	}
	bpf_cgroup_release(cgrp);
	return 1;
}

SEC("cgroup_skb/egress")
int cgrp_egress(struct __sk_buff *skb) { return count(skb); }

SEC("cgroup_skb/ingress")
int cgrp_ingress(struct __sk_buff *skb) { return count(skb); }

char LICENSE[] SEC("license") = "GPL";

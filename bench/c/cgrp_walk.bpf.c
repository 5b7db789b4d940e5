// SPDX-License-Identifier: GPL-2.0
/* Bench only (not shipped): a CGRP_STORAGE scan without the cgroup iterator. One BPF_PROG_RUN
 * of this syscall program walks the root's descendants with the open-coded css iterator
 * (bpf_iter_css_*, kernel >= 6.7) under RCU and writes the same records as
 * native/cgrp_iter.bpf.c: no seq_file session, no program call per cgroup, no cgroup_mutex.
 * The context (in and out: the kernel copies it back) is { root cgroup id, count, visited }.
 * Bound like cgrp_iter.bpf.o: `target` reuses the map's fd, `value_size` in .rodata, `records`
 * sized before load. bench/c/cgrp_scan.c drives both. */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct kernfs_node {
	__u64 id;
} __attribute__((preserve_access_index));
struct cgroup;
struct cgroup_subsys_state {
	struct cgroup *cgroup;
} __attribute__((preserve_access_index));
struct cgroup {
	struct cgroup_subsys_state self;
	struct kernfs_node *kn;
} __attribute__((preserve_access_index));
struct bpf_iter_css {
	__u64 __opaque[3];
} __attribute__((aligned(8)));

extern int bpf_iter_css_new(struct bpf_iter_css *it, struct cgroup_subsys_state *start, unsigned int flags) __ksym;
extern struct cgroup_subsys_state *bpf_iter_css_next(struct bpf_iter_css *it) __ksym;
extern void bpf_iter_css_destroy(struct bpf_iter_css *it) __ksym;
extern struct cgroup *bpf_cgroup_from_id(__u64 cgid) __ksym;
extern void bpf_cgroup_release(struct cgroup *cgrp) __ksym;
extern void bpf_rcu_read_lock(void) __ksym;
extern void bpf_rcu_read_unlock(void) __ksym;

#include "cgrp_records.h" /* native/: the same maps and records as cgrp_iter.bpf.c */

struct walk_ctx {
	__u64 root_id; /* 0: the root of the cgroup v2 hierarchy (its id is 1) */
	__u64 count;
	__u64 visited;
};

SEC("syscall")
int cgrp_walk(struct walk_ctx *ctx)
{
	struct bpf_iter_css it;
	struct cgroup_subsys_state *pos;
	struct cgroup *root = bpf_cgroup_from_id(ctx->root_id ? ctx->root_id : 1);
	__u64 count = 0, visited = 0;

	if (!root)
		return 2; /* ENOENT */
	bpf_rcu_read_lock();
	bpf_iter_css_new(&it, &root->self, BPF_CGROUP_ITER_DESCENDANTS_PRE);
	while ((pos = bpf_iter_css_next(&it))) {
		struct cgroup *cgrp = pos->cgroup;
		visited++;
		void *v = bpf_cgrp_storage_get(&target, cgrp, 0, 0);
		if (!v)
			continue;
		__u32 slot = count++;
		struct record *r = bpf_map_lookup_elem(&records, &slot);
		if (!r)
			continue; /* past the last slot: counted, the caller grows and reruns */
		r->id = cgrp->kn->id;
		bpf_probe_read_kernel(r->value, value_size, v);
	}
	bpf_iter_css_destroy(&it);
	bpf_rcu_read_unlock();
	bpf_cgroup_release(root);
	ctx->count = count;
	ctx->visited = visited;
	return 0;
}

char LICENSE[] SEC("license") = "GPL";

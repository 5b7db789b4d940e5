// SPDX-License-Identifier: GPL-2.0
/* The scan program cgstore binds to any BPF_MAP_TYPE_CGRP_STORAGE map (kernel >= 6.2):
 * an iter/cgroup walk that copies every visited cgroup's value, with the cgroup id, into
 * `records`, a BPF_F_MMAPABLE array user space reads in place. Nothing goes through the seq
 * file but the final count (8 bytes): bpf_seq_read's buffer is 32 KiB and a cgroup iterator
 * has one session, so records written there would stop at ~2000 cgroups.
 *
 * Generic by construction (cgstore does this before load):
 * - `target` is replaced by the user's map (bpf_map__reuse_fd); its declared value type here
 *   is only a placeholder;
 * - `value_size` (.rodata, frozen at load so the verifier sees a constant) is that map's
 *   value size, and `records` gets value size 8 + round_up(value_size, 8) and as many
 *   entries as cgstore wants slots (bpf_map__set_value_size / set_max_entries).
 * A cgroup past the last slot is still counted: user space sees count > slots, grows the
 * array and runs the walk again.
 *
 * Spin-locked values are copied without the lock (a tracing program cannot hold one while it
 * copies a variable-size value), so such a value may be torn; cgstore zeroes the lock word.
 *
 * CO-RE without vmlinux.h: only the fields read are declared. */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>

struct seq_file;
struct kernfs_node {
	__u64 id;
} __attribute__((preserve_access_index));
struct cgroup {
	struct kernfs_node *kn;
} __attribute__((preserve_access_index));
struct bpf_iter_meta {
	struct seq_file *seq;
	__u64 session_id;
	__u64 seq_num;
} __attribute__((preserve_access_index));
struct bpf_iter__cgroup {
	struct bpf_iter_meta *meta;
	struct cgroup *cgroup;
} __attribute__((preserve_access_index));

#include "cgrp_records.h"

/* Per session: cgroups with a value (written or not: past the last slot) and cgroups visited.
 * Reset by session id, not by seq_num == 0: the end-of-walk call of a one-cgroup walk also has
 * seq_num 0, and a walk of nothing (a removed root) has no first call at all. */
__u64 count = 0, visited = 0, session = 0;

SEC("iter/cgroup")
int cgrp_scan(struct bpf_iter__cgroup *ctx)
{
	struct seq_file *seq = ctx->meta->seq;
	struct cgroup *cgrp = ctx->cgroup;

	if (ctx->meta->session_id != session) {
		session = ctx->meta->session_id;
		count = 0;
		visited = 0;
	}
	if (!cgrp) { /* end of the walk: report how many records there should be */
		__u64 out[2] = { count, visited };
		bpf_seq_write(seq, out, sizeof(out));
		return 0;
	}
	visited++;
	void *v = bpf_cgrp_storage_get(&target, cgrp, 0, 0);
	if (!v)
		return 0;
	__u32 slot = count++;
	struct record *r = bpf_map_lookup_elem(&records, &slot);
	if (!r)
		return 0; /* past the last slot: counted, user space grows and reruns */
	r->id = BPF_CORE_READ(cgrp, kn, id);
	bpf_probe_read_kernel(r->value, value_size, v);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";

// SPDX-License-Identifier: GPL-2.0
/* Counts sockets created in a cgroup: entries appear at attach and move without any traffic,
 * which keeps scans over hundreds of cgroups cheap to set up. Shared u64 value, 16-byte key. */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct {
	__uint(type, BPF_MAP_TYPE_CGROUP_STORAGE);
	__type(key, struct bpf_cgroup_storage_key);
	__type(value, __u64);
} sock_count SEC(".maps");

SEC("cgroup/sock_create")
int count_sock_create(struct bpf_sock *sk)
{
	__u64 *n = bpf_get_local_storage(&sock_count, 0);

	__sync_fetch_and_add(n, 1);
	return 1;
}

char LICENSE[] SEC("license") = "GPL";

/* SPDX-License-Identifier: GPL-2.0 */
/* What a CGRP_STORAGE scan program shares with user space, whoever walks the cgroups
 * (native/cgrp_iter.bpf.c, and bench/c/cgrp_walk.bpf.c): `target`, replaced by the user's map
 * (bpf_map__reuse_fd), `records`, the BPF_F_MMAPABLE array of { u64 cgroup id; value rounded up
 * to 8 } sized before load, and `value_size` (.rodata, frozen at load so the verifier sees a
 * constant). Include once, in the program's one source file. */
#ifndef CGSTORE_CGRP_RECORDS_H
#define CGSTORE_CGRP_RECORDS_H

#define CGRP_STORAGE_MAP 32 /* BPF_MAP_TYPE_CGRP_STORAGE: not in 6.1 uapi headers */

struct record {
	__u64 id;
	__u8 value[8]; /* value_size bytes, rounded up to 8 */
};

struct {
	__uint(type, CGRP_STORAGE_MAP);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, __u64);
} target SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(map_flags, BPF_F_MMAPABLE);
	__uint(max_entries, 1);
	/* Sizes without BTF types: the value size is reset before load, and BTF would no longer match. */
	__uint(key_size, sizeof(__u32));
	__uint(value_size, sizeof(struct record));
} records SEC(".maps");

const volatile __u32 value_size = 8;

#endif

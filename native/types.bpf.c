// SPDX-License-Identifier: GPL-2.0
/* Value types that exercise every layout feature cgstore decodes: ints of every width and
 * signedness, an enum, bitfields, a char array, nested structs, arrays, a union, and (in the
 * shared map) a spin lock. Each socket created in an attached cgroup rewrites the values from a
 * per-entry counter n, so tests know what every field holds: see fill().
 *
 * Kernel quirk (seen on 6.18): a type holding a bpf_spin_lock has its fields parsed when the
 * BTF is loaded, recursing into nested structs, and any member at a bit offset that is not a
 * multiple of 8 (a sub-byte bitfield) makes the whole BTF load fail with EINVAL. So the
 * bitfields live in the per-CPU value only. */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

enum color { RED = 1, GREEN = 2, BLUE = -3 };

struct inner {
	__u32 a;
	__u16 b[3];
	__s8 c;
};

struct rich {
	__u8 u8v;
	__s8 s8v;
	__u16 u16v;
	__s16 s16v;
	__u32 u32v;
	__s32 s32v;
	__u64 u64v;
	__s64 s64v;
	enum color color;
	__u32 flag : 1, level : 3, code : 12;
	__s32 delta : 5;
	char name[8];
	struct inner inner;
	__u64 hist[4];
	union {
		__u32 word;
		__u8 bytes[4];
	} u;
	__u64 n;
};

/* Everything but the bitfields, behind a spin lock (see the quirk above). */
struct locked_rich {
	struct bpf_spin_lock lock;
	__s8 s8v;
	__u16 u16v;
	__s32 s32v;
	__u64 u64v;
	__s64 s64v;
	enum color color;
	char name[8];
	struct inner inner;
	__u64 hist[2];
	__u64 n;
};

struct {
	__uint(type, BPF_MAP_TYPE_CGROUP_STORAGE);
	__type(key, struct bpf_cgroup_storage_key);
	__type(value, struct locked_rich);
} rich_shared SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_CGROUP_STORAGE);
	__type(key, __u64);
	__type(value, struct rich);
} rich_pcpu SEC(".maps");

static __always_inline void fill(struct rich *r)
{
	__u64 n = ++r->n;

	r->u8v = 200 + n;
	r->s8v = -(__s8)n;
	r->u16v = 60000 + n;
	r->s16v = -1000 * (__s16)n;
	r->u32v = 4000000000u + n;
	r->s32v = -2000000000 + (__s32)n;
	r->u64v = (n << 40) | 0xabcd;
	r->s64v = -(__s64)(n << 40);
	r->color = n % 2 ? BLUE : GREEN;
	r->flag = n & 1;
	r->level = n & 7;
	r->code = 4000 + n;
	r->delta = -(__s32)(n & 15);
	__builtin_memcpy(r->name, "cgstore", 8);
	r->inner.a = 7 * n;
	r->inner.b[0] = n;
	r->inner.b[1] = 2 * n;
	r->inner.b[2] = 3 * n;
	r->inner.c = -5;
	r->hist[0] = n;
	r->hist[1] = n * n;
	r->hist[2] = 0;
	r->hist[3] = 1ull << 50;
	r->u.word = 0x04030201;
}

SEC("cgroup/sock_create")
int fill_rich(struct bpf_sock *sk)
{
	struct locked_rich *s = bpf_get_local_storage(&rich_shared, 0);
	struct rich *p = bpf_get_local_storage(&rich_pcpu, 0);

	fill(p);
	bpf_spin_lock(&s->lock);
	__u64 n = ++s->n;
	s->s8v = -(__s8)n;
	s->u16v = 60000 + n;
	s->s32v = -2000000000 + (__s32)n;
	s->u64v = (n << 40) | 0xabcd;
	s->s64v = -(__s64)(n << 40);
	s->color = n % 2 ? BLUE : GREEN;
	__builtin_memcpy(s->name, "locked", 7);
	s->inner.a = 7 * n;
	s->inner.b[0] = n;
	s->inner.b[1] = 2 * n;
	s->inner.b[2] = 3 * n;
	s->inner.c = -5;
	s->hist[0] = n;
	s->hist[1] = n * n;
	bpf_spin_unlock(&s->lock);
	return 1;
}

char LICENSE[] SEC("license") = "GPL";

/* C reference for the CGRP_STORAGE scan: the same iterator scan cgstore's forEach makes
 * (src/maps/cgrp-iter.ts, cgrp-scan.ts). native/build/cgrp_iter.bpf.o is opened, its `target`
 * bound to the pinned map (bpf_map__reuse_fd), `records` sized like cgstore sizes it (1024
 * slots, grown to 1.5 × the count and loaded again when a run finds more), the value size set
 * in .rodata, loaded once, the link attached once (order DESCENDANTS_PRE from cgroup `root id`,
 * 0: the whole hierarchy). Per scan: bpf_iter_create on the link, read() to the end into 16
 * bytes (count, visited), close, then a walk of the mmapped records summing the value's first
 * two u64 fields ({packets, bytes}), as the TypeScript callback does.
 * Usage: cgrp_scan <pinned map> <iterations> <root cgroup id> <cgrp_iter.bpf.o>
 * Prints {"ns_per_entry", "entries", "packets", "bytes"} (the counts of the last scan).
 * Given bench/c/build/cgrp_walk.bpf.o instead (a syscall program, no iterator: see there), a
 * scan is one BPF_PROG_RUN of it, everything else the same. */
#include <errno.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include "common.h"

#define DEFAULT_SLOTS 1024 /* cgstore's first records array (cgrp-scan.ts DEFAULT_SLOTS) */

struct scanner {
	struct bpf_object *obj;
	struct bpf_link *link; /* NULL: the syscall program, run by BPF_PROG_RUN */
	int link_fd;
	int prog_fd;
	uint64_t root;
	uint8_t *records;
	size_t stride;
	long slots;
};

static int fail(const char *what, long rc)
{
	fprintf(stderr, "cgrp_scan: %s: %s\n", what, strerror(rc < 0 ? -rc : errno));
	return -1;
}

/* Opens, binds, sizes and loads the iterator with `slots` record slots, attaches it and maps
 * the records (what CgrpIterator.load and its first run's attach do). */
static int load(struct scanner *s, const char *elf, int map_fd, uint32_t value_size, long slots, uint64_t root)
{
	struct bpf_object *obj = bpf_object__open_file(elf, NULL);
	if (!obj)
		return fail("bpf_object__open_file", -errno);
	struct bpf_map *target = bpf_object__find_map_by_name(obj, "target");
	struct bpf_map *records = bpf_object__find_map_by_name(obj, "records");
	struct bpf_map *rodata = NULL, *m;
	bpf_object__for_each_map(m, obj) {
		const char *name = bpf_map__name(m);
		size_t len = strlen(name);
		if (len >= 7 && strcmp(name + len - 7, ".rodata") == 0)
			rodata = m;
	}
	struct bpf_program *prog = bpf_object__find_program_by_name(obj, "cgrp_scan");
	int walk = !prog;
	if (walk)
		prog = bpf_object__find_program_by_name(obj, "cgrp_walk");
	if (!target || !records || !rodata || !prog)
		return fail("cgrp_iter.bpf.o lacks a map or the program", -ENOENT);
	size_t stride = 8 + ((value_size + 7) & ~7u);
	long rc;
	if ((rc = bpf_map__reuse_fd(target, map_fd)) || (rc = bpf_map__set_value_size(records, stride)) ||
	    (rc = bpf_map__set_max_entries(records, slots)) ||
	    (rc = bpf_map__set_initial_value(rodata, &value_size, sizeof(value_size))) ||
	    (rc = bpf_object__load(obj)))
		return fail("bind and load", rc);
	size_t length = (slots * stride + 4095) & ~4095ul;
	void *mem = mmap(NULL, length, PROT_READ | PROT_WRITE, MAP_SHARED, bpf_map__fd(records), 0);
	if (mem == MAP_FAILED)
		return fail("mmap of the records", -errno);
	struct bpf_link *link = NULL;
	if (!walk) {
		union bpf_iter_link_info info = { .cgroup = { .order = BPF_CGROUP_ITER_DESCENDANTS_PRE, .cgroup_id = root } };
		LIBBPF_OPTS(bpf_iter_attach_opts, opts, .link_info = &info, .link_info_len = sizeof(info));
		link = bpf_program__attach_iter(prog, &opts);
		if (!link)
			return fail("bpf_program__attach_iter", -errno);
	}
	if (s->obj) { /* grown: the old program goes, as in cgstore */
		bpf_link__destroy(s->link);
		bpf_object__close(s->obj);
	}
	*s = (struct scanner){ obj, link, link ? bpf_link__fd(link) : -1, bpf_program__fd(prog), root, mem, stride, slots };
	return 0;
}

/* One session (CgrpIterator.run): the (count, visited) pair the program writes at the end. */
static int run(const struct scanner *s, uint64_t out[2])
{
	if (!s->link) { /* cgrp_walk.bpf.o: one BPF_PROG_RUN, the counts come back in the context */
		uint64_t ctx[3] = { s->root, 0, 0 };
		LIBBPF_OPTS(bpf_test_run_opts, opts, .ctx_in = ctx, .ctx_size_in = sizeof(ctx));
		int rc = bpf_prog_test_run_opts(s->prog_fd, &opts);
		if (rc || opts.retval)
			return fail("BPF_PROG_RUN of cgrp_walk", rc ? rc : -(long)opts.retval);
		out[0] = ctx[1];
		out[1] = ctx[2];
		return 0;
	}
	int fd = bpf_iter_create(s->link_fd);
	if (fd < 0)
		return fail("bpf_iter_create", fd);
	long got = 0, n;
	while ((n = read(fd, out, 16)) > 0) /* as cgstore: 16 bytes, then 0 at the end */
		got += n;
	close(fd);
	if (n < 0 || got != 16)
		return fail("read of the iterator", n < 0 ? -errno : -EIO);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc != 5) {
		fprintf(stderr, "usage: %s <pinned map> <iterations> <root cgroup id> <cgrp_iter.bpf.o>\n", argv[0]);
		return 1;
	}
	struct pinned_map m;
	if (open_pinned(argv[1], &m))
		return 1;
	long iters = atol(argv[2]);
	uint64_t root = strtoull(argv[3], NULL, 10);
	struct scanner s = { 0 };
	uint64_t out[2];
	/* cgstore's growth (Scanner.runIterator): more cgroups than slots, 1.5 × the count, rerun. */
	if (load(&s, argv[4], m.fd, m.info.value_size, DEFAULT_SLOTS, root) || run(&s, out))
		return 1;
	if ((long)out[0] > s.slots && (load(&s, argv[4], m.fd, m.info.value_size, (long)((out[0] * 3 + 1) / 2), root) || run(&s, out)))
		return 1;
	uint64_t packets = 0, bytes = 0;
	long entries = 0;
#define SCAN() do { \
		if (run(&s, out)) \
			return 1; \
		entries = (long)out[0]; \
		packets = bytes = 0; \
		for (long i = 0; i < entries; i++) { \
			const uint64_t *f = (const uint64_t *)(s.records + i * s.stride + 8); \
			packets += f[0]; \
			bytes += f[1]; \
		} \
	} while (0)
	double ns = TIMED(iters, SCAN());
	print_scan(ns, iters, entries, packets, bytes);
	bpf_link__destroy(s.link);
	bpf_object__close(s.obj);
	return 0;
}

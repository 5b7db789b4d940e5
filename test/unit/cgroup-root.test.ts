import { expect, test } from "../helpers/harness.ts";
import { cgroup2MountFrom, cgroup2MountIn } from "../../src/cgroup/mount.ts";
import { BpfError } from "../../src/errors.ts";

test("cgroup2 mount point comes from mountinfo, not an assumed path", () => {
  const info = [
    "25 30 0:22 / /sys/fs/cgroup rw,nosuid - tmpfs tmpfs ro,mode=755",
    "26 25 0:23 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory",
    "35 25 0:30 / /sys/fs/cgroup/unified rw,nosuid - cgroup2 cgroup2 rw",
  ].join("\n");
  expect(cgroup2MountFrom(info)).toBe("/sys/fs/cgroup/unified");
  expect(cgroup2MountFrom("35 25 0:30 / /mnt/my\\040cg rw shared:1 - cgroup2 none rw")).toBe("/mnt/my cg");
  expect(cgroup2MountFrom(info.split("\n").slice(0, 2).join("\n"))).toBeNull();
});

test("no cgroup2 mount is an environment error, with no errno and the fix", () => {
  let caught: unknown;
  try {
    cgroup2MountIn("25 30 0:22 / /sys/fs/cgroup rw,nosuid - tmpfs tmpfs ro,mode=755");
  } catch (e) {
    caught = e;
  }
  expect(caught).toBeInstanceOf(BpfError);
  const e = caught as BpfError;
  expect([e.kind, e.errno, e.op]).toEqual(["environment", undefined, "cgroup"]);
  expect(e.message).toContain("no cgroup v2 filesystem is mounted");
  expect(e.hint).toContain("mount -t cgroup2");
});

test("cgroup names that are not UTF-8 are shown with \\xNN escapes, valid ones as they are", async () => {
  const { displayName } = await import("../../src/cgroup/resolve.ts");
  expect(displayName(new TextEncoder().encode('web "α" \\ x'))).toBe('web "α" \\ x');
  expect(displayName(new Uint8Array([0x61, 0xff, 0x62, 0xc3]))).toBe("a\\xffb\\xc3");
});

/** test/helpers/kernel.ts: the version checks that per-kernel test expectations rely on. */
import { expect, test } from "../helpers/harness.ts";
import { compareKernel, parseKernelRelease, upstreamVersion } from "../helpers/kernel.ts";

test("uname -r strings parse to numbers, distribution suffixes ignored", () => {
  expect(parseKernelRelease("6.12.117+deb12-cloud-amd64")).toMatchObject({ major: 6, minor: 12, patch: 117 });
  expect(parseKernelRelease("6.18.44-fc-v595")).toMatchObject({ major: 6, minor: 18, patch: 44 });
  expect(parseKernelRelease("7.0")).toMatchObject({ major: 7, minor: 0, patch: 0 });
  expect(() => parseKernelRelease("linux")).toThrow();
});

test("the upstream version of Debian's and Ubuntu's kernels, whose uname -r hides it", () => {
  const debian = "Linux version 6.1.0-56-cloud-amd64 (debian-kernel@lists.debian.org) (gcc-12 (Debian 12.2.0-14+deb12u1) 12.2.0, " +
    "GNU ld (GNU Binutils for Debian) 2.40) #1 SMP PREEMPT_DYNAMIC Debian 6.1.192-2 (2026-11-16)";
  expect(upstreamVersion(debian)).toBe("6.1.192"); // not the compiler's "Debian 12.2.0"
  expect(upstreamVersion("Linux version 6.8.0-41-generic", "Ubuntu 6.8.0-41.41-generic 6.8.12\n")).toBe("6.8.12");
  expect(upstreamVersion("Linux version 6.18.44-fc-v595 (builder@sandboxing)")).toBeNull();
  // A kernel of one's own built with Debian's gcc: the compiler's version is not the kernel's.
  expect(upstreamVersion("Linux version 6.1.50 (me@box) (gcc (Debian 12.2.0-14) 12.2.0, GNU ld 2.40) #1 SMP Tue Jan 2")).toBeNull();
});

test("versions order numerically", () => {
  const v = (s: string) => parseKernelRelease(s);
  expect(compareKernel(v("6.12.9"), v("6.12.117"))).toBeLessThan(0);
  expect(compareKernel(v("6.18.0"), v("6.12.200"))).toBeGreaterThan(0);
  expect(compareKernel(v("6.1.175"), v("6.1.175-2"))).toBe(0);
});

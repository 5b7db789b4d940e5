#!/usr/bin/env bash
# Brings a Debian/Ubuntu machine (as root) to where `bun test` and the demo can run:
# Debian packages, npm dependencies (bun included), bpffs. Idempotent: each step checks first,
# so a second run does no installs and takes well under a second.
set -euo pipefail
cd "$(dirname "$0")/.."

say() { printf 'setup: %s\n' "$*" >&2; }

# 1. System packages: libbpf (runtime + headers), clang for -target bpf, a C compiler, make;
#    qemu and busybox for the kernel matrix.
need=()
has_lib() { compgen -G "/usr/lib/*/$1" >/dev/null || compgen -G "/lib/*/$1" >/dev/null || [ -e "/usr/lib/$1" ]; }
has_lib libbpf.so.1 || need+=(libbpf1)
[ -f /usr/include/bpf/bpf_helpers.h ] || need+=(libbpf-dev)
command -v clang >/dev/null || need+=(clang llvm)
command -v make >/dev/null || need+=(make)
# bpftool: tests compare cgstore's decoding with bpftool's dump of the same maps.
command -v bpftool >/dev/null || [ -x /usr/sbin/bpftool ] || need+=(bpftool)
# promtool (Debian's prometheus package): tests check /metrics with Prometheus's own linter.
command -v promtool >/dev/null || need+=(prometheus)
# The same package's server: test/integration/prometheus.test.ts starts one on loopback (never
# as a service), scraping serve over TLS with a certificate openssl makes.
command -v prometheus >/dev/null || [[ " ${need[*]} " == *" prometheus "* ]] || need+=(prometheus)
command -v openssl >/dev/null || need+=(openssl)
# wat2wasm: a test checks that the checked-in WebAssembly bytes are src/maps/sum.wat's.
command -v wat2wasm >/dev/null || need+=(wabt)
command -v cc >/dev/null || need+=(gcc libc6-dev)
[ -f /usr/include/linux/bpf.h ] || need+=(linux-libc-dev)
# The kernel matrix (test/kernels/) boots Debian kernels in qemu with a busybox initramfs. Only
# it needs these, so without root they are reported and the matrix skips itself.
matrix=()
command -v qemu-system-x86_64 >/dev/null || matrix+=(qemu-system-x86)
[ -x /bin/busybox ] || command -v busybox >/dev/null || matrix+=(busybox-static)
if [ ${#matrix[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then need+=("${matrix[@]}")
  else say "kernel matrix will be skipped: missing ${matrix[*]} (sudo apt-get install -y ${matrix[*]})"; fi
fi
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" != 0 ]; then
    say "missing Debian packages: ${need[*]}; run as root or: sudo apt-get install -y ${need[*]}"
    exit 1
  fi
  say "installing ${need[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  # Only promtool is wanted from Debian's prometheus package: keep its postinst from starting
  # (and enabling) a Prometheus server on :9090. policy-rc.d exit 101 = "action forbidden",
  # honoured by invoke-rc.d and deb-systemd-invoke.
  blocker=""
  if [[ " ${need[*]} " == *" prometheus "* ]] && [ ! -e /usr/sbin/policy-rc.d ]; then
    blocker=/usr/sbin/policy-rc.d
    printf '#!/bin/sh\nexit 101\n' >"$blocker"
    chmod 755 "$blocker"
    trap 'rm -f "$blocker"' EXIT
  fi
  apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
  if [ -n "$blocker" ]; then
    rm -f "$blocker"
    trap - EXIT
    if command -v systemctl >/dev/null; then systemctl disable --quiet prometheus.service 2>/dev/null || true; fi
  fi
fi

# 2. npm dependencies (bun, typescript, @types/bun) when node_modules does not match the lock.
stamp=node_modules/.cgstore-installed
want=$(sha256sum package.json package-lock.json 2>/dev/null | sha256sum | cut -c1-16)
if [ ! -x node_modules/.bin/bun ] || [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  say "installing npm dependencies"
  if [ -f package-lock.json ]; then npm ci --no-audit --no-fund --loglevel=error >&2
  else npm install --no-audit --no-fund --loglevel=error >&2; fi
  echo "$want" >"$stamp"
fi

# 3. bpffs, for pinned maps (tests pin under /sys/fs/bpf/cgstore-test-*).
if ! awk '$5 == "/sys/fs/bpf" && $0 ~ / - bpf / { found = 1 } END { exit !found }' /proc/self/mountinfo; then
  if [ "$(id -u)" = 0 ] && [ -d /sys/fs/bpf ]; then
    say "mounting bpffs at /sys/fs/bpf"
    mount -t bpf bpf /sys/fs/bpf || say "could not mount bpffs; pinning tests will fail"
  fi
fi
exit 0

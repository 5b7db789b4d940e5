#!/bb/busybox sh
# PID 1 of a kernel-matrix guest (built into the initramfs by initramfs.ts). Mounts what the
# tests need, runs them, prints one marker line the runner parses, and powers off. Anything
# going wrong before the marker shows on the serial console, and the runner's timeout ends it.
#
# Kernel command line (set by qemu.ts): cgstore.tests=<comma-separated paths>, cgstore.ci=1,
# cgstore.probe=1 (print a line and power off at once).

/bb/busybox --install -s /bb
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin:/bb
export HOME=/root TMPDIR=/tmp TERM=dumb NO_COLOR=1
. /etc/cgstore-guest.env

mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mkdir -p /dev/shm /dev/pts
mount -t tmpfs tmpfs /dev/shm
mount -t tmpfs tmpfs /tmp
mount -t tmpfs tmpfs /run
# Same places as on the host: tests pin under /sys/fs/bpf and find cgroup2 from mountinfo.
mount -t bpf bpf /sys/fs/bpf
mount -t cgroup2 cgroup2 /sys/fs/cgroup
ip link set lo up

tests="test/integration"
ci=""
for arg in $(cat /proc/cmdline); do
  case "$arg" in
    cgstore.tests=*) tests=$(echo "${arg#cgstore.tests=}" | tr ',' ' ') ;;
    cgstore.ci=1) ci=true ;;
    cgstore.probe=1) echo "CGSTORE-PROBE-OK"; poweroff -f ;; # qemu.ts: does this accelerator boot?
  esac
done
[ -n "$ci" ] && export CI=true
# Tests that need a host-only tool (the prometheus server, openssl) skip in a guest, saying so.
export CGSTORE_GUEST=1

cd "$CGSTORE_PROJECT"
echo "CGSTORE-GUEST kernel=$(uname -r) cpus=$(cat /sys/devices/system/cpu/possible) tests=$tests"
# shellcheck disable=SC2086 # $tests is a word list on purpose
bun test --timeout 60000 --reporter=junit --reporter-outfile=/tmp/junit.xml $tests
status=$?

# Totals from the junit report's first element: <testsuites ... tests= failures= skipped=>.
counts=$(sed -n '/<testsuites /{s/.* tests="\([0-9]*\)".* failures="\([0-9]*\)" skipped="\([0-9]*\)".*/tests=\1 failures=\2 skipped=\3/p;q}' /tmp/junit.xml 2>/dev/null)
# The leading newline keeps the marker on its own line even after partial console output.
printf '\nCGSTORE-MATRIX-DONE status=%s %s\n' "$status" "$counts"
sync
poweroff -f

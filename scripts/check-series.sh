#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
#
# Check that the QEMU series is bisectable: every prefix builds and passes
# the tests that cover what it changes.
#
#   scripts/check-series.sh [DEVTREE] [FIRST]
#
# DEVTREE  a git repository with the series on HEAD and the tag debian-base
#          on its base (default: $SMMHP_CACHE/src/qemu-dev, made by
#          scripts/patches.sh qemu edit)
# FIRST    the commit to start with: its number k in debian-base..HEAD, as
#          in the progress lines (1 = the first commit of the series), or a
#          commit id; default 1.  Use it to go on after a fix.
#
# Each commit of debian-base..HEAD is checked out in turn into
# $SMMHP_CACHE/src/qemu-series.check (a clone that borrows DEVTREE's
# objects; DEVTREE itself is only read), built incrementally with ccache in
# $SMMHP_CACHE/build/qemu-series with the configure options of
# build-qemu.sh's default variant: qemu-system-x86_64 plus those of
# bios-tables-test q35-test cpu-plug-test lpc-ich9-test fw_cfg-test
# device-plug-test q35-smi-test that exist at that commit.  Then it runs,
# under TCG (tests/tcg-only), q35-smi-test when it exists, and the other
# qtests when the commit touches what they test (bios-tables-test: hw/acpi,
# hw/i386/acpi*, hw/isa/lpc_ich9.c, tests/data/acpi or the test itself;
# only its q35 cases).  Set QTEST_QEMU_BINARY_NOPARK to a QEMU without the
# series to run q35-smi-test's migration-to-old case too.
#
# One progress line per commit; it stops at the first failure (exit 1)
# and names the log.  Logs: $SMMHP_CACHE/build/qemu-series/check-logs/.
# Nothing outside the work tree and the build directory is written
# (except the shared compiler cache, $SMMHP_CACHE/ccache).
# SMMHP_JOBS sets ninja's job count (default: the number of CPUs);
# SMMHP_CHECK_LAST=k stops after commit k (default: the last one).
set -eu

top=$(cd "$(dirname "$0")/.." && pwd)
. "$top/scripts/common.sh"
export CCACHE_DIR="$CACHE/ccache"
export CCACHE_BASEDIR="$CACHE"

dev=${1:-$CACHE/src/qemu-dev}
first=${2:-1}
wt=$CACHE/src/qemu-series.check
build=$CACHE/build/qemu-series
logs=$build/check-logs
jobs=${SMMHP_JOBS:-$(nproc)}
QTESTS="bios-tables-test q35-test cpu-plug-test lpc-ich9-test fw_cfg-test
device-plug-test q35-smi-test"

say() { echo "check-series: $*"; }
die() { say "$*" >&2; exit 1; }

dev=$(cd "$dev" 2>/dev/null && pwd) || die "no such directory: ${1:-$CACHE/src/qemu-dev}"
git -C "$dev" rev-parse -q --verify debian-base >/dev/null ||
    die "$dev: no tag debian-base (the base of the series)"
commits=$(git -C "$dev" rev-list --reverse debian-base..HEAD)
n=$(echo "$commits" | grep -c . || true)
[ "$n" -gt 0 ] || die "$dev: no commits in debian-base..HEAD"

# FIRST: a number, or a commit of the series
case $first in
    *[!0-9]*|'')
        sha=$(git -C "$dev" rev-parse -q --verify "$first^{commit}") ||
            die "FIRST: no commit $first in $dev"
        k=$(echo "$commits" | grep -n "^$sha\$" | cut -d: -f1)
        [ -n "$k" ] || die "FIRST: $first is not in debian-base..HEAD"
        first=$k ;;
esac
if [ "$first" -lt 1 ] || [ "$first" -gt "$n" ]; then
    die "FIRST: $first is not in 1..$n"
fi
last=${SMMHP_CHECK_LAST:-$n}
case $last in
    *[!0-9]*|'') die "SMMHP_CHECK_LAST: not a commit number: $last" ;;
esac
if [ "$last" -lt "$first" ] || [ "$last" -gt "$n" ]; then
    die "SMMHP_CHECK_LAST: $last is not in $first..$n"
fi

mkdir -p "$build"
lock=$build/.check-series.lock
mkdir "$lock" 2>/dev/null || die "another check-series runs ($lock exists; remove it if not)"
trap 'rmdir "$lock" 2>/dev/null || true' EXIT
trap 'exit 130' INT TERM

# The work tree: a clone that shares DEVTREE's objects (nothing is written
# into DEVTREE); checkout keeps the mtime of unchanged files, so ninja
# rebuilds only what a commit changes.
if [ "$(cat "$wt/.git/smmhp-devtree" 2>/dev/null)" != "$dev" ]; then
    rm -rf "$wt"
    git clone -q --shared --no-checkout "$dev" "$wt"
    echo "$dev" > "$wt/.git/smmhp-devtree"
fi
# The subprojects that Debian's source ships unpacked are not in git (they
# are ignored there), and configure needs them (--disable-download): take
# them from DEVTREE's work tree, or else from Debian's tree.
copied=
for src in "$dev" "$QEMU_PRISTINE"; do
    for p in "$src"/subprojects/*/; do
        [ -d "$p" ] || continue
        d=$(basename "$p")
        case " $copied " in *" $d "*) continue ;; esac
        [ -z "$(git -C "$dev" ls-tree HEAD "subprojects/$d")" ] || continue
        mkdir -p "$wt/subprojects/$d"
        rsync -a --delete "$p" "$wt/subprojects/$d/"
        copied="$copied $d"
    done
done

# the configure options of build-qemu.sh's default variant
CONFIGURE_OPTS=$QEMU_CONFIGURE_OPTS
stamp="$wt $CONFIGURE_OPTS $(qemu_toolchain)"

# Does the commit touch what qtest $1 tests?  $changed: its files.
touches() {
    for f in $changed; do
        case $1:$f in
            bios-tables-test:hw/acpi/*|bios-tables-test:hw/i386/acpi*|\
            bios-tables-test:hw/isa/lpc_ich9.c|bios-tables-test:tests/data/acpi/*|\
            bios-tables-test:tests/qtest/bios-tables-test*)
                return 0 ;;
            q35-test:hw/pci-host/q35.c|q35-test:include/hw/pci-host/q35.h|\
            q35-test:hw/i386/pc_q35.c|q35-test:hw/isa/lpc_ich9.c|\
            q35-test:include/hw/southbridge/ich9.h|q35-test:tests/qtest/q35-test.c)
                return 0 ;;
            cpu-plug-test:hw/i386/*|cpu-plug-test:hw/acpi/cpu*|\
            cpu-plug-test:hw/acpi/ich9.c|cpu-plug-test:hw/core/cpu*|\
            cpu-plug-test:include/hw/core/cpu*|cpu-plug-test:target/i386/*|\
            cpu-plug-test:accel/*|cpu-plug-test:tcg/*|cpu-plug-test:include/tcg/*|\
            cpu-plug-test:system/cpus.c|cpu-plug-test:system/runstate.c|\
            cpu-plug-test:tests/qtest/cpu-plug-test.c)
                return 0 ;;
            lpc-ich9-test:hw/isa/lpc_ich9.c|lpc-ich9-test:hw/isa/apm.c|\
            lpc-ich9-test:include/hw/isa/apm.h|lpc-ich9-test:hw/acpi/ich9*|\
            lpc-ich9-test:include/hw/southbridge/ich9.h|\
            lpc-ich9-test:tests/qtest/lpc-ich9-test.c)
                return 0 ;;
            fw_cfg-test:hw/nvram/fw_cfg*|fw_cfg-test:hw/i386/fw_cfg*|\
            fw_cfg-test:hw/isa/lpc_ich9.c|fw_cfg-test:tests/qtest/fw_cfg-test.c)
                return 0 ;;
            device-plug-test:hw/acpi/*|device-plug-test:hw/i386/*|\
            device-plug-test:hw/core/qdev*|device-plug-test:hw/isa/lpc_ich9.c|\
            device-plug-test:tests/qtest/device-plug-test.c)
                return 0 ;;
        esac
    done
    return 1
}

# Run qtest $1 (extra g_test arguments after it) from the build directory,
# TAP to $log; false if a case failed or the binary did not finish.
run_qtest() {
    t=$1
    shift
    case $t in
        bios-tables-test) limit=1500 ;;
        q35-smi-test) limit=900 ;;
        *) limit=600 ;;
    esac
    echo "=== $t $*" >> "$log"
    rc=0
    (cd "$build" &&
     env QTEST_QEMU_BINARY="$top/tests/tcg-only/qemu-system-x86_64" \
         SMMHP_REAL_QEMU="$build/qemu-system-x86_64" \
         QTEST_QEMU_STORAGE_DAEMON_BINARY=/nonexistent \
         G_TEST_DBUS_DAEMON=/bin/true \
         timeout "$limit" nice -n 10 "tests/qtest/$t" --tap -k "$@") \
        >> "$log" 2>&1 </dev/null || rc=$?
    if [ $rc -ne 0 ] || grep -q '^not ok' "$log"; then
        [ $rc -ne 124 ] || echo "=== $t: timed out after $limit s" >> "$log"
        failed_test=$t
        return 1
    fi
}

mkdir -p "$logs"
say "$n commits in $dev (debian-base..$(git -C "$dev" rev-parse --short HEAD)), checking [$first/$n] to [$last/$n]; logs in $logs"
total_start=$(date +%s)
build_total=0
test_total=0
k=0
for sha in $commits; do
    k=$((k + 1))
    [ $k -ge "$first" ] || continue
    [ $k -le "$last" ] || break
    subject=$(git -C "$dev" log -1 --format=%s "$sha")
    log=$logs/$(printf %02d $k)-$(git -C "$dev" log -1 --format=%f "$sha" | cut -c1-50).log
    : > "$log"
    git -C "$wt" checkout -q -f --detach "$sha"
    git -C "$wt" clean -q -f -d
    changed=$(git -C "$wt" diff --name-only "$sha^" "$sha")

    b0=$(date +%s)
    if [ ! -f "$build/build.ninja" ] || [ "$(cat "$build/.smmhp-configure" 2>/dev/null)" != "$stamp" ]; then
        # keep check-logs, start the build directory afresh
        find "$build" -mindepth 1 -maxdepth 1 ! -name check-logs ! -name .check-series.lock \
            -exec rm -rf {} +
        echo "=== configure $CONFIGURE_OPTS" >> "$log"
        # shellcheck disable=SC2086
        if ! (cd "$build" && eval "nice -n 10 \"\$wt/configure\" $CONFIGURE_OPTS") >> "$log" 2>&1; then
            say "[$k/$n] $subject: configure failed"
            say "log: $log"
            say "fix it, then go on with: $0 $dev $k"
            exit 1
        fi
        echo "$stamp" > "$build/.smmhp-configure"
    fi
    targets=qemu-system-x86_64
    built=
    for t in $QTESTS; do
        if [ -f "$wt/tests/qtest/$t.c" ] && grep -q "'$t'" "$wt/tests/qtest/meson.build"; then
            targets="$targets tests/qtest/$t"
            built="$built $t"
        fi
    done
    echo "=== ninja -j$jobs $targets" >> "$log"
    # shellcheck disable=SC2086
    if ! nice -n 10 ninja -C "$build" -j "$jobs" $targets >> "$log" 2>&1 </dev/null; then
        b=$(( $(date +%s) - b0 ))
        say "[$k/$n] $subject: build FAILED after $b s"
        grep -m5 -A3 'error:\|FAILED' "$log" | sed 's/^/  | /' >&2 || true
        say "log: $log"
        say "fix the commit ($(git -C "$dev" rev-parse --short "$sha"); e.g. git rebase -i debian-base and 'edit' it), then go on with: $0 $dev $k"
        exit 1
    fi
    # option ROMs and the firmware links of a build-tree binary, as
    # build-qemu.sh does (steps 5 and 6)
    if [ -f "$build/pc-bios/optionrom/config.mak" ]; then
        env -u ELF_PACKAGE_METADATA nice -n 10 make -s -C "$build/pc-bios/optionrom" >> "$log" 2>&1 || true
    fi
    qemu_link_firmware "$build"
    b=$(( $(date +%s) - b0 ))
    build_total=$((build_total + b))

    t0=$(date +%s)
    ran=
    failed_test=
    ok=1
    for t in $built; do
        case $t in
            q35-smi-test)
                run_qtest "$t" || ok= ;;
            bios-tables-test)
                if touches "$t"; then
                    # its q35 cases; 260 vCPUs need x2APIC, which TCG lacks
                    run_qtest "$t" -p /x86_64/acpi/q35 \
                        -s /x86_64/acpi/q35/core-count2 \
                        -s /x86_64/acpi/q35/thread-count2 || ok=
                else
                    continue
                fi ;;
            *)
                if touches "$t"; then
                    run_qtest "$t" || ok=
                else
                    continue
                fi ;;
        esac
        ran="$ran $t"
        [ -n "$ok" ] || break
    done
    tt=$(( $(date +%s) - t0 ))
    test_total=$((test_total + tt))
    echo "$k	$b	$tt	${ran# }	$subject" >> "$logs/times.tsv"
    if [ -z "$ok" ]; then
        say "[$k/$n] $subject: build $b s, tests $tt s, FAILED ($failed_test)"
        grep '^not ok\|timed out' "$log" | sed 's/^/  | /' >&2 || true
        say "log: $log"
        say "fix the commit ($(git -C "$dev" rev-parse --short "$sha"); e.g. git rebase -i debian-base and 'edit' it), then go on with: $0 $dev $k"
        exit 1
    fi
    say "[$k/$n] $subject: build $b s, tests $tt s, ok${ran:+ (${ran# })}"
done
say "all $((last - first + 1)) commits [$first/$n] to [$last/$n] build and pass their tests;" \
    "$(( $(date +%s) - total_start )) s in total (build $build_total s, tests $test_total s)"

#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
#
# Build qemu-system-x86_64 (and the qtests we run) from Debian's qemu source
# package + our series.  Everything lives under $SMMHP_CACHE (default
# ~/.cache/smm-hotplug):
#   src/qemu-VERSION.pristine   Debian's tree, debian/patches applied
#   src/qemu                    the tree we build: pristine + qemu/patches
#   build/qemu                  meson build directory
#   ccache/                     compiler cache
# Only files whose contents changed are rewritten into src/qemu, so ninja
# rebuilds incrementally after a change to the series.
#
# SMMHP_BASELINE=1 builds Debian's tree without our series instead
# (baseline/src/qemu, baseline/build/qemu; build/qemu-baseline is a
# symbolic link to the latter): the baseline for benchmarks and for
# showing that a regression test fails without the fix.  Its tree and
# build directory sit at the same relative places as ours, so that the
# compiler sees the same command lines and ccache (with the directory
# left out of its hash) serves every file whose preprocessed input our
# series does not change from the objects of our build: about half of
# them, since our series changes headers that many files include.
# (Debug info of such objects names our build directory; nothing here
# reads it.)
#
# SMMHP_FUZZ=1 builds the same tree as the default (src/qemu) with clang,
# libFuzzer, ASan and UBSan into build/qemu-fuzz: qemu-fuzz-x86_64, for
# tests/fuzz/run.py.  It needs clang and libclang-rt-*-dev (setup installs
# them).
set -eu

top=$(cd "$(dirname "$0")/.." && pwd)
. "$top/scripts/common.sh"
export CCACHE_DIR=${CCACHE_DIR:-$CACHE/ccache}
# Paths below $CACHE are hashed relative, and the working directory not
# at all, so both trees share cache hits (see SMMHP_BASELINE above).
export CCACHE_BASEDIR=${CCACHE_BASEDIR:-$CACHE}
export CCACHE_NOHASHDIR=1
ver=$QEMU_VER
pristine=$QEMU_PRISTINE
root=$CACHE
[ -z "${SMMHP_BASELINE:-}" ] || root=$CACHE/baseline
stage=$root/src/qemu.stage
src=$root/src/qemu
build=$root/build/qemu
[ -z "${SMMHP_FUZZ:-}" ] || build=$CACHE/build/qemu-fuzz
mkdir -p "$root/src" "$root/build" "$CACHE/build"
if [ -n "${SMMHP_BASELINE:-}" ]; then
    # the path that tests and benchmarks use; an older cache has a
    # directory there, and src/qemu-baseline* beside it
    if [ ! -L "$CACHE/build/qemu-baseline" ]; then
        rm -rf "$CACHE/build/qemu-baseline" "$CACHE/src/qemu-baseline" \
            "$CACHE/src/qemu-baseline.stage"
        ln -s ../baseline/build/qemu "$CACHE/build/qemu-baseline"
    fi
fi

log() { echo "build-qemu: $*"; }

[ -n "${SMMHP_SKIP_SETUP:-}" ] || sh "$top/scripts/setup-host.sh"

need_qemu_pristine

# 1. stage = pristine + our series
rsync -a --delete "$pristine/" "$stage/"
if [ -n "${SMMHP_BASELINE:-}" ]; then
    log "preparing baseline source tree (Debian $ver, without our series)"
else
    log "preparing source tree (Debian $ver + qemu/patches)"
    sh "$top/scripts/apply-series.sh" "$top/qemu/patches" "$stage"
fi

# 2. copy into the build tree only what changed, keeping mtimes otherwise
# no -t: a file that changes (even back to an older content) gets a new
# mtime, so ninja rebuilds it; unchanged files keep theirs
rsync -rlc --delete "$stage/" "$src/"

# 3. configure when needed (options: scripts/common.sh)
CONFIGURE_OPTS=$QEMU_CONFIGURE_OPTS
if [ -n "${SMMHP_FUZZ:-}" ]; then
    CONFIGURE_OPTS="--target-list=x86_64-softmmu --without-default-features \
 --enable-tcg --enable-fuzzing --enable-asan --enable-ubsan \
 --disable-install-blobs --disable-download --disable-docs \
 --python=/usr/bin/python3 --cc='ccache clang' --cxx='ccache clang++'"
fi
# Reconfigure when the options or the host toolchain that configure probed change.
stamp="$CONFIGURE_OPTS $(qemu_toolchain ${SMMHP_FUZZ:+clang})"
if [ ! -f "$build/build.ninja" ] || [ "$(cat "$build/.smmhp-configure" 2>/dev/null)" != "$stamp" ]; then
    log "configuring in $build"
    rm -rf "$build"; mkdir -p "$build"
    # shellcheck disable=SC2086
    (cd "$build" && eval "\"\$src/configure\" $CONFIGURE_OPTS" >configure.log 2>&1) || {
        tail -40 "$build/configure.log"; log "configure failed (log: $build/configure.log)" >&2; exit 1; }
    echo "$stamp" > "$build/.smmhp-configure"
fi

# 4. build, printing progress every ~10%
if [ -n "${SMMHP_FUZZ:-}" ]; then
    TARGETS=qemu-fuzz-x86_64
else
    TARGETS="qemu-system-x86_64"
    [ -n "${SMMHP_BASELINE:-}" ] || for t in bios-tables-test q35-test cpu-plug-test lpc-ich9-test \
             fw_cfg-test tco-test device-plug-test \
             $(cat "$top/qemu/qtests.list" 2>/dev/null || true); do
        TARGETS="$TARGETS tests/qtest/$t"
    done
fi
log "building ($(nproc) jobs; log: $build/ninja.log.txt)"
start=$(date +%s)
# shellcheck disable=SC2086
NINJA_STATUS='[%f/%t] ' ninja -C "$build" $TARGETS >"$build/ninja.log.txt" 2>&1 </dev/null &
pid=$!
last=-1
while kill -0 $pid 2>/dev/null; do
    sleep 5
    p=$(grep -o '^\[[0-9]*/[0-9]*\]' "$build/ninja.log.txt" | tail -1 | tr -d '[]' || true)
    if [ -n "$p" ]; then
        pct=$(( ${p%/*} * 100 / ${p#*/} ))
        if [ $((pct / 10)) -ne $last ]; then
            last=$((pct / 10)); log "  $pct% ($p steps, $(( $(date +%s) - start ))s)"
        fi
    fi
done
if ! wait $pid; then
    grep -B2 -A20 -m3 'FAILED\|error' "$build/ninja.log.txt" | head -60
    log "build failed (log: $build/ninja.log.txt)" >&2
    exit 1
fi

if [ -n "${SMMHP_FUZZ:-}" ]; then
    # its firmware path (the default datadir, relocated into qemu-bundle/)
    fw=$build/qemu-bundle/usr/local/share/qemu
    mkdir -p "$fw"
    for rom in /usr/share/seabios/*.bin "$CACHE"/build/qemu/pc-bios/optionrom/*.bin; do
        [ -f "$rom" ] && ln -sf "$rom" "$fw/"
    done
    log "done in $(( $(date +%s) - start ))s: $build/qemu-fuzz-x86_64"
    exit 0
fi

# 5. option ROMs (linuxboot_dma.bin, kvmvapic.bin, ...): built by make, as
#    Debian's rules do; the +ds tarball ships none.
if [ -f "$build/pc-bios/optionrom/config.mak" ]; then
    env -u ELF_PACKAGE_METADATA make -s -C "$build/pc-bios/optionrom" >"$build/optionrom.log" 2>&1 || {
        tail -20 "$build/optionrom.log"; log "option ROM build failed" >&2; exit 1; }
else
    log "warning: no 32-bit compiler for the option ROMs (gcc-multilib); -kernel with SeaBIOS will fail" >&2
fi

# 6. A binary run from the build tree resolves its firmware path inside
#    qemu-bundle/; point those entries at Debian's firmware packages and at
#    the option ROMs built above.
qemu_link_firmware "$build"
log "done in $(( $(date +%s) - start ))s: $build/qemu-system-x86_64"

#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
#
# Build OVMF_CODE_4M.secboot.fd (SMM, Secure Boot) and OVMF_VARS_4M.fd the
# way Debian's edk2 package does (debian/rules, OVMF_4M_SECBOOT_FLAGS), from
# Debian's edk2 source package + our series in ovmf/patches.
# Output: $SMMHP_CACHE/build/ovmf/.
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
. "$top/scripts/common.sh"
ver=$EDK2_VER
pristine=$EDK2_PRISTINE
src=$CACHE/src/edk2
out=$CACHE/build/ovmf
log() { echo "build-ovmf: $*"; }

for p in nasm uuid-dev acpica-tools; do
    dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q "install ok installed" || {
        log "installing $p"
        DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$p" >/dev/null
    }
done
need_edk2_pristine

log "preparing source tree (Debian edk2 $ver + ovmf/patches)"
rsync -rlc --delete --exclude /Build --exclude /Conf --exclude '/BaseTools/Source/C/bin' \
    --exclude '*.o' "$pristine/" "$src/"
sh "$top/scripts/apply-series.sh" "$top/ovmf/patches" "$src"

cd "$src"
mkdir -p Conf
# Debian's flags for OVMF_CODE_4M.secboot.fd (debian/rules of edk2 2025.02)
FLAGS="-DCC_MEASUREMENT_ENABLE=TRUE -DNETWORK_HTTP_BOOT_ENABLE=TRUE
 -DNETWORK_IP6_ENABLE=TRUE -DNETWORK_TLS_ENABLE -DTPM2_ENABLE=TRUE -DFD_SIZE_4MB
 --pcd PcdUninstallMemAttrProtocol=TRUE -DBUILD_SHELL=FALSE
 -DSECURE_BOOT_ENABLE=TRUE -DSMM_REQUIRE=TRUE"
start=$(date +%s)
(
    set +u
    export PYTHON3_ENABLE=TRUE
    . ./edksetup.sh >/dev/null
    if [ ! -x BaseTools/Source/C/bin/GenFv ]; then
        echo "build-ovmf: building BaseTools"
        make -C BaseTools -j"$(nproc)" >"$CACHE/build-ovmf-basetools.log" 2>&1
    fi
    echo "build-ovmf: building OvmfPkgX64 RELEASE (log: $CACHE/build-ovmf.log)"
    # shellcheck disable=SC2086
    build -a X64 -t GCC5 -p OvmfPkg/OvmfPkgX64.dsc -b RELEASE -n "$(nproc)" \
        $FLAGS >"$CACHE/build-ovmf.log" 2>&1 </dev/null &
    pid=$!
    # progress: modules made (of the last full build's count, if known),
    # then the firmware volumes; a line every 10 % or every 30 s
    total=$(cat "$out/.modules" 2>/dev/null || echo 0)
    last=-2; said=$(date +%s)
    while kill -0 $pid 2>/dev/null; do
        sleep 5
        n=$(grep -c '^Building \.\.\. ' "$CACHE/build-ovmf.log" || true)
        fv=$(grep -c '^Generating .* FV$' "$CACHE/build-ovmf.log" || true)
        now=$(date +%s)
        if [ "$fv" -gt 0 ]; then
            step=$((100 + fv)); what="generating firmware volumes ($fv)"
        elif [ "$total" -gt 0 ]; then
            step=$((n * 10 / total)); what="$((n * 100 / total))% ($n/$total modules)"
        else
            step=-1; what="$n modules"
        fi
        if [ "$step" -ne "$last" ] || [ $((now - said)) -ge 30 ]; then
            echo "build-ovmf:   $what, $((now - start))s"
            last=$step; said=$now
        fi
    done
    wait $pid || exit 1
    mkdir -p "$out"
    grep -c '^Building \.\.\. ' "$CACHE/build-ovmf.log" >"$out/.modules" || true
) || { tail -30 "$CACHE/build-ovmf.log" 2>/dev/null; log "build failed" >&2; exit 1; }
mkdir -p "$out"
cp Build/OvmfX64/RELEASE_GCC5/FV/OVMF_CODE.fd "$out/OVMF_CODE_4M.secboot.fd"
cp Build/OvmfX64/RELEASE_GCC5/FV/OVMF_VARS.fd "$out/OVMF_VARS_4M.fd"
log "done in $(( $(date +%s) - start ))s: $out/OVMF_CODE_4M.secboot.fd"

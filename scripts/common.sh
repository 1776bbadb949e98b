# SPDX-License-Identifier: GPL-2.0-or-later
# Sourced by the scripts: where things are.  Needs $top set.
# shellcheck shell=sh
. "$top/scripts/versions.sh"
CACHE=${SMMHP_CACHE:-$HOME/.cache/smm-hotplug}
QEMU_VER=$(echo "$QEMU_DEB_VERSION" | sed 's/^[0-9]*://')
QEMU_PRISTINE=$CACHE/src/qemu-$QEMU_VER.pristine

# Fetch Debian's qemu source (debian/patches applied) if it is not there.
need_qemu_pristine() {
    [ -d "$QEMU_PRISTINE" ] ||
        python3 "$top/scripts/fetch-source.py" "$QEMU_SRC_PKG" "$QEMU_DEB_VERSION" "$QEMU_PRISTINE"
}
EDK2_VER=$(echo "$EDK2_DEB_VERSION" | sed 's/^[0-9]*://')
EDK2_PRISTINE=$CACHE/src/edk2-$EDK2_VER.pristine

# Fetch Debian's edk2 source (debian/patches applied) if it is not there.
need_edk2_pristine() {
    [ -d "$EDK2_PRISTINE" ] ||
        python3 "$top/scripts/fetch-source.py" "$EDK2_SRC_PKG" "$EDK2_DEB_VERSION" "$EDK2_PRISTINE"
}

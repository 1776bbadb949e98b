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

# configure options of our QEMU builds (build-qemu.sh's default variant and
# baseline, check-series.sh).  --enable-malloc-trim as in Debian's build
# (its default, which --without-default-features turns off): QEMU's RCU
# thread then gives freed memory back after each batch of callbacks, and
# the soak measures QEMU's RSS as users get it.
QEMU_CONFIGURE_OPTS="--target-list=x86_64-softmmu --without-default-features \
 --enable-tcg --enable-kvm --enable-malloc-trim \
 --disable-install-blobs --disable-download \
 --disable-docs --python=/usr/bin/python3 --cc='ccache cc' --cxx='ccache c++' \
 --firmwarepath=/usr/share/qemu:/usr/share/seabios:/usr/lib/ipxe/qemu"

# qemu_toolchain [PACKAGE...]: the versions of the host packages that
# QEMU's configure probes (and PACKAGE...), for the stamp that makes
# build-qemu.sh and check-series.sh reconfigure when they change.
qemu_toolchain() {
    dpkg-query -W -f='${Package}=${Version} ' gcc-multilib meson libglib2.0-dev "$@" \
        2>/dev/null || true
}

# qemu_link_firmware BUILD: a binary run from the build tree resolves its
# firmware path inside qemu-bundle/; point those entries at Debian's
# firmware packages and at the option ROMs built in BUILD.
qemu_link_firmware() {
    mkdir -p "$1/qemu-bundle/usr/share/qemu" "$1/qemu-bundle/usr/lib/ipxe"
    ln -sfn /usr/share/seabios "$1/qemu-bundle/usr/share/seabios"
    ln -sfn /usr/lib/ipxe/qemu "$1/qemu-bundle/usr/lib/ipxe/qemu"
    for rom in "$1"/pc-bios/optionrom/*.bin; do
        [ -f "$rom" ] && ln -sf "$rom" "$1/qemu-bundle/usr/share/qemu/"
    done
    return 0
}

#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
#
# Install what the project needs on a Debian 12 host and add the deb-src
# index for Debian trixie, where the pinned qemu and edk2 source packages
# live.  Idempotent: a second run only checks.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
. "$here/versions.sh"

stamp_dir=${SMMHP_CACHE:-$HOME/.cache/smm-hotplug}
mkdir -p "$stamp_dir"

# Packages: QEMU build deps for an x86_64-softmmu build without default
# features, the tools that fetch and unpack Debian source packages, the
# firmware and guest pieces the tests boot.
PKGS="build-essential ninja-build pkg-config ccache python3 python3-venv
 libglib2.0-dev libpixman-1-dev zlib1g-dev flex bison bzip2 xz-utils
 dpkg-dev quilt acpica-tools seabios ovmf ipxe-qemu cpio busybox-static gzip
 rsync gcc-multilib python3-docutils clang libclang-rt-14-dev"

# add_sources FILE WHAT < CONTENT: write an apt sources file once
add_sources() {
    if [ -f "$1" ]; then
        cat >/dev/null
        return 0
    fi
    echo "setup: adding $2 ($1)"
    cat > "$1"
    rm -f "$stamp_dir/apt-updated"
}

add_sources /etc/apt/sources.list.d/smm-hotplug-trixie-src.sources \
    "deb-src lines for trixie" <<SRC
Types: deb-src
URIs: http://deb.debian.org/debian
Suites: trixie trixie-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb-src
URIs: http://deb.debian.org/debian-security
Suites: trixie-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC

# QEMU 10.0 needs meson >= 1.5; bookworm has 1.0, bookworm-backports 1.7.
# Backports stay at priority 100: only what we name is taken from there.
add_sources /etc/apt/sources.list.d/smm-hotplug-backports.sources \
    "bookworm-backports" <<SRC
Types: deb
URIs: http://deb.debian.org/debian
Suites: bookworm-backports
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC

# trixie's binary index, pinned to 100 so that nothing comes from it unless
# named: the qtests run with SeaBIOS 1.16.3, the version QEMU 10.0 bundles
# and made its expected ACPI tables with (bookworm has 1.16.2).
add_sources /etc/apt/sources.list.d/smm-hotplug-trixie.sources \
    "trixie binary index, pinned to 100" <<SRC
Types: deb
URIs: http://deb.debian.org/debian
Suites: trixie
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
if [ ! -f /etc/apt/preferences.d/smm-hotplug-trixie ]; then
    cat > /etc/apt/preferences.d/smm-hotplug-trixie <<PIN
Package: *
Pin: release n=trixie
Pin-Priority: 100
PIN
fi

missing=""
for p in $PKGS; do
    dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q "install ok installed" \
        || missing="$missing $p"
done

if [ ! -f "$stamp_dir/apt-updated" ] || [ -n "$missing" ]; then
    echo "setup: apt-get update"
    apt-get update -q >"$stamp_dir/apt-update.log" 2>&1 || {
        tail -20 "$stamp_dir/apt-update.log"; echo "setup: apt-get update failed" >&2; exit 1; }
    touch "$stamp_dir/apt-updated"
fi
if [ -n "$missing" ]; then
    echo "setup: installing:$missing"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $missing \
        >"$stamp_dir/apt-install.log" 2>&1 || {
        tail -30 "$stamp_dir/apt-install.log"; echo "setup: apt-get install failed" >&2; exit 1; }
fi
if ! meson --version 2>/dev/null | grep -qE '^1\.([5-9]|[1-9][0-9])'; then
    echo "setup: installing meson from bookworm-backports"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q -t bookworm-backports meson \
        >"$stamp_dir/apt-install-meson.log" 2>&1 || {
        tail -30 "$stamp_dir/apt-install-meson.log"; echo "setup: meson install failed" >&2; exit 1; }
fi
sb=$(dpkg-query -W -f='${Version}' seabios 2>/dev/null || true)
case "$sb" in
1.16.3*) ;;
*)
    echo "setup: installing seabios 1.16.3 from trixie (have: ${sb:-none})"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q -t trixie seabios \
        >"$stamp_dir/apt-install-seabios.log" 2>&1 || {
        tail -30 "$stamp_dir/apt-install-seabios.log"; echo "setup: seabios install failed" >&2; exit 1; }
    ;;
esac
echo "setup: host packages ok"

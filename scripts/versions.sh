# SPDX-License-Identifier: GPL-2.0-or-later
# The one place where the pinned upstream versions live.
# shellcheck shell=sh
QEMU_SRC_PKG=qemu
QEMU_DEB_VERSION=${QEMU_DEB_VERSION:-1:10.0.13+ds-0+deb13u1}
EDK2_SRC_PKG=edk2
EDK2_DEB_VERSION=${EDK2_DEB_VERSION:-2025.02-8+deb13u1}

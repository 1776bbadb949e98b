#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
#
# Produce the end-to-end test guest under $SMMHP_CACHE/guest:
#   vmlinuz            from Debian's linux-image-cloud-amd64 (resolved to the
#                      concrete linux-image-* package)
#   kernel.deb         that package itself: the nested KVM runner takes the
#                      kvm modules of the same kernel from it (tests/nested)
#   initramfs.cpio.gz  busybox-static + tests/guest/init.sh as /init + the
#                      kernel's MSR driver (msr.ko from kernel.deb), with
#                      which the guest reads each CPU's SMI count, and
#                      efivarfs.ko, through which it writes UEFI variables
#                      (each write is an SMI on SMM firmware)
# Nothing here is committed; rerun to refresh.
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
CACHE=${SMMHP_CACHE:-$HOME/.cache/smm-hotplug}
out=$CACHE/guest
mkdir -p "$out"

kpkg=$(apt-cache depends linux-image-cloud-amd64 | sed -n 's/.*Depends: \(linux-image-[0-9].*\)$/\1/p' | head -1)
[ -n "$kpkg" ] || { echo "mkguest: cannot resolve linux-image-cloud-amd64 (apt-get update?)" >&2; exit 1; }
if [ ! -f "$out/vmlinuz" ] || [ ! -f "$out/kernel.deb" ] || [ "$(cat "$out/kernel-package" 2>/dev/null)" != "$kpkg" ]; then
    echo "mkguest: fetching $kpkg"
    tmp=$(mktemp -d)
    chown _apt "$tmp" 2>/dev/null || true   # apt downloads as _apt
    (cd "$tmp" && apt-get download -q "$kpkg" >/dev/null)
    dpkg-deb -x "$tmp"/*.deb "$tmp/x"
    cp "$tmp"/x/boot/vmlinuz-* "$out/vmlinuz"
    cp "$tmp"/*.deb "$out/kernel.deb"
    echo "$kpkg" > "$out/kernel-package"
    rm -rf "$tmp"
fi

bb=/bin/busybox
[ -x "$bb" ] && file -L "$bb" 2>/dev/null | grep -q static || bb=$(dpkg -L busybox-static | grep '/bin/busybox$' | head -1)
[ -x "$bb" ] || { echo "mkguest: busybox-static is not installed" >&2; exit 1; }
if [ ! -f "$out/initramfs.cpio.gz" ] || [ "$top/tests/guest/init.sh" -nt "$out/initramfs.cpio.gz" ] ||
   [ "$top/scripts/mkguest.sh" -nt "$out/initramfs.cpio.gz" ] ||
   [ "$out/kernel.deb" -nt "$out/initramfs.cpio.gz" ]; then
    echo "mkguest: building initramfs"
    tmp=$(mktemp -d)
    mkdir -p "$tmp/bin" "$tmp/dev" "$tmp/proc" "$tmp/sys" "$tmp/lib/modules" "$tmp/k"
    cp "$bb" "$tmp/bin/busybox"
    dpkg-deb --fsys-tarfile "$out/kernel.deb" | tar -x -C "$tmp/k" --wildcards \
        '*/kernel/arch/x86/kernel/msr.ko' '*/kernel/fs/efivarfs/efivarfs.ko'
    mv "$tmp"/k/lib/modules/*/kernel/arch/x86/kernel/msr.ko "$tmp/lib/modules/msr.ko"
    mv "$tmp"/k/lib/modules/*/kernel/fs/efivarfs/efivarfs.ko "$tmp/lib/modules/efivarfs.ko"
    rm -rf "$tmp/k"
    ln -s busybox "$tmp/bin/sh"
    cp "$top/tests/guest/init.sh" "$tmp/init"
    chmod 755 "$tmp/init"
    (cd "$tmp" && find . | cpio -o -H newc --quiet | gzip -9 > "$out/initramfs.cpio.gz.new")
    mv "$out/initramfs.cpio.gz.new" "$out/initramfs.cpio.gz"
    rm -rf "$tmp"
fi
echo "mkguest: guest ready in $out ($(cat "$out/kernel-package"))"

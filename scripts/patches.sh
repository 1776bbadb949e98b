#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
#
# Developer loop for our patch series on Debian's sources (one logical
# change per patch, applied in the order of the series file):
#   qemu: qemu/patches on Debian's qemu, dev tree $SMMHP_CACHE/src/qemu-dev
#   ovmf: ovmf/patches on Debian's edk2, dev tree $SMMHP_CACHE/src/edk2-dev
#
#   scripts/patches.sh qemu|ovmf check [DIR]
#                                         apply every patch exactly (no fuzz)
#                                         to a fresh copy of Debian's tree;
#                                         with DIR, leave that tree in DIR
#   scripts/patches.sh qemu|ovmf edit     make the dev tree: a git repository
#                                         with Debian's tree as the base
#                                         commit (tag debian-base) and one
#                                         commit per patch
#   scripts/patches.sh qemu|ovmf export   turn the commits of the dev tree on
#                                         top of the base back into the
#                                         patches and series (format-patch)
#
# Edit or add commits in the dev tree with ordinary git (commit --amend,
# rebase -i, commit), then export, then `make qemu` / `make ovmf`.
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
. "$top/scripts/common.sh"
case "${1:-}" in
qemu)
    ver=$QEMU_VER
    pristine=$QEMU_PRISTINE
    dev=$CACHE/src/qemu-dev
    pdir=$top/qemu/patches
    need_pristine() { need_qemu_pristine; }
    ;;
ovmf)
    ver=$EDK2_VER
    pristine=$EDK2_PRISTINE
    dev=$CACHE/src/edk2-dev
    pdir=$top/ovmf/patches
    need_pristine() { need_edk2_pristine; }
    ;;
*)
    sed -n '3,20p' "$0" | sed 's/^# \{0,1\}//'
    exit 2
    ;;
esac
what=$1
shift

case "${1:-}" in
check)
    need_pristine
    if [ -n "${2:-}" ]; then
        tmp=$2
        mkdir -p "$tmp"
    else
        tmp=$(mktemp -d)
        trap 'rm -rf "$tmp"' EXIT
    fi
    rsync -a --delete "$pristine/" "$tmp/"
    sh "$top/scripts/apply-series.sh" "$pdir" "$tmp"
    # every patch in the directory must be listed, and vice versa
    for p in "$pdir"/*.patch; do
        [ -e "$p" ] || continue
        grep -qx "$(basename "$p")" "$pdir/series" || { echo "check: $(basename "$p") is not in series" >&2; exit 1; }
    done
    echo "check: all $what patches apply exactly (no fuzz) to Debian $ver"
    ;;
edit)
    need_pristine
    if [ -d "$dev/.git" ]; then
        echo "edit: $dev exists; remove it first to start over" >&2
        exit 1
    fi
    rsync -a --no-owner --no-group --delete "$pristine/" "$dev/"
    cd "$dev"
    git init -q
    git add -A >/dev/null
    git -c user.name=base -c user.email=base@invalid commit -qm "Debian $what $ver (debian/patches applied)"
    git tag debian-base
    if [ -s "$pdir/series" ]; then
        grep -v '^#' "$pdir/series" | sed '/^$/d' | sed "s|^|$pdir/|" | xargs git am -q --keep-cr
    fi
    echo "edit: $dev: $(git rev-list --count debian-base..HEAD) patch commits on top of debian-base"
    ;;
export)
    [ -d "$dev/.git" ] || { echo "export: run '$0 edit' first" >&2; exit 1; }
    rm -f "$pdir"/*.patch
    mkdir -p "$pdir"
    (cd "$dev" && git format-patch -q --zero-commit --no-signature \
        -N -o "$pdir" debian-base..HEAD)
    (cd "$pdir" && ls -1 ./*.patch 2>/dev/null | sed 's|^\./||' > series)
    echo "export: $(wc -l < "$pdir/series") patches written to $pdir"
    ;;
*)
    sed -n '3,20p' "$0" | sed 's/^# \{0,1\}//'
    exit 2
    ;;
esac

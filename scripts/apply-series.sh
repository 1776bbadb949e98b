#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# apply-series.sh PATCHDIR TREE: apply PATCHDIR/series to TREE with
# `patch -p1 --fuzz=0`; stop at the first patch that does not apply.
set -eu
dir=$1 tree=$2
[ -f "$dir/series" ] || exit 0
n=0
while read -r p _; do
    case "$p" in ''|'#'*) continue ;; esac
    if ! out=$(patch -d "$tree" -p1 --fuzz=0 --no-backup-if-mismatch -s -f -i "$dir/$p" 2>&1); then
        echo "apply-series: $p does not apply with --fuzz=0 to $tree:" >&2
        echo "$out" >&2
        exit 1
    fi
    n=$((n + 1))
done < "$dir/series"
echo "apply-series: applied $n patches from $dir"

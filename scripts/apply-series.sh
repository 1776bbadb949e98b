#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# apply-series.sh PATCHDIR TREE: apply PATCHDIR/series to TREE, one patch
# after the other, with `git apply` (no fuzz: every line of context must
# match, only the position may move; binary hunks such as the expected
# ACPI tables apply too); stop at the first patch that does not apply.
# TREE is a plain directory (a copy of Debian's tree), not a repository.
set -eu
dir=$(cd "$1" && pwd) tree=$2
[ -f "$dir/series" ] || exit 0
n=0
while read -r p _; do
    case "$p" in ''|'#'*) continue ;; esac
    # the ceiling keeps git from taking a repository above TREE for its own
    if ! out=$(cd "$tree" && GIT_CEILING_DIRECTORIES=$(dirname "$(pwd)") \
               git apply --whitespace=nowarn "$dir/$p" 2>&1); then
        echo "apply-series: $p does not apply to $tree:" >&2
        echo "$out" >&2
        exit 1
    fi
    n=$((n + 1))
done < "$dir/series"
echo "apply-series: applied $n patches from $dir"

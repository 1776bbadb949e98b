#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# Run QEMU's scripts/checkpatch.pl on every hook patch and every overlay
# source file.  Exit status 1 if any has an error.
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
. "$top/scripts/common.sh"
need_qemu_pristine
tree=$QEMU_PRISTINE
rc=0
for p in "$top"/qemu/patches/*.patch; do
    [ -e "$p" ] || continue
    if out=$(cd "$tree" && perl scripts/checkpatch.pl --no-signoff "$p" 2>&1); then
        echo "checkpatch: $(basename "$p"): has no obvious style problems"
    else
        rc=1
        echo "checkpatch: $(basename "$p"): has style problems"
    fi
    echo "$out" | grep -E '^(ERROR|WARNING)' -A3 | grep -v 'does MAINTAINERS need updating' || true
done
# overlay files by their QEMU path, so the tests/ rules apply as upstream
(cd "$top/qemu" && find . -path ./patches -prune -o \( -name '*.c' -o -name '*.h' \) -print) |
while read -r f; do
    f=${f#./}
    if out=$(cd "$top/qemu" && perl "$tree/scripts/checkpatch.pl" --no-tree -f "$f" 2>&1); then
        echo "checkpatch: qemu/$f: has no obvious style problems"
    else
        echo "checkpatch: qemu/$f: has style problems"
        echo "$out" | grep -E '^(ERROR|WARNING)' -A2
        exit 1
    fi
done || rc=1
exit $rc

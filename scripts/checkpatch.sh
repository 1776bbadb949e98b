#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# Run QEMU's scripts/checkpatch.pl on every patch of the QEMU series (our
# own files enter the series as new files, so all their lines are
# checked, under the rules for their QEMU paths).  Exit status 1 if any
# patch has an error or a warning.
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
. "$top/scripts/common.sh"
need_qemu_pristine
tree=$QEMU_PRISTINE
rc=0
for p in "$top"/qemu/patches/*.patch; do
    [ -e "$p" ] || continue
    # checkpatch.pl exits 0 when it finds only warnings; they count here
    if out=$(cd "$tree" && perl scripts/checkpatch.pl --no-signoff "$p" 2>&1) &&
       ! echo "$out" | grep -q '^WARNING'; then
        echo "checkpatch: $(basename "$p"): has no obvious style problems"
    else
        rc=1
        echo "checkpatch: $(basename "$p"): has style problems"
    fi
    echo "$out" | grep -E '^(ERROR|WARNING)' -A3 || true
done
exit $rc

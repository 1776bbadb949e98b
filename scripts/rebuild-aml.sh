#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
#
# Regenerate the expected ACPI tables of our bios-tables-test variants with
# QEMU's own rebuild mode (TEST_ACPI_REBUILD_AML), copy the new files into
# the dev tree of the series ($SMMHP_CACHE/src/qemu-dev, made by
# `scripts/patches.sh qemu edit`), and show their ASL diff against the base
# table with iasl.  Run `make qemu` first.  Then commit the files in the dev
# tree into the series' "tests: acpi: expected DSDT ..." commit of their
# variant (git commit --fixup=<it>; git rebase -i --autosquash debian-base)
# and run `scripts/patches.sh qemu export`.
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
. "$top/scripts/common.sh"
build=$CACHE/build/qemu
src=$CACHE/src/qemu
dev=$CACHE/src/qemu-dev
[ -d "$dev/.git" ] || { echo "rebuild-aml: no dev tree $dev; run scripts/patches.sh qemu edit first" >&2; exit 1; }
# test path -> expected files it owns (relative to tests/data/acpi)
CASES="/x86_64/acpi/q35/smi-hotplug:x86/q35/DSDT.smi-hotplug
/x86_64/acpi/q35/smi-hotunplug:x86/q35/DSDT.smi-hotunplug
/x86_64/acpi/q35/smi-parking:x86/q35/DSDT.smi-parking"

for c in $CASES; do
    path=${c%%:*} file=${c#*:}
    rm -f "$src/tests/data/acpi/$file"
    echo "rebuild-aml: $path -> $file"
    (cd "$build" && TEST_ACPI_REBUILD_AML=y \
        QTEST_QEMU_BINARY="$top/tests/tcg-only/qemu-system-x86_64" \
        SMMHP_REAL_QEMU="$build/qemu-system-x86_64" \
        ./tests/qtest/bios-tables-test -p "$path" >/dev/null)
    [ -s "$src/tests/data/acpi/$file" ] || { echo "rebuild-aml: $file was not written" >&2; exit 1; }
    mkdir -p "$dev/tests/data/acpi/$(dirname "$file")"
    cp "$src/tests/data/acpi/$file" "$dev/tests/data/acpi/$file"
    base=$src/tests/data/acpi/${file%.*}
    tmp=$(mktemp -d)
    cp "$base" "$tmp/base.aml"
    cp "$src/tests/data/acpi/$file" "$tmp/new.aml"
    (cd "$tmp" && iasl -d base.aml >/dev/null 2>&1 && iasl -d new.aml >/dev/null 2>&1)
    diff -u "$tmp/base.dsl" "$tmp/new.dsl" | grep -v 'Disassembly of\|Checksum\|Length ' || true
    rm -rf "$tmp"
done
echo "rebuild-aml: the tables are in $dev; git -C $dev status shows which changed"

#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Run the freestanding test firmware (testfw/) under TCG, one QEMU per case.

    tests/testfw/run.py [--list] [--qemu PATH] [CASE ...]

Each case prints 'TESTFW: PASS|FAIL check[: why]' lines on the debug
console; every check is reported and counted.  A case that does not reach
'TESTFW: DONE' within its time limit is killed and counted as a failure.
Ends with 'N passed, M failed'.
"""

import argparse
import os
import re
import subprocess
import sys

CACHE = os.environ.get("SMMHP_CACHE", os.path.expanduser("~/.cache/smm-hotplug"))
FW = os.path.join(CACHE, "testfw", "testfw.bin")
DEFAULT_QEMU = os.path.join(CACHE, "build", "qemu", "qemu-system-x86_64")

# case name -> (description, extra QEMU arguments)
CASES = {
    "init-held-in-smm": (
        "INIT sent to a CPU in SMM is held until RSM, then delivered",
        ["-smp", "2"]),
    "smi-pending-in-wait-for-sipi": (
        "an SMI sent to a CPU in wait-for-SIPI stays pending until SIPI",
        ["-smp", "2"]),
}


def run_case(qemu, name, extra, timeout=60):
    args = [qemu, "-machine", "q35,smm=on", "-accel", "tcg", "-nodefaults",
            "-display", "none", "-bios", FW,
            "-chardev", "stdio,id=dbg", "-device", "isa-debugcon,iobase=0x402,chardev=dbg",
            "-device", "isa-debug-exit,iobase=0xf4,iosize=4",
            "-fw_cfg", f"name=opt/testfw/case,string={name}"] + extra
    try:
        p = subprocess.run(args, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, timeout=timeout)
        out, timed_out = p.stdout.decode("utf-8", "replace"), False
    except subprocess.TimeoutExpired as e:
        out, timed_out = (e.stdout or b"").decode("utf-8", "replace"), True
    results = []
    done = False
    for line in out.splitlines():
        m = re.match(r"TESTFW: (PASS|FAIL) (\S+)(?:: (.*))?$", line)
        if m:
            results.append((m.group(1) == "PASS", m.group(2), m.group(3) or ""))
        elif line.startswith("TESTFW: DONE"):
            done = True
    if timed_out:
        results.append((False, "finished", f"no result within {timeout} s (hang)"))
    elif not done:
        tail = " | ".join(out.splitlines()[-3:])
        results.append((False, "finished", f"QEMU ended without DONE: {tail}"))
    return results


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("cases", nargs="*")
    ap.add_argument("--list", action="store_true")
    ap.add_argument("--qemu", default=os.environ.get("QEMU", DEFAULT_QEMU))
    a = ap.parse_args()
    if a.list:
        for name, (desc, _) in CASES.items():
            print(f"{name:32s} {desc}")
        return 0
    for c in a.cases:
        if c not in CASES:
            print(f"testfw: unknown case {c!r}; see --list", file=sys.stderr)
            return 2
    if not os.path.exists(FW):
        print(f"testfw: {FW} is missing: run 'make testfw'", file=sys.stderr)
        return 2
    passed = failed = 0
    for name in a.cases or CASES:
        for ok, check, why in run_case(a.qemu, name, CASES[name][1]):
            print(f"{'PASS' if ok else 'FAIL'}  testfw {name}/{check}" + ("" if ok else f": {why}"),
                  flush=True)
            passed += ok
            failed += not ok
    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Cost of the hotplug SMI with parking, against a plain SMI, in one run.

    bench/parking_smi.py [--boots N] [--qemu PATH]

Boots the test firmware case bench-parking-smi N times (6 hot-added CPUs
each).  Per CPU it times, with the ACPI PM timer, an SMI that only enters
and leaves SMM and, right after it, an SMI whose handler selects the parked
CPU, sets and reads back its SMBASE and unparks it.  Prints the medians and
their ratio.  The ratio, not the absolute time, is what to compare: TCG on
a shared machine.
"""

import argparse
import os
import statistics
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests",
                                "testfw"))
import run as testfw  # noqa: E402

TICK_US = 1e6 / 3579545


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--boots", type=int, default=5)
    ap.add_argument("--qemu", default=testfw.DEFAULT_QEMU)
    a = ap.parse_args()
    plain, park = [], []
    for i in range(a.boots):
        testfw.BENCH.clear()
        res = testfw.run_case(a.qemu, "bench-parking-smi",
                              testfw.BENCH_CASES["bench-parking-smi"][1])
        bad = [r for r in res if not r[0]]
        if bad:
            print(f"bench: boot {i + 1} failed: {bad}")
            return 1
        vals = {n: v for _, n, v in testfw.BENCH}
        plain.append(vals["smi-plain-ticks"])
        park.append(vals["smi-unpark-ticks"])
        print(f"bench: boot {i + 1}/{a.boots}: plain SMI {vals['smi-plain-ticks'] * TICK_US:.0f} us,"
              f" SMI with SMBASE+unpark {vals['smi-unpark-ticks'] * TICK_US:.0f} us", flush=True)
    p, q = statistics.median(plain), statistics.median(park)
    print(f"median plain SMI {p * TICK_US:.0f} us, SMI that unparks a CPU {q * TICK_US:.0f} us")
    print(f"ratio unpark/plain {q / p:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""The demo: boot a q35 guest with SMM on OVMF under TCG, hot-add CPUs one
at a time through QMP, and say in plain words what happened to each.

    tests/demo.py [--fw ovmf-parking|ovmf-smm|ovmf-nosmm|seabios|...] [--cpus N]

The default, ovmf-parking, is our OVMF (make ovmf) with parking offered and
required: each new CPU is held parked until the firmware's SMI handler has
set its SMBASE and unparked it, which the demo shows from QEMU's trace.

Exit status 0 when every CPU came online in the guest, 1 otherwise.
"""

import argparse
import os
import re
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "e2e"))
import harness  # noqa: E402
from qmp import QMPError  # noqa: E402

FEATURE_NAMES = ["broadcast SMI", "CPU hotplug with SMI", "CPU hot-unplug with SMI",
                 "CPU hotplug with parking"]


def describe(features):
    if features is None:
        return "unknown"
    names = [n for i, n in enumerate(FEATURE_NAMES) if features & (1 << i)]
    return f"{features} ({', '.join(names) or 'none: firmware does not use SMI for hotplug'})"


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--fw", default="ovmf-parking", choices=list(harness.FIRMWARE))
    ap.add_argument("--cpus", type=int, default=3)
    ap.add_argument("--timeout", type=float, default=20.0)
    ap.add_argument("--qemu", default=os.path.join(harness.CACHE, "build", "qemu",
                                                   "qemu-system-x86_64"))
    a = ap.parse_args()
    fw = harness.FIRMWARE[a.fw]
    logdir = os.path.join(harness.CACHE, "logs")
    os.makedirs(logdir, exist_ok=True)
    print(f"demo: QEMU   {a.qemu}")
    print(f"demo: guest  q35, {fw['desc']}, TCG, 1 CPU at boot, room for {a.cpus} more")
    g = harness.Guest(a.qemu, a.fw, smp=f"1,maxcpus={a.cpus + 1}", logdir=logdir, name="demo")
    ok = 0
    try:
        hit = g.wait_line(r"E2E: READY ncpus=(\d+)", 90)
        if not hit:
            print("demo: the guest did not boot within 90 s")
            for s in g.stderr[-5:] + g.tail():
                print("      | " + s)
            return 1
        print(f"demo: guest booted in {hit[0] - g.t0:.1f} s")
        g.connect()
        feats = harness.negotiated_features(g.qmp)
        print(f"demo: SMI features the firmware negotiated: {describe(feats)}")
        for k in range(a.cpus):
            slot = harness.free_slots(g.qmp)[0]
            where = ", ".join(f"{p}={v}" for p, v in slot["props"].items())
            since = g.mark()
            err_since = len(g.stderr)
            t = time.monotonic()
            try:
                harness.device_add_cpu(g.qmp, slot, f"cpu{k + 1}")
            except QMPError as e:
                print(f"demo: CPU #{k + 1} ({where}): QEMU refused device_add: {e.desc}")
                break
            hit = g.wait_line(r"E2E: CPU(\d+) ONLINE( FAILED)?", a.timeout, since)
            if hit and not hit[1].group(2):
                ok += 1
                print(f"demo: CPU #{k + 1} ({where}): online in the guest as "
                      f"cpu{hit[1].group(1)} {hit[0] - t:.2f} s after device_add")
                trace = " ".join(g.stderr[err_since:])
                base = re.search(r"SMBASE set to (0x[0-9a-f]+)", trace)
                if "hot-added parked" in trace and base and "unparked" in trace:
                    print(f"demo:   it was held parked (ran nothing) until the firmware's SMI "
                          f"handler set its SMBASE to {base.group(1)} and unparked it")
                continue
            if hit:
                print(f"demo: CPU #{k + 1} ({where}): the guest saw it but could not online it")
            else:
                print(f"demo: CPU #{k + 1} ({where}): NOT online {a.timeout:.0f} s after "
                      f"device_add; the guest is stuck:")
            for d in g.diagnose(since):
                print("      " + d)
            break
    finally:
        g.close()
    print(f"demo: {ok} of {a.cpus} hot-added CPUs online; serial log: {g.logpath}")
    return 0 if ok == a.cpus else 1


if __name__ == "__main__":
    sys.exit(main())

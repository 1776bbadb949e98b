#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Run end-to-end CPU hotplug scenarios.

    tests/e2e/run.py --list
    tests/e2e/run.py [--runs N] [--qemu PATH] [--json FILE] [NAME ...]

NAME is FIRMWARE-SCENARIO (see --list); no NAME runs them all.  Prints one
line per scenario run (PASS, FAIL, XFAIL, XPASS) with the time from
device_add to the guest's online marker, and ends with
'N passed, M failed, K skipped'.  An XFAIL (a known failure that failed
the known way: its detail matches the mark's pattern) counts as passed;
any other failure of a marked scenario is a FAIL, and an XPASS counts as
failed, so the stale expectation is noticed and removed.  KVM scenarios
are skipped, with the reason, where KVM cannot run SMM guests.
"""

import argparse
import json
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

DEFAULT_QEMU = os.path.join(harness.CACHE, "build", "qemu", "qemu-system-x86_64")


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("names", nargs="*")
    ap.add_argument("--list", action="store_true")
    ap.add_argument("--runs", type=int, default=1)
    ap.add_argument("--qemu", default=os.environ.get("QEMU", DEFAULT_QEMU))
    ap.add_argument("--cpu-timeout", type=float, default=20.0)
    ap.add_argument("--logdir", default=os.path.join(harness.CACHE, "logs"))
    ap.add_argument("--json")
    a = ap.parse_args()
    if a.list:
        for name in harness.all_names():
            fw, sc = harness.split_name(name)
            f = harness.FIRMWARE[fw]
            x = "  [expected failure]" if f.get("xfail") else ""
            print(f"{name:32s} {harness.SCENARIOS[sc][0]}; {f['desc']}{x}")
        return 0
    try:
        todo = [harness.split_name(n) for n in (a.names or harness.all_names())]
    except ValueError as e:
        print(f"e2e: {e}", file=sys.stderr)
        return 2
    for path in (a.qemu, os.path.join(harness.CACHE, "guest", "vmlinuz")):
        if not os.path.exists(path):
            print(f"e2e: {path} is missing: run 'make qemu guest' first", file=sys.stderr)
            return 2
    os.makedirs(a.logdir, exist_ok=True)
    passed = failed = skipped = 0
    records = []
    kvm_missing = kvm_failed = None
    if any(harness.FIRMWARE[fw].get("accel") == "kvm" for fw, _ in todo):
        try:
            kvm_missing = harness.kvm_smm_missing(a.qemu)
        except harness.KVMProbeError as e:
            kvm_failed = str(e)
    for fw, sc in todo:
        xfail = harness.FIRMWARE[fw].get("xfail")
        if harness.FIRMWARE[fw].get("accel") == "kvm" and kvm_failed:
            failed += 1
            print(f"FAIL  {fw}-{sc}: {kvm_failed}", flush=True)
            continue
        if harness.FIRMWARE[fw].get("accel") == "kvm" and kvm_missing:
            skipped += 1
            print(f"SKIP  {fw}-{sc}: {kvm_missing}", flush=True)
            continue
        times = []
        for run in range(1, a.runs + 1):
            r = harness.run_scenario(a.qemu, fw, sc, logdir=a.logdir,
                                     cpu_timeout=a.cpu_timeout, run=run)
            feats = "" if r.features is None else f" [SMI features {r.features}]"
            label = f"{r.name}" + (f" run {run}" if a.runs > 1 else "")
            if r.ok and not xfail:
                passed += 1
                times += r.times
                what = f"device_add -> online {r.detail}" if r.times else r.detail
                print(f"PASS  {label}: {what}{feats}", flush=True)
            elif r.ok and xfail:
                failed += 1
                print(f"XPASS {label}: passed ({r.detail}) but is marked as an expected "
                      f"failure ({xfail[0]}); remove the mark{feats}", flush=True)
            elif xfail and re.search(xfail[1], r.detail):
                passed += 1
                print(f"XFAIL {label}: {r.detail}{feats}\n      expected: {xfail[0]}",
                      flush=True)
            elif xfail:
                failed += 1
                print(f"FAIL  {label}: {r.detail}{feats}\n      marked as an expected failure, "
                      f"but not this one: expected {xfail[0]} (/{xfail[1]}/)", flush=True)
            else:
                failed += 1
                print(f"FAIL  {label}: {r.detail}{feats}", flush=True)
            if not r.ok:
                for d in r.diag:
                    print(f"      {d}")
            records.append({"name": r.name, "run": run, "ok": r.ok, "xfail": bool(xfail),
                            "detail": r.detail, "times": r.times, "boot": r.boot,
                            "unplug_times": r.unplug_times, "features": r.features,
                            "diag": r.diag})
        if a.runs > 1 and times:
            print(f"      median device_add -> online over {len(times)} CPUs: "
                  f"{harness.median(times):.2f} s", flush=True)
    if a.json:
        with open(a.json, "w") as f:
            json.dump(records, f, indent=1)
    print(f"{passed} passed, {failed} failed, {skipped} skipped")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

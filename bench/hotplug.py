#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Hot-add latency of our QEMU against Debian's unpatched QEMU, measured in
the same run (this machine is shared and noisy, so only ratios mean much).

    bench/hotplug.py [--runs N] [--baseline PATH] [--qemu PATH]

Runs are interleaved (baseline, ours, baseline, ours, ...) so drift in the
machine's load hits both sides alike.  Prints, per configuration, the
median device_add -> guest-online time and boot time, then the ratios:
  ours/baseline   for firmware that does not use SMI (should be ~1.00)
  smm/no-smm      for our QEMU: OVMF with SMM against OVMF without SMM
  parking/legacy  our QEMU and our OVMF (make ovmf), parking negotiated
                  (SMBASE set + unpark) against parking not offered (SMI
                  at the default SMBASE): what parking costs end to end
The unpatched QEMU hangs on an SMM hot-add under TCG, so the SMM rows have
no baseline.
"""

import argparse
import os
import statistics
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "e2e"))
import harness  # noqa: E402

B = os.path.join(harness.CACHE, "build")


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--qemu", default=os.path.join(B, "qemu", "qemu-system-x86_64"))
    ap.add_argument("--baseline", default=os.path.join(B, "qemu-baseline", "qemu-system-x86_64"))
    a = ap.parse_args()
    for q in (a.qemu, a.baseline):
        if not os.path.exists(q):
            print(f"bench: {q} missing: run 'make bench' (builds both)", file=sys.stderr)
            return 2
    logdir = os.path.join(harness.CACHE, "logs", "bench")
    os.makedirs(logdir, exist_ok=True)
    # (label, binary, firmware, scenario)
    rows = [("baseline", a.baseline, "seabios", "add1"),
            ("ours", a.qemu, "seabios", "add1"),
            ("baseline", a.baseline, "ovmf-nosmm", "add1"),
            ("ours", a.qemu, "ovmf-nosmm", "add1"),
            ("ours", a.qemu, "ovmf-smm", "add1"),
            ("ours", a.qemu, "ovmf-ours-legacy", "add1"),
            ("ours", a.qemu, "ovmf-parking", "add1")]
    lat = {r: [] for r in rows}
    boot = {r: [] for r in rows}
    fails = {r: 0 for r in rows}
    for run in range(1, a.runs + 1):
        for r in rows:
            label, qemu, fw, sc = r
            res = harness.run_scenario(qemu, fw, sc, logdir=logdir, run=run)
            if res.ok:
                lat[r].append(res.times[0])
                boot[r].append(res.boot)
            else:
                fails[r] += 1
            print(f"bench: run {run}/{a.runs} {label:8s} {fw:16s} "
                  + (f"{res.times[0]:.3f} s" if res.ok else f"FAILED: {res.detail}"), flush=True)
    med = {r: statistics.median(v) if v else None for r, v in lat.items()}
    bmed = {r: statistics.median(v) if v else None for r, v in boot.items()}
    print()
    print(f"{'qemu':9s} {'firmware':17s} {'ok':>5s} {'add->online':>12s} {'boot':>7s}")
    for r in rows:
        label, _, fw, _ = r
        m = f"{med[r]:.3f} s" if med[r] is not None else "-"
        bt = f"{bmed[r]:.2f} s" if bmed[r] is not None else "-"
        print(f"{label:9s} {fw:17s} {len(lat[r]):>2d}/{a.runs:<2d} {m:>12s} {bt:>7s}")
    print()

    def ratio(x, y):
        return f"{x / y:.2f}" if x and y else "n/a"

    for fw in ("seabios", "ovmf-nosmm"):
        b = ("baseline", a.baseline, fw, "add1")
        o = ("ours", a.qemu, fw, "add1")
        print(f"ratio ours/baseline {fw:10s} hot-add {ratio(med[o], med[b])}  "
              f"boot {ratio(bmed[o], bmed[b])}")
    s = ("ours", a.qemu, "ovmf-smm", "add1")
    n = ("ours", a.qemu, "ovmf-nosmm", "add1")
    print(f"ratio smm/no-smm (ours, OVMF)  hot-add {ratio(med[s], med[n])}  "
          f"boot {ratio(bmed[s], bmed[n])}")
    p = ("ours", a.qemu, "ovmf-parking", "add1")
    g = ("ours", a.qemu, "ovmf-ours-legacy", "add1")
    print(f"ratio parking/legacy (our OVMF) hot-add {ratio(med[p], med[g])}  "
          f"boot {ratio(bmed[p], bmed[g])}")
    return 1 if any(fails.values()) else 0


if __name__ == "__main__":
    sys.exit(main())

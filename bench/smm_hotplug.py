#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""SMM CPU hot-add against hot-add without SMM, all measured in one run.

    bench/smm_hotplug.py [--runs N] [--qemu PATH] [--out DIR] [--only SCENARIO ...]

Same QEMU (ours, TCG) and the same Linux guest for four configurations:
  nosmm    Debian's OVMF without SMM (OVMF_CODE_4M.fd): the baseline
  stock    Debian's Secure Boot OVMF, SMM (OVMF_CODE_4M.secboot.fd, 2022.11)
  legacy   our OVMF (make ovmf), SMM, parking not offered: hot-add through
           the SMI at the default SMBASE, as upstream
  parking  our OVMF, SMM, parking offered and required
Scenarios, each on a fresh boot (boot time is reported from every boot):
  fill     boot with 1 CPU (maxcpus=8), hot-add one CPU at a time up to 8,
           each once the previous one is online; the time device_add ->
           online of every step (step 1 is "hot-add 1")
  burst3   boot with 1 CPU, three device_add back to back (as virsh setvcpus
           does); device_add of the first -> the last one online
  freeze   the guest-visible freeze of a broadcast SMI (APM_CNT write from the
           monitor): the longest gap between the guest's heartbeats (one per
           50 ms poll) around it, median of 3 SMIs; before a hot-add, then
           with the hot-added CPU left offline by the guest (e2e.online=0),
           and in another boot with it online. SMM configurations only.
Repetitions are interleaved (every configuration once, then again), so the
machine's drift in load hits all alike; medians over the runs. Ratios are
against nosmm from the same run (freeze: against the same configuration
before the hot-add), since absolute times on a shared TCG host mean little.
Prints a table and writes DIR/smm-hotplug.dat and, with gnuplot,
DIR/smm-hotplug.png (latency of each fill step per configuration).

--scale instead boots our OVMF with parking and maxcpus 64, then 288 (edk2
2025.02 uses x2APIC above 255 possible CPUs; the guest gets x2APIC and an
IOMMU with interrupt remapping, which Linux needs for APIC IDs above 255),
and 48 MiB of TSEG (q35's default 16 MiB is too small for OVMF with 288),
hot-adds the CPU with the highest APIC ID, then the lowest free one, and
reports boot time and what became of each CPU (online in the guest, or only
seen by it, or not at all) with its latency.
"""

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..",
                                "tests", "e2e"))
import harness  # noqa: E402
from qmp import QMPError  # noqa: E402

CONFIGS = [("nosmm", "ovmf-nosmm"), ("stock", "ovmf-smm"),
           ("legacy", "ovmf-ours-legacy"), ("parking", "ovmf-parking")]
FILL_TO = 8
CPU_TIMEOUT = 30.0
BOOT_TIMEOUT = 120.0


class BenchError(Exception):
    pass


def boot(qemu, fw, smp, logdir, name, append=""):
    g = harness.Guest(qemu, fw, smp=smp, logdir=logdir, name=name, hb=1, append=append)
    hit = g.wait_line(r"E2E: READY ncpus=(\d+)", BOOT_TIMEOUT)
    if not hit:
        g.close()
        raise BenchError(f"{name}: the guest did not boot within {BOOT_TIMEOUT:.0f} s")
    g.connect()
    return g, hit[0] - g.t0


def add(g, dev_id, pattern=r"E2E: CPU(\d+) (?:ONLINE|PRESENT)( FAILED)?"):
    """harness.hot_add(), failing the run on error."""
    secs, err = harness.hot_add(g, dev_id, CPU_TIMEOUT, pattern)
    if err:
        raise BenchError(err)
    return secs


def fill(qemu, fw, logdir, run):
    g, boot_s = boot(qemu, fw, f"1,maxcpus={FILL_TO}", logdir, f"bench-{fw}-fill-r{run}")
    try:
        return boot_s, [add(g, f"b{k}") for k in range(FILL_TO - 1)]
    finally:
        g.close()


def burst3(qemu, fw, logdir, run):
    g, boot_s = boot(qemu, fw, "1,maxcpus=4", logdir, f"bench-{fw}-burst3-r{run}")
    try:
        since = g.mark()
        t = time.monotonic()
        for k, slot in enumerate(harness.free_slots(g.qmp)[:3]):
            try:
                harness.device_add_cpu(g.qmp, slot, f"b{k}")
            except QMPError as e:
                raise BenchError(f"device_add b{k}: {e.desc}")
        last = None
        for _ in range(3):
            hit = g.wait_line(r"E2E: CPU(\d+) ONLINE", CPU_TIMEOUT, since)
            if not hit:
                raise BenchError("a CPU of the burst did not come online within "
                                 f"{CPU_TIMEOUT:.0f} s")
            last, since = hit[0], hit[2] + 1
        return boot_s, last - t
    finally:
        g.close()


def freeze_of(g):
    gap, err = harness.smi_freeze(g)
    if err:
        raise BenchError(err)
    return gap


def freeze(qemu, fw, logdir, run, online):
    """(boot s, freeze without a hot-added CPU, freeze with one)."""
    name = f"bench-{fw}-freeze-{'online' if online else 'offline'}-r{run}"
    g, boot_s = boot(qemu, fw, "1,maxcpus=4", logdir, name,
                     append="" if online else "e2e.online=0")
    try:
        none = statistics.median(freeze_of(g) for _ in range(3))
        add(g, "b0", r"E2E: CPU(\d+) ONLINE" if online else r"E2E: CPU(\d+) PRESENT")
        # the OS's scan and its hotplug SMI are over before the CPU shows up
        time.sleep(0.5)
        with_cpu = statistics.median(freeze_of(g) for _ in range(3))
        return boot_s, none, with_cpu
    finally:
        g.close()


# TSEG: with q35's default 16 MiB and 288 possible CPUs, our OVMF did not
# boot (nothing within 480 s, TCG); with 48 MiB it boots in about 9 s
SCALE_EXTRA = ["-cpu", "qemu64,+x2apic", "-device", "intel-iommu,intremap=on,eim=on",
               "-global", "mch.extended-tseg-mbytes=48"]


def scale(qemu, logdir):
    for maxcpus in (64, 288):
        name = f"bench-scale-{maxcpus}"
        try:
            g = harness.Guest(qemu, "ovmf-parking", smp=f"1,maxcpus={maxcpus}",
                              logdir=logdir, name=name, hb=20, extra=SCALE_EXTRA)
        except FileNotFoundError as e:
            print(f"bench: scale {maxcpus}: {e}")
            return 1
        try:
            hit = g.wait_line(r"E2E: READY ncpus=(\d+)", 4 * BOOT_TIMEOUT)
            if not hit:
                print(f"bench: scale maxcpus={maxcpus}: no boot within "
                      f"{4 * BOOT_TIMEOUT:.0f} s; QEMU: {' | '.join(g.stderr[-3:])}")
                continue
            print(f"bench: scale maxcpus={maxcpus}: booted in {hit[0] - g.t0:.1f} s", flush=True)
            g.connect()
            slots = harness.free_slots(g.qmp)
            for k, slot in enumerate((slots[-1], slots[0])):
                since = g.mark()
                t = time.monotonic()
                try:
                    harness.device_add_cpu(g.qmp, slot, f"s{k}")
                except QMPError as e:
                    print(f"bench: scale maxcpus={maxcpus}: device_add {slot['props']} "
                          f"refused: {e.desc}")
                    continue
                hit = g.wait_line(r"E2E: CPU(\d+) (ONLINE|PRESENT)( FAILED)?",
                                  CPU_TIMEOUT, since)
                what = (f"{hit[1].group(2).lower()}{' failed' if hit[1].group(3) else ''} "
                        f"after {hit[0] - t:.2f} s" if hit else
                        f"not seen by the guest within {CPU_TIMEOUT:.0f} s")
                print(f"bench: scale maxcpus={maxcpus}: CPU {slot['props']} "
                      f"(arch id {slot.get('arch-id', '?')}): {what}; "
                      f"{len(g.qmp.cmd('query-cpus-fast'))} vCPUs", flush=True)
        finally:
            g.close()
    return 0


def med(xs):
    return statistics.median(xs) if xs else float("nan")


def fmt(x, unit=" s"):
    return "-" if x != x else f"{x:.2f}{unit}"


def fmt_ratio(x, base):
    """'0.52 s [1.03]': a median and its ratio to base, or '-'."""
    if x != x:
        return "-"
    return fmt(x) + ("" if base != base or not base else f" [{x / base:.2f}]")


def plot(out, fill_med):
    dat = os.path.join(out, "smm-hotplug.dat")
    with open(dat, "w") as f:
        f.write("# step " + " ".join(c for c, _ in CONFIGS) + "  (median s, device_add -> online)\n")
        for i in range(FILL_TO - 1):
            f.write(f"{i + 1} " + " ".join(f"{fill_med[c][i]:.4f}" for c, _ in CONFIGS) + "\n")
    gp = shutil.which("gnuplot")
    if not gp:
        print(f"bench: no plot: gnuplot is not installed (apt-get install gnuplot-nox); "
              f"data in {dat}")
        return
    png = os.path.join(out, "smm-hotplug.png")
    lines = ", ".join(f"'{dat}' using 1:{k + 2} with linespoints title '{c}'"
                      for k, (c, _) in enumerate(CONFIGS))
    script = (f"set terminal png size 800,500; set output '{png}';"
              f"set title 'CPU hot-add, fill from 1 to {FILL_TO} CPUs (median)';"
              f"set xlabel 'step (CPUs after the hot-add minus 1)'; set ylabel 'device_add -> online (s)';"
              f"set yrange [0:*]; set key top left; set grid; plot {lines}")
    r = subprocess.run([gp, "-e", script], capture_output=True, text=True)
    if r.returncode:
        print(f"bench: gnuplot failed: {r.stderr.strip()}")
    else:
        print(f"bench: plot in {png}")


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--qemu", default=os.path.join(harness.CACHE, "build", "qemu",
                                                   "qemu-system-x86_64"))
    ap.add_argument("--out", default=os.path.join(harness.CACHE, "bench"))
    ap.add_argument("--only", nargs="+", choices=("fill", "burst3", "freeze"),
                    default=("fill", "burst3", "freeze"))
    ap.add_argument("--scale", action="store_true",
                    help="maxcpus 64 and 288 with parking instead (see above)")
    a = ap.parse_args()
    if not os.path.exists(a.qemu):
        print(f"bench: {a.qemu} missing: run 'make qemu'", file=sys.stderr)
        return 2
    os.makedirs(a.out, exist_ok=True)
    logdir = os.path.join(harness.CACHE, "logs", "bench")
    os.makedirs(logdir, exist_ok=True)
    if a.scale:
        return scale(a.qemu, logdir)
    boots = {c: [] for c, _ in CONFIGS}
    fills = {c: [[] for _ in range(FILL_TO - 1)] for c, _ in CONFIGS}
    bursts = {c: [] for c, _ in CONFIGS}
    frz = {(c, k): [] for c, _ in CONFIGS for k in ("none", "offline", "online")}
    failed = 0
    t_start = time.monotonic()
    for run in range(1, a.runs + 1):
        for c, fw in CONFIGS:
            try:
                if "fill" in a.only:
                    b, steps = fill(a.qemu, fw, logdir, run)
                    boots[c].append(b)
                    for i, s in enumerate(steps):
                        fills[c][i].append(s)
                    print(f"bench: run {run}/{a.runs} {c:8s} fill  "
                          + " ".join(f"{s:.2f}" for s in steps), flush=True)
                if "burst3" in a.only:
                    b, s = burst3(a.qemu, fw, logdir, run)
                    boots[c].append(b)
                    bursts[c].append(s)
                    print(f"bench: run {run}/{a.runs} {c:8s} burst3 {s:.2f}", flush=True)
                if "freeze" in a.only and c != "nosmm":
                    for online in (False, True):
                        b, none, w = freeze(a.qemu, fw, logdir, run, online)
                        boots[c].append(b)
                        frz[(c, "none")].append(none)
                        frz[(c, "online" if online else "offline")].append(w)
                        print(f"bench: run {run}/{a.runs} {c:8s} freeze: {none:.2f} s, with "
                              f"an {'online' if online else 'offline'} hot-added CPU {w:.2f} s",
                              flush=True)
            except BenchError as e:
                failed += 1
                print(f"bench: run {run}/{a.runs} {c}: FAILED: {e}", flush=True)
    fill_med = {c: [med(x) for x in fills[c]] for c, _ in CONFIGS}
    base = fill_med["nosmm"]
    print(f"\nbench: {a.runs} interleaved runs in {(time.monotonic() - t_start) / 60:.1f} min, "
          f"{failed} failed; medians, ratio against nosmm in []")
    hdr = f"{'':10s}{'boot':>8s}{'burst3':>16s}" + "".join(f"{'step ' + str(i + 1):>16s}"
                                                          for i in range(FILL_TO - 1))
    print(hdr)
    bb = med(bursts["nosmm"])
    for c, _ in CONFIGS:
        row = f"{c:10s}{fmt(med(boots[c])):>8s}"
        row += f"{fmt_ratio(med(bursts[c]), bb):>16s}"
        for i in range(FILL_TO - 1):
            row += f"{fmt_ratio(fill_med[c][i], base[i]):>16s}"
        print(row)
    if "freeze" in a.only:
        print("\nSMI freeze (longest heartbeat gap around one broadcast SMI), median; "
              "ratio against the same configuration before the hot-add in []")
        print(f"{'':10s}{'no hot-added CPU':>18s}{'one, offline':>18s}{'one, online':>18s}")
        for c, _ in CONFIGS[1:]:
            n = med(frz[(c, "none")])
            off, on = med(frz[(c, "offline")]), med(frz[(c, "online")])
            print(f"{c:10s}{fmt(n):>18s}{fmt_ratio(off, n):>18s}{fmt_ratio(on, n):>18s}")
    if "fill" in a.only:
        plot(a.out, fill_med)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

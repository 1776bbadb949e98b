#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Run the freestanding test firmware (testfw/) under TCG, one QEMU per case.

    tests/testfw/run.py [--list] [--qemu PATH] [CASE ...]

Each case prints 'TESTFW: PASS|FAIL check[: why]' lines on the debug
console; every check is reported and counted.  A case that does not reach
'TESTFW: DONE' within its time limit is killed and counted as a failure.
The parking cases run a second time under KVM (kvm/CASE) where KVM
supports SMM; elsewhere each is reported as skipped, with the reason.
Ends with 'N passed, M failed, K skipped'.
"""

import argparse
import os
import re
import select
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "e2e"))
import harness  # noqa: E402
from qmp import QMP, QMPError  # noqa: E402

CACHE = harness.CACHE
FW = os.path.join(CACHE, "testfw", "testfw.bin")
DEFAULT_QEMU = os.path.join(CACHE, "build", "qemu", "qemu-system-x86_64")

PARKING = harness.APM_STS_ON + harness.PARKING_ON

# case name -> (description, extra QEMU arguments).  A case can ask the
# runner for CPU hotplug: on 'TESTFW: HOTPLUG n' the runner adds n CPUs
# through QMP, on 'TESTFW: UNPLUG k' it device_dels the k-th one; the
# firmware sees the result in the CPU hotplug block.
CASES = {
    "init-held-in-smm": (
        "INIT sent to a CPU in SMM is held until RSM, then delivered",
        ["-smp", "2"]),
    "smi-pending-in-wait-for-sipi": (
        "an SMI sent to a CPU in wait-for-SIPI stays pending until SIPI",
        ["-smp", "2"]),
    "parking": (
        "a hostile OS against a parked CPU, then the firmware's SMBASE + unpark",
        ["-smp", "1,maxcpus=4"] + PARKING),
    "parking-two-cpus": (
        "two CPUs hot-added before one SMI are both handled by it",
        ["-smp", "1,maxcpus=4"] + PARKING),
    "renegotiation": (
        "after the lock, neither APM_STS nor fw_cfg can renegotiate",
        ["-smp", "1,maxcpus=2"] + PARKING),
    "no-smi": (
        "no hotplug SMI: the CPU stays parked and device_del removes it",
        ["-smp", "1,maxcpus=2"] + PARKING),
}
# run again with -accel kvm when the host's KVM supports SMM
KVM_CASES = ["parking", "parking-two-cpus", "no-smi"]
# run by bench/parking_smi.py, not by default
BENCH_CASES = {
    "bench-parking-smi": (
        "hotplug SMI cost: plain SMI vs SMI that sets SMBASE and unparks",
        ["-smp", "1,maxcpus=7"] + PARKING),
}


BENCH = []      # (case, name, value) from 'TESTFW: BENCH name value'


def hotplug(qmp, n, added):
    """Add n CPUs into the lowest free slots; returns an error or None."""
    slots = harness.free_slots(qmp)
    for slot in slots[:n]:
        dev_id = f"tcpu{len(added)}"
        try:
            harness.device_add_cpu(qmp, slot, dev_id)
        except QMPError as e:
            return e.desc
        added.append(dev_id)
    return None if len(slots) >= n else f"only {len(slots)} free slots"


def run_case(qemu, name, extra, timeout=60, accel="tcg"):
    tmp = tempfile.mkdtemp(prefix="testfw-")
    sock = os.path.join(tmp, "qmp.sock")
    args = [qemu, "-machine", "q35,smm=on", "-accel", accel, "-nodefaults",
            "-display", "none", "-bios", FW,
            "-chardev", "stdio,id=dbg", "-device", "isa-debugcon,iobase=0x402,chardev=dbg",
            "-device", "isa-debug-exit,iobase=0xf4,iosize=4",
            "-qmp", f"unix:{sock},server=on,wait=off",
            "-fw_cfg", f"name=opt/testfw/case,string={name}"] + extra
    p = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT)
    lines, buf, added = [], b"", []
    qmp = None
    deadline = time.monotonic() + timeout
    timed_out = False
    try:
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                timed_out = True
                break
            r, _, _ = select.select([p.stdout], [], [], min(left, 0.5))
            if not r:
                if p.poll() is not None:
                    break
                continue
            data = os.read(p.stdout.fileno(), 65536)
            if not data:
                break
            buf += data
            while b"\n" in buf:
                raw, buf = buf.split(b"\n", 1)
                line = raw.decode("utf-8", "replace").rstrip("\r")
                lines.append(line)
                m = re.match(r"TESTFW: HOTPLUG (\d+)$", line)
                if m and int(m.group(1)):
                    try:
                        if qmp is None:
                            qmp = QMP(sock, timeout=10)
                        err = hotplug(qmp, int(m.group(1)), added)
                    except (OSError, QMPError) as e:
                        err = str(e)
                    if err:
                        lines.append(f"TESTFW: FAIL runner-hotplug: {err}")
                m = re.match(r"TESTFW: UNPLUG (\d+)$", line)
                if m:
                    k = int(m.group(1)) - 1
                    try:
                        if qmp is None:
                            qmp = QMP(sock, timeout=10)
                        qmp.cmd("device_del", id=added[k])
                    except (OSError, QMPError, IndexError) as e:
                        lines.append(f"TESTFW: FAIL runner-unplug: {e}")
    finally:
        if qmp:
            qmp.close()
        if p.poll() is None:
            p.kill()
        p.wait()
        try:
            os.unlink(sock)
        except OSError:
            pass
        os.rmdir(tmp)
    results = []
    done = False
    for line in lines:
        m = re.match(r"TESTFW: BENCH (\S+) (\d+)$", line)
        if m:
            BENCH.append((name, m.group(1), int(m.group(2))))
            continue
        m = re.match(r"TESTFW: (PASS|FAIL) (\S+)(?:: (.*))?$", line)
        if m:
            results.append((m.group(1) == "PASS", m.group(2), m.group(3) or ""))
        elif line.startswith("TESTFW: DONE"):
            done = True
    if timed_out:
        results.append((False, "finished", f"no result within {timeout} s (hang)"))
    elif not done:
        tail = " | ".join(lines[-3:])
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
        for name, (desc, _) in dict(CASES, **BENCH_CASES).items():
            print(f"{name:32s} {desc}")
        return 0
    known = dict(CASES, **BENCH_CASES)
    for c in a.cases:
        if c not in known:
            print(f"testfw: unknown case {c!r}; see --list", file=sys.stderr)
            return 2
    if not os.path.exists(FW):
        print(f"testfw: {FW} is missing: run 'make testfw'", file=sys.stderr)
        return 2
    passed = failed = skipped = 0

    def report(label, results):
        nonlocal passed, failed
        for ok, check, why in results:
            print(f"{'PASS' if ok else 'FAIL'}  testfw {label}/{check}" + ("" if ok else f": {why}"),
                  flush=True)
            passed += ok
            failed += not ok

    for name in a.cases or CASES:
        report(name, run_case(a.qemu, name, known[name][1]))
    kvm = [c for c in KVM_CASES if not a.cases or c in a.cases]
    why = harness.kvm_smm_missing(a.qemu) if kvm else None
    for name in kvm:
        if why:
            print(f"SKIP  testfw kvm/{name}: {why}", flush=True)
            skipped += 1
        else:
            report(f"kvm/{name}", run_case(a.qemu, name, known[name][1], accel="kvm"))
    for case, name, value in BENCH:
        print(f"BENCH {case}/{name} {value}")
    print(f"{passed} passed, {failed} failed, {skipped} skipped")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Run the freestanding test firmware (testfw/) under TCG, one QEMU per case.

    tests/testfw/run.py [--list] [--qemu PATH] [--accel tcg|kvm|both] [CASE ...]

Each case prints 'TESTFW: PASS|FAIL check[: why]' lines on the debug
console; every check is reported and counted, and so are the runner's own
(runner-...: the registers of a parked vCPU, a migration).  One more check
per case, 'finished', fails unless the firmware reached 'TESTFW: DONE'
within the time limit (else QEMU is killed), its counts there match its
lines, QEMU's exit status is the one isa-debug-exit gives for them, and
'TESTFW: CASE' came once (not again after a guest reset).  With
--baseline QEMU the TCG SMM cases also run on Debian's QEMU without the
series (baseline/CASE) and must fail the known way (XFAIL).
Every case runs a second time under KVM (kvm/CASE) where KVM supports
SMM; elsewhere each is reported as skipped, with the reason (a failing
probe, e.g. QEMU crashing, is a failure), and tests/nested runs them.
--accel tcg runs the TCG part only, --accel kvm the KVM part only.
Ends with 'N passed, M failed, K skipped'.
"""

import argparse
import os
import re
import select
import shutil
import struct
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "e2e"))
import harness  # noqa: E402
import soak  # noqa: E402
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
    "parked-churn": (
        "400 hot-adds and device_dels of a parked CPU: QEMU frees each one",
        ["-smp", "1,maxcpus=3"] + PARKING),
    "parking-migration": (
        "a parked CPU with its SMBASE set migrates; the destination unparks and runs it",
        ["-smp", "1,maxcpus=2"] + PARKING),
    "hold-io-during-release": (
        "another CPU's PM timer reads go on, none lost, while SMM releases held CPUs",
        ["-smp", "2,maxcpus=4"] + PARKING),
    "hold-tsc": (
        "a released CPU's TSC runs with CPU 0's (skew reported)",
        ["-smp", "1,maxcpus=2"] + PARKING),
    "parking-decode": (
        "SMM write decode: SMBASE widths, commands 5+, out-of-range selector, unpark with other bits",
        ["-smp", "1,maxcpus=2"] + PARKING),
    "hold-device-interrupts": (
        "MSIs (DMA) and IOAPIC-routed interrupts of every delivery mode to a parked CPU are dropped",
        ["-smp", "1,maxcpus=2"] + PARKING),
    "parking-racing-selector": (
        "an OS CPU outside SMM flips selector and command while SMM sets SMBASEs and unparks",
        ["-smp", "1,maxcpus=4"] + PARKING),
    "parking-smi-waits-for-sipi": (
        "SMM reads (status bit 6) that an unparked CPU waiting for SIPI holds the SMI pending",
        ["-smp", "1,maxcpus=2"] + PARKING),
    "parking-feature-control": (
        "SMM gives a parked CPU its MSR_IA32_FEATURE_CONTROL (command 5); the OS finds it set",
        ["-smp", "1,maxcpus=2", "-cpu", "qemu64,lmce=on"] + PARKING),
}
# opt/testfw/msi: MSI data with delivery mode INIT, SMI, NMI, StartUp
# (vector 0x0a, the OS's AP code) and fixed (vector 0x40), as
# hold-device-interrupts sends them by DMA (testfw/parking.c, msi_kinds)
MSI_DATA = (0x500, 0x200, 0x400, 0x600 | 0x0a, 0x40)

# run again with -accel kvm where the host's KVM supports SMM, else nested
# (tests/nested): every case; KVM's own SMM handling (INIT held in SMM, an
# SMI pending in wait-for-SIPI) as much as parking
# parked-churn measures a TCG leak (the regions of tcg_cpu_realizefn()),
# and 400 vCPU creations nested under KVM take minutes: TCG only
KVM_CASES = [c for c in CASES if c != "parked-churn"]


# cases that need KVM on an Intel host: it has MSR_IA32_FEATURE_CONTROL and
# LMCE only with VMX (kvm-intel)
KVM_INTEL_CASES = ("parking-feature-control",)


def kvm_case_missing(name):
    """Why case @name cannot run under this host's KVM, or None."""
    if name not in KVM_INTEL_CASES:
        return None
    with open("/proc/cpuinfo") as f:
        vendor = next((ln.split(":")[1].strip() for ln in f if ln.startswith("vendor_id")), "?")
    if vendor != "GenuineIntel":
        return (f"needs MSR_IA32_FEATURE_CONTROL and LMCE, which KVM has only on Intel "
                f"hosts; this one is {vendor}")
    return None
# Debian's QEMU without this series (make qemu-baseline) fails these TCG
# SMM cases, and the known way: exactly the checks named fail, each with a
# message that matches.  With --baseline PATH they run on that QEMU too,
# as baseline/CASE: XFAIL (counted as passed) when they fail that way, FAIL
# otherwise, an unexpected pass included.  That shows the suite can fail.
BASELINE_XFAIL = {
    "init-held-in-smm": (
        "unpatched TCG takes INIT in SMM at once: the SMI handler stops and never reaches RSM",
        {"init-held-in-smm": r"the SMI handler stopped running after INIT",
         "rsm-after-init": r"the SMI handler never reached RSM"}),
    "smi-pending-in-wait-for-sipi": (
        "unpatched TCG takes an SMI in wait-for-SIPI at once, from the CPU's reset state",
        {"smi-held-in-wait-for-sipi": r"the AP entered SMM from wait-for-SIPI"}),
}


def judge_xfail(case, results):
    """(outcome, detail) of a baseline run: XFAIL if exactly the expected
    checks failed with the expected messages, else FAIL (XPASS if all
    passed)."""
    want = BASELINE_XFAIL[case][1]
    failed = {check: why for ok, check, why in results if not ok}
    if not failed:
        return "XPASS", "passed, but Debian's QEMU is expected to fail it"
    wrong = [f"{c}: {w}" for c, w in failed.items()
             if c not in want or not re.search(want[c], w)]
    missing = [c for c in want if c not in failed]
    if wrong or missing:
        return "FAIL", "; ".join([f"failed otherwise than known: {w}" for w in wrong] +
                                 [f"{c} did not fail" for c in missing])
    return "XFAIL", "; ".join(f"{c}: {w}" for c, w in failed.items())


# run by bench/parking_smi.py, not by default
BENCH_CASES = {
    "bench-parking-smi": (
        "hotplug SMI cost: plain SMI vs SMI that sets SMBASE and unparks",
        ["-smp", "1,maxcpus=7"] + PARKING),
}


BENCH = []      # (case, name, value) from 'TESTFW: BENCH name value'


def hotplug(qmp, n, added, slots_of=None):
    """Add n CPUs into the lowest free slots; returns an error or None.
    slots_of, if given, gets each new device's slot (dev_id -> slot)."""
    slots = harness.free_slots(qmp)
    for slot in slots[:n]:
        dev_id = f"tcpu{len(added)}"
        try:
            harness.device_add_cpu(qmp, slot, dev_id)
        except QMPError as e:
            return e.desc
        added.append(dev_id)
        if slots_of is not None:
            slots_of[dev_id] = slot
    return None if len(slots) >= n else f"only {len(slots)} free slots"


def parked_regs(qmp, index, accel):
    """None if vCPU @index is still in its reset state (CS:IP f000:fff0, not
    in SMM, under TCG halted), else what it shows."""
    for cpu, f in harness.cpu_registers(qmp.hmp("info registers -a")):
        if cpu != index:
            continue
        got = {"IP": f["RIP"], "CS": f["CS"], "SMM": f["SMM"], "HLT": f["HLT"]}
        ok = (int(got["IP"], 16) == 0xfff0 if got["IP"] != "?" else False) and \
            got["CS"] == "f000" and got["SMM"] == "0" and (accel != "tcg" or got["HLT"] == "1")
        return None if ok else " ".join(f"{k}={v}" for k, v in got.items())
    return f"no CPU#{index} in 'info registers -a'"


CHURN_WARMUP = 100
CHURN_BOUND_KIB = 12        # per cycle, least-squares slope after the warm-up


def churn(qmp, pid, n):
    """n times: device_add a CPU (it must be parked), device_del it (it
    must be gone at once).  None, or why not.  QEMU's RSS (without TCG's
    code buffer) is sampled every 10 cycles after CHURN_WARMUP, and its
    least-squares slope must stay below CHURN_BOUND_KIB per cycle.  A QEMU
    that keeps every X86CPU under TCG (before 'target/i386/tcg: free the
    X86CPU of an unplugged CPU') grows about 24 KiB per cycle; with it, a
    heap profile shows no QEMU allocation left per cycle, and what RSS
    still does is the allocator's, noisy and levelling off."""
    xs, ys = [], []
    for i in range(n):
        if i >= CHURN_WARMUP and i % 10 == 0:
            xs.append(i)
            ys.append(soak.rss_kib(pid)[0])
        slot = harness.free_slots(qmp)[0]
        harness.device_add_cpu(qmp, slot, "churn")
        park = qmp.cmd("qom-get", path="/machine/peripheral/churn", property="x-hotplug-park")
        if park != 1:
            return f"cycle {i + 1}: the new CPU has park state {park}, expected 1 (parked)"
        qmp.cmd("device_del", id="churn")
        end = time.monotonic() + 10
        while any(s.get("qom-path") == "/machine/peripheral/churn"
                  for s in qmp.cmd("query-hotpluggable-cpus")):
            if time.monotonic() > end:
                return f"cycle {i + 1}: the parked CPU was still there 10 s after device_del"
            time.sleep(0.01)
    slope = soak.slope(ys) / 10         # one sample every 10 cycles
    print(f"      churn: QEMU RSS {ys[-1] - ys[0]:+d} KiB over cycles {xs[0]}-{xs[-1]}, "
          f"{slope:.1f} KiB per cycle (bound {CHURN_BOUND_KIB})", flush=True)
    if slope >= CHURN_BOUND_KIB:
        return (f"QEMU's RSS (without TCG's code buffer) grows {slope:.1f} KiB per "
                f"hot-add/device_del cycle of a parked CPU (cycles {xs[0]}-{xs[-1]}; "
                f"bound {CHURN_BOUND_KIB} KiB)")
    return None


def wait_qmp_status(qmp, query, key, until, timeout=30):
    """Poll QMP @query until its @key is in @until; returns the last value."""
    end = time.monotonic() + timeout
    while True:
        r = qmp.cmd(query)
        st = r.get(key)
        if st in until or time.monotonic() > end:
            return st, r
        time.sleep(0.02)


def judge(name, lines, rc, timed_out, timeout):
    """The results of one run of a case from its debug console @lines and
    QEMU's exit status @rc: each 'TESTFW: PASS|FAIL' line, and a check
    'finished' that the firmware reached DONE, counted what the lines show,
    exited through isa-debug-exit with the matching status, and ran the
    case once (a second 'TESTFW: CASE' means the guest reset and ran it
    again)."""
    results, fw = [], [0, 0]
    done = None
    runs = 0
    for line in lines:
        m = re.match(r"TESTFW: BENCH (\S+) (\d+)$", line)
        if m:
            BENCH.append((name, m.group(1), int(m.group(2))))
            continue
        m = re.match(r"TESTFW: (PASS|FAIL) (\S+)(?:: (.*))?$", line)
        if m:
            ok = m.group(1) == "PASS"
            results.append((ok, m.group(2), m.group(3) or ""))
            if not m.group(2).startswith("runner-"):
                fw[not ok] += 1
            continue
        m = re.match(r"TESTFW: DONE (\d+) passed, (\d+) failed$", line)
        if m:
            done = (int(m.group(1)), int(m.group(2))) if done is None else "twice"
        elif line.startswith("TESTFW: CASE "):
            runs += 1
        elif line.startswith("TESTFW: NOTE "):
            # something the case tolerated, shown so that it is seen
            print(f"NOTE  {name}: {line[len('TESTFW: NOTE '):].strip()}", flush=True)
        elif "Blocked re-entrant IO" in line:
            # QEMU dropped a guest access: a device callback reentered
            results.append((False, "no-io-dropped", line.strip()))
    why = None
    if timed_out:
        why = f"no result within {timeout} s (hang)"
    elif done is None:
        why = "QEMU ended without DONE: " + " | ".join(lines[-3:])
    elif runs != 1:
        why = f"'TESTFW: CASE' printed {runs} times: the guest reset and ran the case again"
    elif done == "twice":
        why = "'TESTFW: DONE' printed twice"
    elif done != tuple(fw):
        why = (f"the firmware counted {done[0]} passed, {done[1]} failed; its lines "
               f"show {fw[0]} passed, {fw[1]} failed")
    elif rc != (3 if done[1] else 1):
        why = (f"QEMU exited {rc}, expected {3 if done[1] else 1} (isa-debug-exit with "
               f"{int(bool(done[1]))})")
    results.append((why is None, "finished", why or ""))
    return results


def run_case(qemu, name, extra, timeout=60, accel="tcg", fw=None):
    """Run case @name in QEMU; returns [(ok, check, why)] (see judge).
    Serves the firmware's requests: 'TESTFW: HOTPLUG n' adds n CPUs
    through QMP, 'TESTFW: UNPLUG k' device_dels the k-th one,
    'TESTFW: PARKED-REGS i' checks that vCPU i is still in its reset
    state, 'TESTFW: MIGRATE' stops QEMU, migrates it to a file and goes on
    in a second QEMU started from it (with the hot-added CPUs on its
    command line and the fw_cfg file opt/testfw/migrated)."""
    tmp = tempfile.mkdtemp(prefix="testfw-")
    sock = os.path.join(tmp, "qmp.sock")
    # every case gets opt/testfw/msi: MSI data words a device can send
    msi = os.path.join(tmp, "msi")
    with open(msi, "wb") as f:
        f.write(struct.pack("<5I", *MSI_DATA))
    args = [qemu, "-machine", "q35,smm=on", "-accel", accel, "-nodefaults",
            "-display", "none", "-bios", fw or FW,
            "-chardev", "stdio,id=dbg", "-device", "isa-debugcon,iobase=0x402,chardev=dbg",
            "-device", "isa-debug-exit,iobase=0xf4,iosize=4",
            "-qmp", f"unix:{sock},server=on,wait=off",
            "-fw_cfg", f"name=opt/testfw/case,string={name}",
            "-fw_cfg", f"name=opt/testfw/msi,file={msi}"] + extra

    def spawn(more=()):
        return subprocess.Popen(args + list(more), stdin=subprocess.DEVNULL,
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT)

    p = spawn()
    lines, buf, added, slots_of = [], b"", [], {}
    qmp = None
    deadline = time.monotonic() + timeout
    timed_out = stop = False

    def runner_check(check, err):
        lines.append(f"TESTFW: FAIL runner-{check}: {err}" if err
                     else f"TESTFW: PASS runner-{check}")

    def migrate():
        """Source -> file -> destination; None, or why not."""
        nonlocal p, qmp
        state = os.path.join(tmp, "state")
        qmp.cmd("stop")
        qmp.cmd("migrate", uri=f"file:{state}")
        st, r = wait_qmp_status(qmp, "query-migrate", "status", ("completed", "failed"))
        if st != "completed":
            return f"migration to a file ended '{st}': {r.get('error-desc', '')}"
        qmp.cmd("quit")
        qmp.close()
        qmp = None
        p.wait(timeout=10)
        try:
            os.unlink(sock)
        except FileNotFoundError:
            pass
        more = ["-fw_cfg", "name=opt/testfw/migrated,string=1",
                "-incoming", f"file:{state}"]
        for dev_id in added:
            slot = slots_of[dev_id]
            more += ["-device", ",".join([slot["type"], f"id={dev_id}"] +
                                         [f"{k}={v}" for k, v in slot["props"].items()])]
        p = spawn(more)
        qmp = QMP(sock, timeout=10)
        st, _ = wait_qmp_status(qmp, "query-status", "status", ("paused", "running",
                                                                "postmigrate", "shutdown"))
        if st != "paused":
            return f"the destination is '{st}' after loading the state, expected paused"
        # the hot-added CPU arrived parked with its SMBASE set (state 2)
        for dev_id in added:
            park = qmp.cmd("qom-get", path=f"/machine/peripheral/{dev_id}",
                           property="x-hotplug-park")
            runner_check("migrated-park-state", None if park == 2 else
                         f"{dev_id} has park state {park} on the destination, expected 2 "
                         "(parked, SMBASE set)")
        qmp.cmd("cont")
        return None

    try:
        while not stop:
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
                m = re.match(r"TESTFW: (HOTPLUG|UNPLUG|PARKED-REGS|MIGRATE|CHURN) ?(\d*)$",
                             line)
                if not m or m.group(1) == "HOTPLUG" and not int(m.group(2)):
                    continue
                what, n = m.group(1), int(m.group(2) or 0)
                try:
                    if qmp is None:
                        qmp = QMP(sock, timeout=10)
                    if what == "HOTPLUG":
                        err = hotplug(qmp, n, added, slots_of)
                        if err:
                            runner_check("hotplug", err)
                    elif what == "UNPLUG":
                        qmp.cmd("device_del", id=added[n - 1])
                    elif what == "CHURN":
                        runner_check("churn-frees-cpus", churn(qmp, p.pid, n))
                        err = hotplug(qmp, 2, added, slots_of)   # "done"
                        if err:
                            runner_check("hotplug", err)
                    elif what == "PARKED-REGS":
                        runner_check(f"parked-regs-cpu{n}", parked_regs(qmp, n, accel))
                    else:
                        err = migrate()
                        runner_check("migrate", err)
                        buf = b""       # the rest came from the source
                        stop = bool(err)
                        break
                except (OSError, QMPError, IndexError, subprocess.TimeoutExpired) as e:
                    runner_check(what.lower(), f"{type(e).__name__}: {e}")
                    stop = what == "MIGRATE"
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
        shutil.rmtree(tmp, ignore_errors=True)
    return judge(name, lines, None if timed_out else p.returncode, timed_out, timeout)


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("cases", nargs="*")
    ap.add_argument("--list", action="store_true")
    ap.add_argument("--qemu", default=os.environ.get("QEMU", DEFAULT_QEMU))
    ap.add_argument("--accel", choices=["tcg", "kvm", "both"], default="both",
                    help="tcg: the cases under TCG only; kvm: under KVM only (any named "
                    "case, default KVM_CASES); both (default): TCG, then KVM_CASES under KVM")
    ap.add_argument("--fw", default=FW, help="the test firmware image (default: %(default)s)")
    ap.add_argument("--baseline", metavar="QEMU",
                    help="also run the BASELINE_XFAIL cases (those named, else all) on this "
                    "QEMU without the series, expecting their known failure")
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
    if not os.path.exists(a.fw):
        print(f"testfw: {a.fw} is missing: run 'make testfw'", file=sys.stderr)
        return 2
    passed = failed = skipped = 0

    def report(label, results):
        nonlocal passed, failed
        for ok, check, why in results:
            print(f"{'PASS' if ok else 'FAIL'}  testfw {label}/{check}" + ("" if ok else f": {why}"),
                  flush=True)
            passed += ok
            failed += not ok

    for name in (a.cases or CASES) if a.accel != "kvm" else []:
        report(name, run_case(a.qemu, name, known[name][1], fw=a.fw))
    if a.accel == "kvm":
        kvm = a.cases or KVM_CASES
    else:
        kvm = [c for c in KVM_CASES if a.accel == "both" and (not a.cases or c in a.cases)]
    why = probe_failed = None
    try:
        why = harness.kvm_smm_missing(a.qemu) if kvm else None
    except harness.KVMProbeError as e:
        probe_failed = str(e)
    for name in kvm:
        missing = why or kvm_case_missing(name)
        if probe_failed:
            print(f"FAIL  testfw kvm/{name}: {probe_failed}", flush=True)
            failed += 1
        elif missing:
            print(f"SKIP  testfw kvm/{name}: {missing}", flush=True)
            skipped += 1
        else:
            report(f"kvm/{name}", run_case(a.qemu, name, known[name][1], accel="kvm",
                                           fw=a.fw))
    for name in [c for c in BASELINE_XFAIL if not a.cases or c in a.cases] if a.baseline else []:
        if not os.path.exists(a.baseline):
            outcome, detail = "FAIL", f"{a.baseline} is missing: run 'make qemu-baseline'"
        else:
            outcome, detail = judge_xfail(name, run_case(a.baseline, name, known[name][1],
                                                         fw=a.fw))
        print(f"{outcome:5s} testfw baseline/{name}: {detail}" +
              (f"\n      expected: {BASELINE_XFAIL[name][0]}" if outcome == "XFAIL" else ""),
              flush=True)
        passed += outcome == "XFAIL"
        failed += outcome != "XFAIL"
    for case, name, value in BENCH:
        print(f"BENCH {case}/{name} {value}")
    print(f"{passed} passed, {failed} failed, {skipped} skipped")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

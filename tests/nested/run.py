#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Run the KVM cases nested: our QEMU under TCG (L0) boots a Linux guest
(L1) whose KVM has SMM (TCG emulates AMD SVM), and L1 runs the KVM cases
with our QEMU under KVM (L2).  For hosts whose own KVM has no SMM.

    tests/nested/run.py [--list] [--all] [--qemu PATH] [--smp N] [NAME ...]

NAME is kvm/CASE (a tests/testfw case, run with --accel kvm) or an e2e
scenario (ovmf-parking-kvm-*); no NAME runs the default set (--list shows
which), --all every KVM case.  The L1 image is built first
(tests/nested/mkimage.py; only when an input changed).

L1 streams its runners' lines back over its serial console; they are
printed here as 'PASS  nested ...', 'FAIL  nested ...: why',
'SKIP  nested ...: reason', and counted here: a runner whose summary or
exit status disagrees with its lines, or that reports nothing, fails.
Every wait is bounded.  If L0 dies or an item overruns its time, the item
fails with L0's last words and L1 is booted again for the items after it.
Ends with 'N passed, M failed, K skipped'.
"""

import argparse
from collections import Counter as Counter_
import importlib.util
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
TESTS = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(TESTS, "e2e"))
import harness  # noqa: E402
from qmp import QMP  # noqa: E402


def _testfw():
    spec = importlib.util.spec_from_file_location("testfw_run",
                                                  os.path.join(TESTS, "testfw", "run.py"))
    m = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(m)
    return m


TESTFW = _testfw()
CACHE = harness.CACHE
DEFAULT_QEMU = os.path.join(CACHE, "build", "qemu", "qemu-system-x86_64")
IMAGE = os.path.join(CACHE, "nested", "l1.cpio")
KERNEL = os.path.join(CACHE, "guest", "vmlinuz")

E2E_ALL = [n for n in harness.all_names()
           if harness.FIRMWARE[harness.split_name(n)[0]].get("accel") == "kvm"]
# what 'make check' runs; --all (make nested NESTED=--all) runs E2E_ALL.
# add3 is left to --all: four L2 vCPUs on one emulated L1 vCPU stall for
# more than the scenario's 10 s liveness window at a time (every SMI
# rendezvous waits out OVMF's AP sync timeouts, and L2's timers run late:
# "hrtimer: interrupt took 44 ms"); it failed so in 3 of 4 runs, with the
# hot-added CPUs online and taking SMIs.
# add1-late-online too: nested, the freeze of an SMI with the offline CPU
# counted out was 0.5 s with a scan on every poll of the SMI rendezvous and
# 0.8-1.2 s with the scan every 64 polls that OVMF does now (over the 0.9 s
# bound, which is for TCG; the L2 baseline is not measured); testfw
# kvm/parking-smi-waits-for-sipi covers the KVM side in the default set.
# add3-in-smi has the four L2 vCPUs of add3.
E2E_DEFAULT = [n for n in E2E_ALL
               if not n.endswith(("-add3", "-add1-late-online", "-add3-in-smi"))]
BOOT_TIMEOUT = 180          # L0 start -> NESTED: READY
# An item fails when L1 prints nothing for ITEM_QUIET seconds, or when it
# has not ended after ITEM_TIMEOUT.  e2e runners echo the guest's progress
# lines and QEMU's trace as they come (SMMHP_E2E_ECHO, kept here and shown
# only when the item fails), and after 60 s without guest output they echo
# where L2's vCPUs are; their longest single wait nested is 6 x 20 s for
# a CPU (6 x 60 s for a burst of 3 in the soak).  Measured nested: testfw
# 2-8 s, e2e 30-100 s, the soak 55-180 s.
ITEM_QUIET = {"testfw": 240, "e2e": 240}
ITEM_TIMEOUT = {"testfw": 240, "e2e": 900}
# L1's console shows only its kernel's emergencies (dmesg -n 1); after one of
# these an item gets LOCKUP_GRACE seconds more, not the rest of its time
LOCKUP = re.compile(r"soft lockup|hung_task|self-detected stall|Kernel panic|BUG:")
LOCKUP_GRACE = 120
LOGLEVEL = int(os.environ.get("SMMHP_NESTED_LOGLEVEL", "1"))
# an item during which L1 itself stalled runs again in a fresh L1, at most
# twice (stalls were seen in about 1 of 12 e2e runs), 3 retries a run at most
MAX_RETRIES = 2
MAX_RETRIES_RUN = 3
RESULT = re.compile(r"^(PASS|FAIL|SKIP|XFAIL|XPASS)\s+(.*)$")
SUMMARY = re.compile(r"^(\d+) passed, (\d+) failed(?:, (\d+) skipped)?$")


def item_of(name):
    if name.startswith("kvm/") and name[4:] in TESTFW.CASES:
        return "testfw:" + name[4:]
    if name in E2E_ALL:
        return "e2e:" + name
    raise ValueError(f"unknown nested case {name!r}; see --list")


def label(item):
    kind, _, name = item.partition(":")
    return f"testfw kvm/{name}" if kind == "testfw" else f"e2e {name}"


class Counter:
    def __init__(self):
        self.passed = self.failed = self.skipped = 0

    def out(self, verdict, text):
        print(f"{verdict:5s} nested {text}", flush=True)
        if verdict in ("PASS", "XFAIL"):
            self.passed += 1
        elif verdict == "SKIP":
            self.skipped += 1
        else:
            self.failed += 1


class L0:
    """One L0 QEMU booting L1; serial lines and stderr collected by threads."""

    def __init__(self, qemu, items, smp, mem):
        self.args = [qemu, "-accel", "tcg", "-machine", "q35", "-cpu", "max",
                     "-m", str(mem), "-smp", str(smp), "-nodefaults", "-display", "none",
                     "-serial", "stdio", "-monitor", "none", "-no-reboot",
                     "-kernel", KERNEL, "-initrd", IMAGE,
                     "-append", "console=ttyS0 quiet panic=-1 nested.run=" + ",".join(items) +
                     f" nested.loglevel={LOGLEVEL}"]
        self.tmp = tempfile.mkdtemp(prefix="nested-")
        self.sock = os.path.join(self.tmp, "qmp.sock")
        self.args += ["-qmp", f"unix:{self.sock},server=on,wait=off"]
        self.t0 = time.monotonic()
        self.proc = subprocess.Popen(self.args, stdin=subprocess.DEVNULL,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self.lines = []
        self.stderr = []
        self.ktext = None           # L1's _text, from its 'NESTED: KTEXT' line
        self.cond = threading.Condition()
        threading.Thread(target=self._read, daemon=True).start()
        threading.Thread(target=self._readerr, daemon=True).start()

    def _read(self):
        for raw in self.proc.stdout:
            text = raw.decode("utf-8", "replace").replace("\r", "").rstrip("\n")
            with self.cond:
                self.lines.append(text)
                self.cond.notify_all()
        with self.cond:
            self.lines.append(None)         # end of output
            self.cond.notify_all()

    def _readerr(self):
        for raw in self.proc.stderr:
            self.stderr.append(raw.decode("utf-8", "replace").rstrip())

    def next_line(self, i, deadline):
        """Line i, or None at the end of output, or False on timeout."""
        with self.cond:
            while len(self.lines) <= i:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self.cond.wait(min(left, 1.0))
            return self.lines[i]

    def death(self):
        """Why L0 is gone (or that it is not), with its stderr tail."""
        try:
            rc = self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            return "L0 QEMU stopped printing but is still running"
        how = f"killed by signal {-rc}" if rc < 0 else f"exited {rc}"
        tail = [s for s in self.stderr if s.strip()][-4:]
        return f"L0 QEMU {how}" + (": " + " | ".join(tail) if tail else " (no message)")

    def l1_state(self, samples=8, every=0.25):
        """What L0 sees of a silent L1, as lines: run state and, per vCPU,
        where it is (RIP, CS, halted, SMM, CPL, RFLAGS' IF) in @samples
        looks @every s apart; a RIP in L1's kernel text is also given as
        an offset from _text (L1 prints its KASLR base at boot)."""
        if self.proc.poll() is not None:
            return []
        try:
            q = QMP(self.sock, timeout=10)
            try:
                out = [f"L0: L1 is {q.cmd('query-status')['status']}"]
                seen = {}
                for n in range(samples):
                    if n:
                        time.sleep(every)
                    for cpu, f in harness.cpu_registers(q.hmp("info registers -a")):
                        seen.setdefault(cpu, []).append(f)
                for cpu, fs in sorted(seen.items()):
                    ips = Counter_(f["RIP"] for f in fs)
                    where = ", ".join(f"{ip}{self._ktext_offset(ip)} x{k}"
                                      for ip, k in ips.most_common(4))
                    last = fs[-1]
                    out.append(f"L0: L1 vCPU {cpu}: CS={last['CS']} HLT={last['HLT']} "
                               f"SMM={last['SMM']} CPL={last['CPL']} "
                               f"IF={'/'.join(sorted(set(f['IF'] for f in fs)))}; "
                               f"RIP in {len(fs)} looks over {(len(fs) - 1) * every:.1f} s: "
                               f"{where}")
                return out
            finally:
                q.close()
        except Exception as e:  # noqa: BLE001 - diagnostics are best effort
            return [f"L0: no state of L1 ({type(e).__name__}: {e})"]

    def _ktext_offset(self, rip):
        """' (_text+0x...)' for a RIP in L1's kernel image, else ''."""
        try:
            off = int(rip, 16) - self.ktext
        except (TypeError, ValueError):
            return ""
        return f" (_text+{off:#x})" if 0 <= off < (64 << 20) else ""

    def tail(self, n=4):
        with self.cond:
            return [s for s in self.lines[-n:] if s]

    def stop(self):
        if self.proc.poll() is None:
            try:
                self.proc.wait(timeout=30)      # L1 powers itself off
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        shutil.rmtree(self.tmp, ignore_errors=True)


def run_item_lines(l0, i, item, count, may_retry=False):
    """Consume one item's output from line index i.  Returns (next index,
    finished): finished is False when L0 died or the item overran, after
    the item has been reported failed; or None when L1 went silent and
    @may_retry: it is reported as RETRY and the caller runs it again in a
    fresh L1.  An item's results are held until it ends, so that a retried
    attempt counts nothing (its results are shown, marked as not counted)."""
    kind = item.split(":", 1)[0]
    t0 = time.monotonic()
    deadline = t0 + ITEM_TIMEOUT[kind]
    echoed = []                 # the runner's progress lines ('  ~ ...')
    results = []                # (verdict, text), counted when the item ends
    summary = None
    prefix = "" if kind == "testfw" else "e2e "
    lockup = None
    while True:
        line = l0.next_line(i, min(deadline, time.monotonic() + ITEM_QUIET[kind]))
        if line is False or line is None:
            if line is None:
                why = l0.death()
            elif time.monotonic() >= deadline:
                why = f"no result within {time.monotonic() - t0:.0f} s"
            else:
                why = (f"no result, L1 silent for {ITEM_QUIET[kind]} s "
                       f"({time.monotonic() - t0:.0f} s in all)")
            if echoed:
                print(f"      the runner's last progress lines ({len(echoed)} in all):")
                for s in echoed[-40:]:
                    print(f"      {s}")
            if lockup:
                why += f" (L1's kernel: {lockup})"
            if line is False and may_retry:
                # L1 itself stalled (its own runner's waits are bounded far
                # below this): the nested setup, not the case; once more
                print(f"RETRY nested {label(item)}: {why}; again in a fresh L1",
                      flush=True)
                for verdict, text in results:
                    print(f"      not counted: {verdict} {text}")
                for s in l0.tail() + l0.l1_state():
                    print(f"      {s}")
                return i, None
            for verdict, text in results:
                count.out(verdict, text)
            count.out("FAIL", f"{label(item)}: {why}")
            for s in l0.tail():
                print(f"      L1 | {s}")
            for s in l0.l1_state() if line is False else []:
                print(f"      {s}")
            return i, False
        i += 1
        if line.startswith("NESTED| "):
            text = line[8:]
            m = RESULT.match(text)
            s = SUMMARY.match(text)
            if m:
                results.append((m.group(1), prefix + m.group(2)))
            elif s:
                summary = tuple(int(x or 0) for x in s.groups())
            elif text.startswith("  ~ "):
                echoed.append(text[2:])
            else:
                print(f"      {text}" if not text.startswith(" ") else text, flush=True)
            continue
        m = re.match(r"NESTED: END (\S+) rc=(-?\d+)", line)
        if m and m.group(1) == item:
            rc = int(m.group(2))
            for verdict, text in results:
                count.out(verdict, text)
            seen = Counter_(verdict for verdict, _ in results)
            mine = (seen["PASS"] + seen["XFAIL"], seen["FAIL"] + seen["XPASS"], seen["SKIP"])
            if summary is None:
                count.out("FAIL", f"{label(item)}: the runner printed no summary (exit {rc})")
            elif summary != mine:
                count.out("FAIL", f"{label(item)}: the runner's summary {summary} disagrees "
                          f"with its lines {mine}")
            elif sum(mine) == 0:
                count.out("FAIL", f"{label(item)}: the runner reported nothing")
            elif (rc != 0) != (mine[1] > 0):
                count.out("FAIL", f"{label(item)}: the runner exited {rc} with "
                          f"{mine[1]} failures")
            print(f"nested: {label(item)} took {time.monotonic() - t0:.1f} s", flush=True)
            return i, True
        if line.startswith("NESTED: "):
            print(f"      L1 | {line}", flush=True)
        elif line.strip():
            # L1's kernel: an emergency (e.g. a vCPU thread stuck in KVM)
            print(f"      L1 | {line}", flush=True)
            if LOCKUP.search(line) and not lockup:
                lockup = line.strip()
            if LOCKUP.search(line) and deadline > time.monotonic() + LOCKUP_GRACE:
                deadline = time.monotonic() + LOCKUP_GRACE
                print(f"      (L1's kernel is in trouble: {LOCKUP_GRACE} s more for "
                      f"{label(item)})", flush=True)


def run(qemu, items, smp, mem, count):
    """Boot L1 as often as needed to get a result for every item."""
    todo = list(items)
    retried = Counter_()
    while todo:
        l0 = L0(qemu, todo, smp, mem)
        clean = False
        try:
            i = 0
            deadline = time.monotonic() + BOOT_TIMEOUT
            why = None
            while True:
                line = l0.next_line(i, deadline)
                if line is False:
                    why = f"L1 did not get ready within {BOOT_TIMEOUT} s"
                    break
                if line is None:
                    why = "L1 did not get ready: " + l0.death()
                    break
                i += 1
                if line.startswith("NESTED: NOKVM "):
                    for item in todo:
                        count.out("SKIP", f"{label(item)}: {line[14:]}")
                    return
                if line.startswith("NESTED: KTEXT "):
                    try:
                        l0.ktext = int(line.split()[-1], 16) or None  # 0: hidden
                    except ValueError:
                        pass
                if line.startswith("NESTED: READY"):
                    print(f"nested: L1 up with /dev/kvm in {time.monotonic() - l0.t0:.1f} s "
                          f"(guest uptime {line.split()[-1]} s)", flush=True)
                    break
            if why:
                tail = l0.tail()
                for item in todo:
                    count.out("FAIL", f"{label(item)}: {why}")
                for s in tail:
                    print(f"      L1 | {s}")
                return
            while todo:
                item = todo[0]
                line = l0.next_line(i, time.monotonic() + ITEM_TIMEOUT["testfw"])
                if line and line.startswith(f"NESTED: BEGIN {item} "):
                    i += 1
                    i, finished = run_item_lines(
                        l0, i, item, count,
                        may_retry=retried[item] < MAX_RETRIES and
                        sum(retried.values()) < MAX_RETRIES_RUN)
                    if finished is None:
                        retried[item] += 1  # the same item first, in a new L1
                        break
                    todo.pop(0)
                    if not finished:
                        break               # boot L1 again for the rest
                    continue
                if line and not line.startswith("NESTED: BEGIN "):
                    i += 1                  # kernel noise between items
                    continue
                # L1 died between items, or began something else
                why = l0.death() if line is None else (
                    "L1 went silent" if line is False else f"L1 began {line[14:]}")
                count.out("FAIL", f"{label(item)}: never began: {why}")
                todo.pop(0)
                break
            else:
                clean = True
        finally:
            if l0.proc.poll() is None and not clean:
                l0.proc.kill()
            l0.stop()


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("names", nargs="*")
    ap.add_argument("--list", action="store_true")
    ap.add_argument("--all", action="store_true", help="every KVM case")
    ap.add_argument("--qemu", default=os.environ.get("QEMU", DEFAULT_QEMU),
                    help="L0 QEMU (the one copied into L1 is always ours)")
    # 1 rather than 2: with 2, the e2e scenarios ran about 20 % faster, but
    # once L1 locked up (a vCPU thread stuck in KVM for minutes) and once a
    # testfw case hung, neither seen with 1
    ap.add_argument("--smp", type=int, default=1, help="L1 vCPUs (default 1)")
    ap.add_argument("--mem", type=int, default=3072, help="L1 memory, MiB")
    a = ap.parse_args()
    testfw = [f"kvm/{c}" for c in TESTFW.KVM_CASES]
    if a.list:
        for n in testfw + E2E_ALL:
            where = "" if n in testfw or n in E2E_DEFAULT else "  (--all)"
            print(f"{n}{where}")
        return 0
    try:
        names = a.names or testfw + (E2E_ALL if a.all else E2E_DEFAULT)
        items = [item_of(n) for n in names]
    except ValueError as e:
        print(f"nested: {e}", file=sys.stderr)
        return 2
    t = time.monotonic()
    r = subprocess.run([sys.executable, os.path.join(HERE, "mkimage.py")])
    count = Counter()
    if r.returncode:
        for item in items:
            count.out("FAIL", f"{label(item)}: the L1 image could not be built "
                      "(tests/nested/mkimage.py)")
    else:
        print(f"nested: image ready in {time.monotonic() - t:.1f} s", flush=True)
        run(a.qemu, items, a.smp, a.mem, count)
    print(f"nested: {time.monotonic() - t:.0f} s in all", flush=True)
    print(f"{count.passed} passed, {count.failed} failed, {count.skipped} skipped")
    return 1 if count.failed else 0


if __name__ == "__main__":
    sys.exit(main())

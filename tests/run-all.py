#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Run every test of the project against the built QEMU and print one
closing line 'N passed, M failed, K skipped'.

Parts, in order:
  lint     both series apply exactly (no fuzz); every QEMU patch is
           checkpatch.pl clean (warnings count), every OVMF patch
           PatchCheck.py clean; the .rst docs the series touches parse;
           the runners' counting rules hold on made-up output (selftest.py)
  qtest    QEMU's own qtests for this area plus ours, each g_test case
           counted on its own (TAP), skips reported with their reason
  testfw   the freestanding test firmware cases of tests/testfw (TCG)
  e2e      the end-to-end scenarios of tests/e2e (Linux guest, TCG)
  kvm      the KVM cases of testfw and e2e: in those parts where this
           host's KVM has SMM, else here, nested (tests/nested: L1 Linux
           under our QEMU's TCG, whose emulated SVM gives it KVM with SMM)

    tests/run-all.py [--only lint|qtest|testfw|e2e|kvm] [-v]
"""

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(HERE, "e2e"))
import harness  # noqa: E402

BUILD = os.path.join(harness.CACHE, "build", "qemu")
QEMU = os.path.join(BUILD, "qemu-system-x86_64")
# Debian's QEMU without our series (make qemu-baseline): the destination
# that must refuse a parked CPU in q35-smi-test's migration-to-old case
BASELINE_QEMU = os.path.join(harness.CACHE, "build", "qemu-baseline", "qemu-system-x86_64")

# (binary under tests/qtest, extra g_test args, timeout in seconds)
QTESTS = [
    ("bios-tables-test", [], 1500),
    ("q35-test", [], 300),
    ("cpu-plug-test", [], 300),
    ("lpc-ich9-test", [], 120),
    ("fw_cfg-test", [], 120),
    ("tco-test", [], 300),
    ("device-plug-test", [], 300),
]


def our_qtests():
    """Our own qtests, one name per line in qemu/qtests.list (which must
    exist and name at least one)."""
    path = os.path.join(TOP, "qemu", "qtests.list")
    with open(path) as f:
        names = [(ln.strip(), [], 600) for ln in f if ln.strip() and not ln.startswith("#")]
    if not names:
        raise ValueError(f"{path} names no qtest")
    return names


# Cases that cannot pass on this host, with the reason; reported as skipped.
_X2APIC = ("260 vCPUs need x2APIC, which the test gets only from KVM adding it to the "
           "default CPU model; the qtests run under TCG here (see tests/tcg-only)")
KNOWN_SKIPS = {
    "bios-tables-test": {
        "/x86_64/acpi/q35/core-count2": _X2APIC,
        "/x86_64/acpi/q35/thread-count2": _X2APIC,
        "/x86_64/acpi/piix4/dimmpxm":
            "Debian's seabios 1.16.3-2 puts the NVDIMM DSM buffer one page higher "
            "than the build the expected SSDT.dimmpxm was made with (MEMA 0x07FFF000, "
            "expected 0x07FFE000); the q35 variant of this case runs and passes",
    },
}

TAP = re.compile(r"^(not ok|ok)\s+\d+\s+(\S+)?(.*)$")


def qtest_env():
    env = dict(os.environ)
    env.setdefault("QTEST_QEMU_BINARY_NOPARK", BASELINE_QEMU)
    return dict(env,
                QTEST_QEMU_BINARY=os.path.join(HERE, "tcg-only", "qemu-system-x86_64"),
                SMMHP_REAL_QEMU=QEMU,
                QTEST_QEMU_STORAGE_DAEMON_BINARY="/nonexistent",
                G_TEST_DBUS_DAEMON="/bin/true")


def list_cases(exe, args):
    out = subprocess.run([exe, "-l"] + args, cwd=BUILD, env=qtest_env(),
                         capture_output=True, text=True, timeout=60).stdout
    return [ln for ln in out.splitlines() if ln.startswith("/") and " " not in ln]


def run_qtest(name, args, timeout, verbose):
    """Run one qtest binary; every listed case ends up passed, failed or
    skipped.  A case that aborts the binary (g_assert) is counted as failed
    and the binary is run again with the cases done so far skipped (-s),
    so one abort does not hide the cases after it."""
    exe = os.path.join(BUILD, "tests", "qtest", name)
    if not os.path.exists(exe):
        return 0, 1, 0, [f"FAIL {name}: not built ({exe})"]
    listed = list_cases(exe, args)
    known = KNOWN_SKIPS.get(name, {})
    t0 = time.monotonic()
    ok = bad = skip = 0
    notes = []
    done = set()
    for case, why in known.items():
        if case in listed:
            skip += 1
            done.add(case)
            notes.append(f"SKIP {name} {case}: {why}")
    deadline = time.monotonic() + timeout
    while True:
        before = set(done)
        skips = [x for c in sorted(before) for x in ("-s", c)]
        left = deadline - time.monotonic()
        try:
            p = subprocess.run([exe, "--tap", "-k"] + args + skips, cwd=BUILD, env=qtest_env(),
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               timeout=max(left, 1))
            out, rc = p.stdout.decode("utf-8", "replace"), p.returncode
        except subprocess.TimeoutExpired as e:
            out, rc = (e.stdout or b"").decode("utf-8", "replace"), None
        for line in out.splitlines():
            m = TAP.match(line)
            if not m or not m.group(2):
                continue
            case, rest = m.group(2), m.group(3)
            if case in before:
                continue                # skipped with -s on this run
            done.add(case)
            if m.group(1) == "not ok":
                # '# TODO' too: g_test_incomplete() is not a pass
                bad += 1
                notes.append(f"FAIL {name} {case}" + (f":{rest}" if rest.strip() else ""))
            elif "# SKIP" in rest:
                skip += 1
                notes.append(f"SKIP {name} {case}:{rest.split('# SKIP', 1)[1]}")
            else:
                ok += 1
        pending = [c for c in listed if c not in done]
        if rc == 0:
            if pending:
                # exit 0 without a result for every case it lists
                bad += len(pending)
                notes.append(f"FAIL {name}: exited 0 without reporting {len(pending)} listed "
                             "cases: " + " ".join(pending[:8]) + (" ..." if len(pending) > 8 else ""))
            if not listed:
                bad += 1
                notes.append(f"FAIL {name}: '-l' listed no cases")
            break
        why = "timed out" if rc is None else f"aborted (exit {rc})"
        if rc is None or not pending:
            bad += 1
            notes.append(f"FAIL {name}: {why}; last lines:")
            notes += ["  | " + s for s in out.splitlines()[-8:]]
            if pending:
                bad += len(pending)
                notes.append(f"FAIL {name}: {len(pending)} cases never ran: "
                             + " ".join(pending[:8]) + (" ..." if len(pending) > 8 else ""))
            break
        bad += 1
        done.add(pending[0])
        notes.append(f"FAIL {name} {pending[0]}: {why}; last lines:")
        notes += ["  | " + s for s in out.splitlines()[-6:] if not s.startswith("# starting")]
    notes.insert(0, f"qtest {name}: {ok} passed, {bad} failed, {skip} skipped "
                    f"({time.monotonic() - t0:.0f} s)")
    return ok, bad, skip, notes


def run_sub(part, cmd):
    """Run a sub-runner that ends with 'N passed, M failed[, K skipped]';
    echo its lines."""
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    last = None
    for raw in p.stdout:
        line = raw.decode("utf-8", "replace").rstrip()
        m = re.match(r"^(\d+) passed, (\d+) failed(?:, (\d+) skipped)?$", line)
        if m:
            last = m
        elif line.startswith(("PASS", "FAIL", "XFAIL", "XPASS", "SKIP")):
            print(f"{part} {line}", flush=True)
        else:
            print(line, flush=True)
    rc = p.wait()
    if not last:
        print(f"FAIL {part}: runner printed no summary (exit {rc})")
        return 0, 1, 0
    ok, bad, skip = int(last.group(1)), int(last.group(2)), int(last.group(3) or 0)
    if rc != (1 if bad else 0):
        # the summary and the exit status disagree: trust neither
        print(f"FAIL {part}: runner exited {rc} after '{last.group(0)}'")
        bad += 1
    return ok, bad, skip


def kvm_nested():
    """Why the KVM cases must run nested here (this host's KVM has no
    SMM), or None: they run directly (when the probe itself fails, the
    testfw and e2e runners report that as a failure)."""
    try:
        return harness.kvm_smm_missing(QEMU)
    except harness.KVMProbeError:
        return None


def kvm_e2e(kvm):
    """The e2e scenario names that run under KVM (kvm=True) or not."""
    return [n for n in harness.all_names()
            if (harness.FIRMWARE[harness.split_name(n)[0]].get("accel") == "kvm") == kvm]


def run_lint():
    """One test per QEMU patch (checkpatch.pl), per OVMF patch
    (PatchCheck.py), per series applying exactly, per .rst document the
    QEMU series adds or changes."""
    ok = bad = 0

    def check(label, cmd, detail, warns=None):
        """Run cmd; PASS if it exits 0 (and, with warns, prints no line that
        matches it), else FAIL with detail(result)."""
        nonlocal ok, bad
        r = subprocess.run(cmd, capture_output=True, text=True)
        if r.returncode == 0 and not (warns and re.search(warns, r.stdout + r.stderr, re.M)):
            ok += 1
            print(f"PASS  lint {label}", flush=True)
        else:
            bad += 1
            print(f"FAIL  lint {label}:\n      " + detail(r).strip().replace("\n", "\n      "))

    # the QEMU tree with the series applied is kept for the .rst check below
    tree = tempfile.mkdtemp(prefix="smmhp-lint-")
    for what in ("qemu", "ovmf"):
        check(f"{what} series applies exactly (no fuzz)",
              ["sh", os.path.join(TOP, "scripts", "patches.sh"), what, "check"]
              + ([tree] if what == "qemu" else []),
              lambda r: r.stderr or r.stdout)
    # edk2's own checker on each OVMF patch (message format and code style)
    edk2 = subprocess.run(["sh", "-c", 'top="$1"; . "$top/scripts/common.sh"; echo "$EDK2_PRISTINE"',
                           "sh", TOP], capture_output=True, text=True).stdout.strip()
    pdir = os.path.join(TOP, "ovmf", "patches")
    for name in sorted(f for f in os.listdir(pdir) if f.endswith(".patch")):
        check(f"PatchCheck.py {name}",
              [sys.executable, os.path.join(edk2, "BaseTools", "Scripts", "PatchCheck.py"),
               os.path.join(pdir, name)],
              lambda r: r.stdout + r.stderr, warns=r"^(WARNING|ERROR)\b")
    r = subprocess.run(["sh", os.path.join(TOP, "scripts", "checkpatch.sh")],
                       capture_output=True, text=True)
    current = None
    for line in r.stdout.splitlines():
        m = re.match(r"^checkpatch: (\S+): (.*)$", line)
        if m:
            name, verdict = m.groups()
            if "has no obvious style problems" in verdict:
                ok += 1
                print(f"PASS  lint checkpatch {name}", flush=True)
            else:
                bad += 1
                print(f"FAIL  lint checkpatch {name}: {verdict}", flush=True)
            current = name
        elif line.startswith(("ERROR", "WARNING")) and current:
            print(f"      {line}")
    if r.returncode != 0 and bad == 0:
        bad += 1
        print(f"FAIL  lint checkpatch: exited {r.returncode}: {r.stderr.strip()}")
    # the reST documents our series adds or changes must parse cleanly
    # (docutils, warnings are errors), as the series leaves them
    qdir = os.path.join(TOP, "qemu", "patches")
    docs = set()
    for name in sorted(os.listdir(qdir)):
        if name.endswith(".patch"):
            with open(os.path.join(qdir, name), encoding="utf-8") as f:
                docs.update(re.findall(r"^\+\+\+ b/(docs/\S+\.rst)$", f.read(), re.M))
    if not docs:
        bad += 1
        print("FAIL  lint rst: the QEMU series changes no .rst document")
    for rel in sorted(docs):
        path = os.path.join(tree, rel)
        chk = subprocess.run(["/usr/bin/python3", os.path.join(HERE, "rst_check.py"), path],
                             capture_output=True, text=True)
        msgs = (chk.stdout + chk.stderr).strip()
        if chk.returncode == 0 and not msgs:
            ok += 1
            print(f"PASS  lint rst {rel}", flush=True)
        else:
            bad += 1
            print(f"FAIL  lint rst {rel}:\n      " + msgs.replace("\n", "\n      "))
    shutil.rmtree(tree, ignore_errors=True)
    # the runners' counting rules, on made-up output
    sok, sbad, _ = run_sub("lint", [sys.executable, os.path.join(HERE, "selftest.py")])
    return ok + sok, bad + sbad


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--only", choices=["lint", "qtest", "fuzz", "testfw", "e2e", "kvm"])
    ap.add_argument("-v", "--verbose", action="store_true")
    a = ap.parse_args()
    passed = failed = skipped = 0
    if a.only in (None, "lint"):
        ok, bad = run_lint()
        passed, failed = passed + ok, failed + bad
    if a.only in (None, "qtest"):
        try:
            ours = our_qtests()
        except (OSError, ValueError) as e:
            ours = []
            failed += 1
            print(f"FAIL qtest: our qtests: {e}", flush=True)
        if not os.path.exists(os.environ.get("QTEST_QEMU_BINARY_NOPARK", BASELINE_QEMU)):
            # q35-smi-test's migration-to-old would only skip
            failed += 1
            print(f"FAIL qtest: {BASELINE_QEMU} (Debian's QEMU without the series, the "
                  "old side of a migration test) is missing: run 'make qemu-baseline'",
                  flush=True)
        for name, args, timeout in QTESTS + ours:
            ok, bad, skip, notes = run_qtest(name, args, timeout, a.verbose)
            passed, failed, skipped = passed + ok, failed + bad, skipped + skip
            print("\n".join(notes), flush=True)
    if a.only in (None, "fuzz"):
        # smoke: 30 s per target (tests/fuzz/run.py; make fuzz runs longer)
        ok, bad, skip = run_sub("fuzz", [sys.executable, os.path.join(HERE, "fuzz", "run.py"),
                                         "--time", "30", "--fresh"])
        passed, failed, skipped = passed + ok, failed + bad, skipped + skip
    # a full run leaves the KVM cases to part kvm when they run nested
    nested = kvm_nested() if a.only in (None, "kvm") else None
    for part, script in (("testfw", "testfw/run.py"), ("e2e", "e2e/run.py")):
        if a.only not in (None, part):
            continue
        # testfw: also the TCG SMM cases on Debian's QEMU, expected to fail
        more = ["--baseline", BASELINE_QEMU] if part == "testfw" else []
        if nested:
            more += ["--accel", "tcg"] if part == "testfw" else kvm_e2e(False)
        ok, bad, skip = run_sub(part, [sys.executable, os.path.join(HERE, script),
                                       "--qemu", QEMU] + more)
        passed, failed, skipped = passed + ok, failed + bad, skipped + skip
    if a.only in (None, "kvm"):
        if nested:
            print(f"kvm: {nested}: the KVM cases run nested (tests/nested/run.py)", flush=True)
            runs = [("kvm", [os.path.join(HERE, "nested", "run.py")])]
        elif a.only == "kvm":
            runs = [("kvm", [os.path.join(HERE, "testfw", "run.py"), "--accel", "kvm"]),
                    ("kvm", [os.path.join(HERE, "e2e", "run.py")] + kvm_e2e(True))]
        else:
            print("kvm: the KVM cases ran in testfw and e2e", flush=True)
            runs = []
        for part, cmd in runs:
            ok, bad, skip = run_sub(part, [sys.executable] + cmd + ["--qemu", QEMU])
            passed, failed, skipped = passed + ok, failed + bad, skipped + skip
    print(f"{passed} passed, {failed} failed, {skipped} skipped")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

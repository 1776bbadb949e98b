#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Run every test of the project against the built QEMU and print one
closing line 'N passed, M failed, K skipped'.

Parts, in order:
  qtest    QEMU's own qtests for this area plus ours, each g_test case
           counted on its own (TAP), skips reported with their reason
  e2e      the end-to-end scenarios of tests/e2e (Linux guest, TCG)

    tests/run-all.py [--only qtest|e2e] [-v]
"""

import argparse
import os
import re
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(HERE, "e2e"))
import harness  # noqa: E402

BUILD = os.path.join(harness.CACHE, "build", "qemu")
QEMU = os.path.join(BUILD, "qemu-system-x86_64")

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
    """Our own qtests, one name per line in qemu/qtests.list."""
    path = os.path.join(TOP, "qemu", "qtests.list")
    if not os.path.exists(path):
        return []
    with open(path) as f:
        return [(ln.strip(), [], 600) for ln in f if ln.strip() and not ln.startswith("#")]


TAP = re.compile(r"^(not ok|ok)\s+\d+\s+(\S+)?(.*)$")


def run_qtest(name, args, timeout, verbose):
    exe = os.path.join(BUILD, "tests", "qtest", name)
    if not os.path.exists(exe):
        return 0, 1, 0, [f"{name}: not built ({exe})"]
    env = dict(os.environ, QTEST_QEMU_BINARY=QEMU,
               QTEST_QEMU_STORAGE_DAEMON_BINARY="/nonexistent",
               G_TEST_DBUS_DAEMON="/bin/true")
    t0 = time.monotonic()
    try:
        p = subprocess.run([exe, "--tap", "-k"] + args, cwd=BUILD, env=env,
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           timeout=timeout)
        out, rc = p.stdout.decode("utf-8", "replace"), p.returncode
    except subprocess.TimeoutExpired as e:
        out = (e.stdout or b"").decode("utf-8", "replace")
        rc = None
    ok = bad = skip = 0
    notes = []
    for line in out.splitlines():
        m = TAP.match(line)
        if not m:
            continue
        case = m.group(2) or "?"
        rest = m.group(3)
        if m.group(1) == "not ok":
            if "# TODO" in rest:
                ok += 1
                continue
            bad += 1
            notes.append(f"FAIL {name} {case}")
        elif "# SKIP" in rest:
            skip += 1
            notes.append(f"SKIP {name} {case}:{rest.split('# SKIP', 1)[1]}")
        else:
            ok += 1
    if rc is None:
        bad += 1
        notes.append(f"FAIL {name}: timed out after {timeout} s")
    elif rc != 0 and bad == 0:
        bad += 1
        notes.append(f"FAIL {name}: exited with {rc} (crash or abort); last lines:")
        notes += ["  | " + s for s in out.splitlines()[-8:]]
    if verbose or bad:
        notes += [f"  log: {s}" for s in out.splitlines() if s.startswith("#") and bad][-20:]
    notes.insert(0, f"qtest {name}: {ok} passed, {bad} failed, {skip} skipped "
                    f"({time.monotonic() - t0:.0f} s)")
    return ok, bad, skip, notes


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--only", choices=["qtest", "e2e"])
    ap.add_argument("-v", "--verbose", action="store_true")
    a = ap.parse_args()
    passed = failed = skipped = 0
    if a.only in (None, "qtest"):
        for name, args, timeout in QTESTS + our_qtests():
            ok, bad, skip, notes = run_qtest(name, args, timeout, a.verbose)
            passed, failed, skipped = passed + ok, failed + bad, skipped + skip
            print("\n".join(notes), flush=True)
    if a.only in (None, "e2e"):
        cmd = [sys.executable, os.path.join(HERE, "e2e", "run.py"), "--qemu", QEMU]
        p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        out = p.stdout.decode("utf-8", "replace")
        last = None
        for line in out.splitlines():
            m = re.match(r"^(\d+) passed, (\d+) failed$", line)
            if m:
                last = m
            else:
                print("e2e " + line if line.startswith(("PASS", "FAIL", "XFAIL", "XPASS")) else line,
                      flush=True)
        if last:
            passed += int(last.group(1))
            failed += int(last.group(2))
        else:
            failed += 1
            print(f"FAIL e2e: runner printed no summary (exit {p.returncode})")
    print(f"{passed} passed, {failed} failed, {skipped} skipped")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

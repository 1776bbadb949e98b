#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""The runners' counting rules, fed with made-up output: each way a run can
go wrong must come out as a failure, not as a pass or a skip.

    tests/selftest.py

Prints 'PASS|FAIL  selftest NAME' per rule and ends with
'N passed, M failed'.  Needs nothing built.
"""

import contextlib
import importlib.util
import io
import os
import stat
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "e2e"))


def load(name, path):
    spec = importlib.util.spec_from_file_location(name, os.path.join(HERE, path))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


testfw = load("testfw_run", "testfw/run.py")
runall = load("run_all", "run-all.py")
e2e = load("e2e_run", "e2e/run.py")
nested = load("nested_run", "nested/run.py")
harness = sys.modules["harness"]

GOOD = ["TESTFW: CASE parking", "TESTFW: PASS a", "TESTFW: FAIL b: why",
        "TESTFW: PASS runner-parked-regs-cpu1", "TESTFW: DONE 1 passed, 1 failed"]


def script(tmp, name, body):
    path = os.path.join(tmp, name)
    with open(path, "w") as f:
        f.write("#!/bin/sh\n" + body)
    os.chmod(path, os.stat(path).st_mode | stat.S_IEXEC)
    return path


class TestfwRunner(unittest.TestCase):
    def finished(self, lines, rc=3, timed_out=False):
        return [r for r in testfw.judge("c", lines, rc, timed_out, 60) if r[1] == "finished"][0]

    def test_consistent_run_passes(self):
        self.assertTrue(self.finished(GOOD)[0])

    def test_done_count_mismatch_fails(self):
        r = self.finished(GOOD[:-1] + ["TESTFW: DONE 2 passed, 0 failed"], rc=1)
        self.assertFalse(r[0])
        self.assertIn("counted 2 passed, 0 failed", r[2])

    def test_exit_status_mismatch_fails(self):
        r = self.finished(GOOD, rc=1)
        self.assertFalse(r[0])
        self.assertIn("exited 1, expected 3", r[2])
        self.assertFalse(self.finished(GOOD, rc=0)[0])

    def test_case_run_twice_fails(self):
        r = self.finished(GOOD[:2] + GOOD)
        self.assertFalse(r[0])
        self.assertIn("printed 2 times", r[2])

    def test_no_done_fails(self):
        self.assertFalse(self.finished(GOOD[:-1], rc=0)[0])

    def test_hang_fails(self):
        self.assertFalse(self.finished(GOOD[:2], rc=None, timed_out=True)[0])

    def test_baseline_known_failure_is_xfail(self):
        res = [(True, "ap-started", ""),
               (False, "smi-held-in-wait-for-sipi",
                "the AP entered SMM from wait-for-SIPI (saved CS:IP f000:fff0)"),
               (True, "finished", "")]
        self.assertEqual(testfw.judge_xfail("smi-pending-in-wait-for-sipi", res)[0], "XFAIL")

    def test_baseline_other_failure_fails(self):
        res = [(False, "smi-held-in-wait-for-sipi", "something else"), (True, "finished", "")]
        self.assertEqual(testfw.judge_xfail("smi-pending-in-wait-for-sipi", res)[0], "FAIL")
        res = [(False, "smi-held-in-wait-for-sipi", "the AP entered SMM from wait-for-SIPI"),
               (False, "finished", "no result within 60 s (hang)")]
        self.assertEqual(testfw.judge_xfail("smi-pending-in-wait-for-sipi", res)[0], "FAIL")

    def test_baseline_pass_is_xpass(self):
        res = [(True, "smi-held-in-wait-for-sipi", ""), (True, "finished", "")]
        self.assertEqual(testfw.judge_xfail("smi-pending-in-wait-for-sipi", res)[0], "XPASS")


class RunAll(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.build = self.tmp.name
        os.makedirs(os.path.join(self.build, "tests", "qtest"))
        self.saved = runall.BUILD
        runall.BUILD = self.build

    def tearDown(self):
        runall.BUILD = self.saved
        self.tmp.cleanup()

    def qtest(self, tap, rc=0, cases=("/a", "/b")):
        listing = "".join(f"echo {c}; " for c in cases)
        script(os.path.join(self.build, "tests", "qtest"), "fake-test",
               f'case "$1" in -l) {listing}exit 0;; esac\n'
               + "".join(f"echo '{ln}'\n" for ln in tap) + f"exit {rc}\n")
        return runall.run_qtest("fake-test", [], 30, False)

    def test_all_reported_passes(self):
        self.assertEqual(self.qtest(["ok 1 /a", "ok 2 /b"])[:3], (2, 0, 0))

    def test_todo_is_a_failure(self):
        ok, bad, _, _ = self.qtest(["ok 1 /a", "not ok 2 /b # TODO not done"])
        self.assertEqual((ok, bad), (1, 1))

    def test_exit_0_without_every_case_fails(self):
        ok, bad, _, notes = self.qtest(["ok 1 /a"])
        self.assertEqual((ok, bad), (1, 1))
        self.assertTrue(any("without reporting 1 listed" in n for n in notes))

    def test_missing_qtests_list_fails(self):
        saved = runall.TOP
        runall.TOP = self.build
        try:
            with self.assertRaises(OSError):
                runall.our_qtests()
        finally:
            runall.TOP = saved

    def test_sub_runner_exit_status_counts(self):
        exe = script(self.build, "runner", "echo 'PASS  x'\necho '3 passed, 0 failed'\nexit 1\n")
        with contextlib.redirect_stdout(io.StringIO()):
            self.assertEqual(runall.run_sub("part", [exe]), (3, 1, 0))
            exe = script(self.build, "runner", "echo '3 passed, 0 failed, 1 skipped'\n")
            self.assertEqual(runall.run_sub("part", [exe]), (3, 0, 1))

    def test_only_qtest_without_baseline_fails(self):
        saved, env = runall.BASELINE_QEMU, os.environ.pop("QTEST_QEMU_BINARY_NOPARK", None)
        saved_q, saved_argv = runall.QTESTS, sys.argv
        runall.BASELINE_QEMU = os.path.join(self.build, "no-such-qemu")
        runall.QTESTS, sys.argv = [], ["run-all.py", "--only", "qtest"]
        saved_ours, runall.our_qtests = runall.our_qtests, lambda: []
        try:
            out = io.StringIO()
            with contextlib.redirect_stdout(out):
                rc = runall.main()
            self.assertEqual(rc, 1)
            self.assertIn("make qemu-baseline", out.getvalue())
        finally:
            runall.BASELINE_QEMU, runall.QTESTS, sys.argv = saved, saved_q, saved_argv
            runall.our_qtests = saved_ours
            if env is not None:
                os.environ["QTEST_QEMU_BINARY_NOPARK"] = env


class E2eXfail(unittest.TestCase):
    def run_marked(self, ok, detail):
        with tempfile.TemporaryDirectory() as tmp:
            os.makedirs(os.path.join(tmp, "guest"))
            open(os.path.join(tmp, "guest", "vmlinuz"), "w").close()
            saved = harness.CACHE, harness.run_scenario, sys.argv
            harness.FIRMWARE["selftest-fw"] = dict(harness.FIRMWARE["seabios"],
                                                   xfail=("a known hang", r"never came online"))
            r = harness.Result("selftest-fw-add1")
            r.ok, r.detail = ok, detail
            harness.CACHE, harness.run_scenario = tmp, lambda *a, **k: r
            sys.argv = ["run.py", "--qemu", "/bin/true", "--logdir", tmp, "selftest-fw-add1"]
            out = io.StringIO()
            try:
                with contextlib.redirect_stdout(out):
                    rc = e2e.main()
            finally:
                harness.CACHE, harness.run_scenario, sys.argv = saved
                del harness.FIRMWARE["selftest-fw"]
            return rc, out.getvalue()

    def test_known_failure_is_xfail(self):
        rc, out = self.run_marked(False, "1 of 1 hot-added CPU(s) never came online within 20 s")
        self.assertEqual(rc, 0)
        self.assertIn("XFAIL", out)

    def test_other_failure_fails(self):
        rc, out = self.run_marked(False, "guest did not boot within 90 s")
        self.assertEqual(rc, 1)
        self.assertIn("FAIL  selftest-fw-add1", out)

    def test_pass_is_xpass(self):
        rc, out = self.run_marked(True, "0.5 s")
        self.assertEqual(rc, 1)
        self.assertIn("XPASS", out)


class E2eSmbase(unittest.TestCase):
    SMRAM = (0x1f000000, 0x20000000)

    def lines(self, *pairs):
        return [f"cpu_hotplug_smm_smbase idx[{i:#x}] SMBASE set to {b:#x}" for i, b in pairs]

    def test_in_smram_distinct_passes(self):
        self.assertIsNone(harness.check_smbases(
            self.lines((1, 0x1effb000), (2, 0x1f005000), (1, 0x1effb000)), self.SMRAM))

    def test_default_smbase_fails(self):
        self.assertIn("not in SMRAM", harness.check_smbases(
            self.lines((1, 0x30000)), self.SMRAM))

    def test_outside_smram_fails(self):
        self.assertIn("not in SMRAM", harness.check_smbases(
            self.lines((1, 0x1fff9000)), self.SMRAM))

    def test_shared_smbase_fails(self):
        self.assertIn("the same SMBASE", harness.check_smbases(
            self.lines((1, 0x1effb000), (2, 0x1effb000)), self.SMRAM))


class FakeL0:
    """L1's serial lines as tests/nested/run.py's L0 gives them; past the
    end it is silent (False), as a stalled L1 is."""
    def __init__(self, lines):
        self.lines = lines

    def next_line(self, i, deadline):
        return self.lines[i] if i < len(self.lines) else False

    def tail(self):
        return []

    def l1_state(self):
        return []

    def death(self):
        return "L0 QEMU exited 0"


class NestedRunner(unittest.TestCase):
    ITEM = "e2e:ovmf-parking-kvm-add1"
    BEGUN = [f"NESTED| PASS {ITEM[4:]}: step one", f"NESTED| PASS {ITEM[4:]}: step two"]
    ENDED = BEGUN + ["NESTED| 2 passed, 0 failed", f"NESTED: END {ITEM} rc=0"]

    def run_item(self, lines, may_retry):
        count = nested.Counter()
        with contextlib.redirect_stdout(io.StringIO()) as out:
            _, finished = nested.run_item_lines(FakeL0(lines), 0, self.ITEM, count, may_retry)
        return finished, (count.passed, count.failed, count.skipped), out.getvalue()

    def test_ended_item_counts_its_results(self):
        self.assertEqual(self.run_item(self.ENDED, True)[:2], (True, (2, 0, 0)))

    def test_stall_after_results_is_retried_and_counts_nothing(self):
        finished, counts, out = self.run_item(self.BEGUN, True)
        self.assertIsNone(finished)
        self.assertEqual(counts, (0, 0, 0))
        self.assertIn("not counted: PASS", out)

    def test_stall_without_retry_fails_and_keeps_results(self):
        self.assertEqual(self.run_item(self.BEGUN, False)[:2], (False, (2, 1, 0)))

    def test_summary_disagreeing_fails(self):
        lines = self.BEGUN + ["NESTED| 3 passed, 0 failed", f"NESTED: END {self.ITEM} rc=0"]
        self.assertEqual(self.run_item(lines, True)[:2], (True, (2, 1, 0)))

    def test_exit_status_disagreeing_fails(self):
        lines = self.ENDED[:-1] + [f"NESTED: END {self.ITEM} rc=1"]
        self.assertEqual(self.run_item(lines, True)[:2], (True, (2, 1, 0)))


class Report(unittest.TextTestResult):
    def addSuccess(self, test):
        super().addSuccess(test)
        print(f"PASS  selftest {test.id().split('.', 1)[1]}", flush=True)

    def addFailure(self, test, err):
        super().addFailure(test, err)
        why = str(err[1]).splitlines()[0] if str(err[1]) else err[0].__name__
        print(f"FAIL  selftest {test.id().split('.', 1)[1]}: {why}", flush=True)

    def addError(self, test, err):
        super().addError(test, err)
        print(f"FAIL  selftest {test.id().split('.', 1)[1]}: {err[0].__name__}: {err[1]}",
              flush=True)


def main():
    suite = unittest.defaultTestLoader.loadTestsFromModule(sys.modules[__name__])
    r = unittest.TextTestRunner(stream=io.StringIO(), resultclass=Report).run(suite)
    bad = len(r.failures) + len(r.errors)
    print(f"{r.testsRun - bad} passed, {bad} failed")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())

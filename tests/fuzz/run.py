#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Fuzz the q35 SMI / SMM CPU hotplug surface with libFuzzer, ASan and UBSan.

    tests/fuzz/run.py [--qemu-fuzz PATH] [--time S | --runs N] [TARGET ...]

Needs qemu-fuzz-x86_64 from 'make qemu-fuzz' (clang, --enable-fuzzing,
ASan + UBSan; build/qemu-fuzz in the cache).  TARGET is one of:

  smm-cpu-hotplug   our target (qemu/tests/qtest/fuzz/smm_cpu_hotplug_fuzz.c):
                    ports 0xb2/0xb3, the CPU hotplug block, fw_cfg ports
                    and DMA, etc/smi/*, device_add/device_del of CPUs,
                    accesses with and without SMM's attributes, resets;
                    aborts when a CPU hold invariant breaks
  generic-fuzz      QEMU's generic fuzzer on the same machine, restricted to
                    the memory regions of that surface (QEMU_FUZZ_OBJECTS)

Default: both, --time 60 each ('make check' runs --time 30 --fresh).  The
seed corpus is tests/fuzz/seeds.py (written out as files before each run);
what libFuzzer adds is kept in the cache (fuzz/TARGET/corpus; --fresh uses
an empty one).  An input slower than 10 s is reported and kept
(slow-unit-*), not counted as a failure.  A crash is a
failure; its input is kept (fuzz/crash-*) and the line to reproduce it is
printed.  Ends with 'N passed, M failed'.  SIGINT (Ctrl-C) stops a run:
the fuzzers print their statistics, a 'STOP' line says what ran, exit
status 130.
"""

import argparse
import os
import re
import shutil
import signal
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import seeds  # noqa: E402

CACHE = os.environ.get("SMMHP_CACHE", os.path.expanduser("~/.cache/smm-hotplug"))
DEFAULT_BIN = os.path.join(CACHE, "build", "qemu-fuzz", "qemu-fuzz-x86_64")
WORK = os.path.join(CACHE, "fuzz")

MACHINE = ("-machine q35,smm=on -smp 1,maxcpus=4 -cpu qemu64 -m 64 -nodefaults"
           " -global ICH9-LPC.x-smi-cpu-hotplug-parking=on"
           " -global ICH9-LPC.x-smi-apm-sts=on")
TARGETS = {
    "smm-cpu-hotplug": {},
    "generic-fuzz": {
        "QEMU_FUZZ_ARGS": MACHINE,
        # APM (0xb2/0xb3), the CPU hotplug block, fw_cfg's selector and
        # data ports ("fwcfg[0]"): not its DMA interface, whose transfers
        # past a file's end generic-fuzz makes as long as 4 GB, zero-filled
        # in 512-byte steps (minutes per input); smm-cpu-hotplug fuzzes
        # that DMA with bounded lengths
        "QEMU_FUZZ_OBJECTS": "apm-io* acpi-cpu-hotplug* fwcfg?0?",
        "QEMU_FUZZ_TIMEOUT": "1",
    },
}
# UBSan must stop at its first report, as ASan does
SAN_ENV = {
    "UBSAN_OPTIONS": "halt_on_error=1:abort_on_error=1:print_stacktrace=1",
    "ASAN_OPTIONS": "abort_on_error=1:detect_leaks=0",
}


# libFuzzer options of every run: inputs of up to 18 steps (longer ones
# mostly repeat); no per-input leak check (QEMU keeps some allocations for
# good by design: device_add/device_del of CPUs is not leak-free upstream)
FUZZ_OPTS = ["-max_len=128", "-detect_leaks=0"]


def run_target(binary, target, limit_args, log, jobs=1, fresh=False):
    work = os.path.join(WORK, target)
    # fresh: start from the seeds alone (the smoke run: its time must not
    # grow with what earlier runs collected)
    corpus = os.path.join(work, "corpus-fresh" if fresh else "corpus")
    if fresh:
        shutil.rmtree(corpus, ignore_errors=True)
    seed_dir = os.path.join(work, "seeds")
    os.makedirs(corpus, exist_ok=True)
    shutil.rmtree(seed_dir, ignore_errors=True)
    os.makedirs(seed_dir)
    for name, data in seeds.corpus(target).items():
        with open(os.path.join(seed_dir, name), "wb") as f:
            f.write(data)
    env = dict(os.environ, **SAN_ENV, **TARGETS[target])
    cmd = [binary, f"--fuzz-target={target}", *FUZZ_OPTS, *limit_args,
           f"-artifact_prefix={work}/", "-print_final_stats=1", corpus, seed_dir]
    t = time.monotonic()
    # jobs > 1: that many processes on the same corpus directory, which
    # each reload from time to time (-reload), each with the same limit
    logs = [log] if jobs == 1 else [f"{log}.{j}" for j in range(jobs)]
    outs = [open(lg, "w") for lg in logs]
    procs = [subprocess.Popen(cmd, env=env, stdout=o, stderr=subprocess.STDOUT,
                              stdin=subprocess.DEVNULL) for o in outs]
    stopped = False
    try:
        rcs = [p.wait() for p in procs]
    except KeyboardInterrupt:
        # stopped by hand: pass SIGINT on (a Ctrl-C has reached them too),
        # so that libFuzzer prints its final statistics, then report them
        stopped = True
        for p in procs:
            if p.poll() is None:
                p.send_signal(signal.SIGINT)
        rcs = [p.wait() for p in procs]
    for o in outs:
        o.close()
    secs = time.monotonic() - t
    execs, cov, crash, slow = 0, "?", None, 0
    for lg in logs:
        text = open(lg, errors="replace").read()
        m = re.search(r"stat::number_of_executed_units:\s*(\d+)", text)
        execs = execs + int(m.group(1)) if m and execs is not None else None
        c = re.findall(r"cov: (\d+)", text)
        cov = c[-1] if c else cov
        # slow-unit-* is a report, not a failure (libFuzzer writes one for
        # an input over -report_slow_units seconds); they are counted
        m = re.search(r"Test unit written to (\S*/(?:crash|leak|timeout|oom)-\S+)", text)
        crash = crash or (m.group(1) if m else None)
        slow += len(re.findall(r"Test unit written to \S*/slow-unit-", text))
    rc = next((r for r in rcs if r), 0)
    return rc, secs, execs, cov, crash, cmd, env, logs, slow, stopped


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("targets", nargs="*", default=list(TARGETS))
    ap.add_argument("--qemu-fuzz", default=DEFAULT_BIN)
    ap.add_argument("--time", type=int, default=60, help="seconds per target")
    ap.add_argument("--runs", type=int, help="executions per target (instead of --time), "
                    "split over the jobs")
    ap.add_argument("--jobs", type=int, default=1, help="fuzzing processes per target")
    ap.add_argument("--fresh", action="store_true",
                    help="start from the seeds alone, not the corpus earlier runs grew")
    a = ap.parse_args()
    for t in a.targets:
        if t not in TARGETS:
            ap.error(f"unknown target {t!r}; known: {', '.join(TARGETS)}")
    if not os.path.exists(a.qemu_fuzz):
        print(f"FAIL  fuzz: {a.qemu_fuzz} is missing: run 'make qemu-fuzz'")
        print("0 passed, 1 failed")
        return 1
    limit = [f"-runs={-(-a.runs // a.jobs)}"] if a.runs else [f"-max_total_time={a.time}"]
    passed = failed = 0
    for target in a.targets:
        log = os.path.join(WORK, f"{target}.log")
        os.makedirs(WORK, exist_ok=True)
        what = f"{a.runs} runs" if a.runs else f"{a.time} s"
        print(f"fuzz: {target}, {what}, {a.jobs} job(s) (log: {log})", flush=True)
        rc, secs, execs, cov, crash, cmd, env, logs, slow, stopped = run_target(
            a.qemu_fuzz, target, limit, log, a.jobs, a.fresh)
        rate = f"{execs / secs:.0f}/s" if execs else "?"
        if stopped and not crash:
            print(f"STOP  fuzz {target}: stopped by hand after {execs} executions in "
                  f"{secs:.0f} s ({rate}), coverage {cov}, 0 crashes; not counted",
                  flush=True)
            print(f"{passed} passed, {failed} failed (the rest not run)")
            return 130
        if rc == 0 and not crash and execs:
            passed += 1
            print(f"PASS  fuzz {target}: {execs} executions in {secs:.0f} s ({rate}), "
                  f"coverage {cov}, 0 crashes"
                  + (f", {slow} input(s) slower than 10 s (kept as slow-unit-*)" if slow else ""),
                  flush=True)
        else:
            failed += 1
            why = f"crash, input kept in {crash}" if crash else f"exit status {rc}"
            print(f"FAIL  fuzz {target}: {why} after {execs} executions "
                  f"({secs:.0f} s); log {' '.join(logs)}", flush=True)
            tail = [ln for lg in logs for ln in open(lg, errors="replace").read().splitlines()]
            for ln in [x for x in tail if "ERROR" in x or "invariant" in x or
                       "SUMMARY" in x][:6] or tail[-8:]:
                print("      | " + ln)
            if crash:
                envs = " ".join(f"{k}='{v}'" for k, v in TARGETS[target].items())
                print(f"      reproduce: {envs} {cmd[0]} {cmd[1]} {crash}")
    print(f"{passed} passed, {failed} failed")
    return 0 if failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())

# SPDX-License-Identifier: GPL-2.0-or-later
"""Soak: one live guest, many cycles of CPU hot-add and hot-remove in a mix,
with guest-side offline/online and broadcast SMIs from the guest (UEFI
variable writes) in between.

Each cycle is one action, drawn with a seeded RNG (the seed is printed;
--seed repeats the sequence of actions, though not always their targets
or outcomes, which depend on timing: which guest CPU number an action
picks, whether a CPU is still parked when device_del comes):
  add1        device_add 1 CPU; the guest onlines it
  burst3      3 device_add back to back (as 'virsh setvcpus' does)
  del         device_del of an online hot-added CPU; the guest ejects it
  add-del     device_add, then at once device_del of the same CPU, which
              may still be parked: it must end removed either way
  off-on      the guest offlines a hot-added CPU, writes UEFI variables
              (SMIs with that CPU offline), onlines it again
  off-del     the guest offlines a hot-added CPU, then device_del of it
  efi         the guest writes UEFI variables (broadcast SMIs)
  del-smi     device_del while the guest writes UEFI variables
After every cycle the guest's view must match QEMU's: every CPU QEMU has is
present and online in the guest, no other (compared by APIC ID); every 10 cycles a broadcast SMI
from the monitor must reach every CPU.  Every wait is bounded: a hang is a
failure with the guest's last words and the vCPUs' states.

Under TCG this needs QEMU patch 'tcg: let a new vCPU thread reuse the
context of one that exited': without it, MTTCG aborts on the first
hot-add after maxcpus vCPU threads were ever created.  (Round-robin TCG,
-accel tcg,thread=single, is no way out: there an unplug the guest ejects
joins the one TCG thread from itself and QEMU aborts.)

Reported: time per cycle (median, p95, max), QEMU's RSS without the guest's
RAM (which becomes resident as the guest touches it) and without TCG's code
buffer (a cache bounded by tb-size, reported on its own) at the start,
after the warm-up and at the end, its growth after the warm-up (the bound:
under 2 MiB; the warm-up is 10 % of the cycles, or longer: until the run
first has its largest number of hot-added CPUs) and its slope per cycle, the growth between two cycles with the
same number of hot-added CPUs once every slot was used (live vCPUs cost
memory: a thread, its stack, per-CPU state), and the guest RAM's resident
size.
"""

import os
import random
import re
import shutil
import statistics
import subprocess
import time

import harness
from harness import QMPError

# -smp: 1 boot CPU, 7 pluggable
SMP = "1,sockets=1,cores=8,threads=1,maxcpus=8"
ACTIONS = (("add1", 4), ("burst3", 2), ("del", 3), ("add-del", 2),
           ("off-on", 2), ("off-del", 1), ("efi", 1), ("del-smi", 1))
EFI_WRITES = 2
WARMUP_FRACTION = 0.1
RSS_GOAL_KIB = 2048


def qemu_apic_ids(qmp):
    """The APIC IDs of the CPUs QEMU has."""
    return sorted(qmp.cmd("qom-get", path=c["qom-path"], property="apic-id")
                  for c in qmp.cmd("query-cpus-fast"))


def guest_state(g, timeout):
    """(present, online, {linux cpu: apic id} of the online CPUs) as the
    guest sees them, or None if it did not answer."""
    out = g.command("state", timeout)
    m = re.match(r"present=([\d,]*) online=([\d,]*) apic=([\d:,]*)", out or "")
    if not m:
        return None

    def nums(s):
        return sorted(int(x) for x in s.split(",") if x)
    apic = dict(tuple(int(v) for v in p.split(":")) for p in m.group(3).split(",") if p)
    return nums(m.group(1)), nums(m.group(2)), apic


def wait_removed(g, dev_id, timeout):
    """Wait until QEMU no longer has device dev_id; None, or why not."""
    deadline = time.monotonic() + timeout
    while any(c["name"] == dev_id
              for c in g.qmp.cmd("qom-list", path="/machine/peripheral")):
        if time.monotonic() > deadline:
            return f"{dev_id} still present {timeout:.0f} s after device_del"
        time.sleep(0.05)
    return None


def settled(g, timeout):
    """Wait until the guest has exactly QEMU's CPUs (by APIC ID), all
    online; None, or why not."""
    deadline = time.monotonic() + timeout
    while True:
        st = guest_state(g, timeout)
        if st is None:
            return f"the guest did not answer 'state' within {timeout:.0f} s"
        present, online, apic = st
        want = qemu_apic_ids(g.qmp)
        have = sorted(apic.values())
        if present == online and len(present) == len(want) and have == want:
            return None
        if time.monotonic() > deadline:
            return (f"QEMU has CPUs with APIC IDs {want}; the guest has CPUs "
                    f"{present} present, {online} online, online APIC IDs {have} "
                    f"({timeout:.0f} s after the action)")
        time.sleep(0.2)


GUEST_RAM = 512 << 20         # harness.Guest's -m 512M


def rss_kib(pid):
    """(QEMU's resident KiB without the guest's RAM and without TCG's code
    buffer, the guest RAM's resident KiB, the code buffer's resident KiB).
    Guest RAM becomes resident as the guest touches its pages (a guest
    kernel gives every CPU it brings up new per-CPU memory), so it says
    nothing about QEMU; it is the anonymous mapping of the -m size in
    /proc/PID/smaps.  TCG's code buffer (the anonymous executable
    mapping) becomes resident as code is translated, up to its size
    (tb-size), after which TCG flushes it and starts over: a bounded
    cache, reported on its own."""
    total = guest = jit = 0
    size = None
    with open(f"/proc/{pid}/smaps") as f:
        for line in f:
            m = re.match(r"([0-9a-f]+)-([0-9a-f]+) (\S+) \S+ \S+ (\S+)\s*(.*)", line)
            if m:
                size = int(m.group(2), 16) - int(m.group(1), 16)
                anon = m.group(4) == "0" and not m.group(5)
                code = anon and "x" in m.group(3)
                continue
            if line.startswith("Rss:"):
                kib = int(line.split()[1])
                total += kib
                if anon and size == GUEST_RAM:
                    guest += kib
                elif code:
                    jit += kib
    return total - guest - jit, guest, jit


def malloc_kib(pid, trim=False):
    """(KiB that malloc has handed out and not got back, KiB it holds from
    the system) in process pid, read with gdb from glibc's mallinfo2(),
    which sums every arena; with trim, malloc_trim(0) runs first, giving
    free memory at the top of each heap and free whole pages inside them
    back to the system, as QEMU's RCU thread does after its callbacks when
    QEMU is built with malloc_trim.  The process is stopped while gdb is
    attached (a few seconds).  None where gdb is missing or fails.  The
    first figure is the leak detector: memory that was freed and kept by
    an arena for reuse counts in RSS but not there."""
    if not shutil.which("gdb"):
        return None
    cmds = ["-ex", "p (int)malloc_trim(0)"] if trim else []
    try:
        out = subprocess.run(["gdb", "-batch", "-nx", "-p", str(pid)] + cmds +
                             ["-ex", "p mallinfo2()"],
                             stdin=subprocess.DEVNULL, capture_output=True,
                             text=True, timeout=120).stdout
    except (OSError, subprocess.TimeoutExpired):
        return None
    m = re.search(r"arena = (\d+).*hblkhd = (\d+).*uordblks = (\d+)", out, re.S)
    if not m:
        return None
    arena, mmapped, used = (int(x) for x in m.groups())
    return (used + mmapped) // 1024, (arena + mmapped) // 1024


def heap_note(first, heap_end, rss_trim, rss_warm):
    """The malloc figures of the report, in words: first is (cycle,
    malloc_kib()) from the first cycle after the warm-up that ended with
    as many hot-added CPUs as the run ends with (live vCPUs cost memory)."""
    if first is None or first[1] is None or heap_end is None:
        return "malloc not read (soak.py --heap reads it with gdb)"
    cycle, warm = first
    note = (f"malloc in use {warm[0] / 1024:.1f} MiB after cycle {cycle}, "
            f"{heap_end[0] / 1024:.1f} MiB at the end ({(heap_end[0] - warm[0]):+d} KiB), "
            f"held from the system {warm[1] / 1024:.1f} -> {heap_end[1] / 1024:.1f} MiB")
    if rss_trim is not None:
        note += (f"; RSS after malloc_trim(0) {rss_trim / 1024:.1f} MiB "
                 f"({(rss_trim - rss_warm) / 1024:+.1f} MiB after the warm-up)")
    return note


def slope(ys):
    """Least-squares slope of ys against their index (per cycle)."""
    n = len(ys)
    if n < 2:
        return 0.0
    mx, my = (n - 1) / 2.0, sum(ys) / n
    return sum((i - mx) * (y - my) for i, y in enumerate(ys)) / \
        sum((i - mx) ** 2 for i in range(n))


def same_count_growth(rss, ncpus, warm):
    """RSS growth at an equal number of hot-added CPUs: every live vCPU
    has a thread, a stack and per-CPU state, so a run that ends with more
    CPUs than it had after the warm-up grows without leaking.  Among the
    cycles after the warm-up and after the largest CPU count was first
    reached (every slot used once), take the most common count and
    compare the RSS at its first and last cycle.  None if that count
    occurs fewer than twice.  Returns (count, first kib, last kib, cycles
    apart)."""
    if not ncpus:
        return None
    start = max(warm, ncpus.index(max(ncpus)))
    tail = list(range(start, len(ncpus)))
    if len(tail) < 2:
        return None
    counts = {}
    for i in tail:
        counts[ncpus[i]] = counts.get(ncpus[i], 0) + 1
    n = max(counts, key=lambda c: (counts[c], c))
    idx = [i for i in tail if ncpus[i] == n]
    if len(idx) < 2:
        return None
    return n, rss[idx[0]], rss[idx[-1]], idx[-1] - idx[0]


def percentile(xs, p):
    s = sorted(xs)
    return s[min(len(s) - 1, int(round(p / 100.0 * (len(s) - 1))))]


class SoakError(Exception):
    def __init__(self, detail, diag=()):
        super().__init__(detail)
        self.detail = detail
        self.diag = list(diag)


class Soak:
    def __init__(self, g, rng, cpu_timeout, log):
        self.g = g
        self.rng = rng
        # tests/nested scales the SMI waits (SMMHP_E2E_SMI_SCALE): the
        # guest's commands and checks wait that much longer
        scale = float(os.environ.get("SMMHP_E2E_SMI_SCALE", "1"))
        self.cpu_timeout = cpu_timeout * scale
        self.log = log
        self.n = 0                  # device ids handed out
        self.plugged = []           # ids of hot-added CPUs QEMU has
        self.counts = {}
        self.since = 0              # serial line index where the cycle began

    # --- helpers -------------------------------------------------------
    def fail(self, detail, since=None):
        raise SoakError(detail, self.g.diagnose(self.since if since is None else since))

    def new_id(self):
        self.n += 1
        return f"scpu{self.n}"

    def state(self):
        """(present, online, {linux cpu: apic id}) as the guest sees them."""
        st = guest_state(self.g, self.cpu_timeout)
        if st is None:
            self.fail(f"the guest did not answer 'state' within {self.cpu_timeout:.0f} s")
        return st

    def apic_of(self, dev_id):
        return self.g.qmp.cmd("qom-get", path=f"/machine/peripheral/{dev_id}",
                              property="apic-id")

    def add(self, count):
        """device_add count CPUs back to back; wait until the guest has
        onlined each of them (its ONLINE line with that APIC ID)."""
        since = self.g.mark()
        free = harness.free_slots(self.g.qmp)
        want = {}
        for slot in free[:count]:
            dev_id = self.new_id()
            try:
                harness.device_add_cpu(self.g.qmp, slot, dev_id)
            except QMPError as e:
                self.fail(f"device_add {dev_id} refused: {e.desc}", since)
            want[self.apic_of(dev_id)] = dev_id
            self.plugged.append(dev_id)
        idx = since
        deadline = time.monotonic() + self.cpu_timeout * len(want)
        while want:
            hit = self.g.wait_line(r"E2E: CPU(\d+) ONLINE( FAILED|.* apic=(\d+))",
                                   deadline - time.monotonic(), idx)
            if not hit or hit[1].group(2) == " FAILED":
                self.fail(f"hot-added CPU(s) {', '.join(sorted(want.values()))} (APIC ID "
                          f"{', '.join(map(str, sorted(want)))}) not online within "
                          f"{self.cpu_timeout * count:.0f} s", since)
            want.pop(int(hit[1].group(3)), None)
            idx = hit[2] + 1

    def wait_gone(self, dev_id, since, want_removed_line):
        """Wait until QEMU no longer has dev_id (and, if want_removed_line,
        the guest said a CPU went away)."""
        err = wait_removed(self.g, dev_id, self.cpu_timeout)
        if err:
            self.fail(err, since)
        if want_removed_line and not self.g.wait_line(
                r"E2E: CPU\d+ REMOVED", self.cpu_timeout, since):
            self.fail(f"QEMU removed {dev_id} but the guest did not see a CPU go "
                      f"within {self.cpu_timeout:.0f} s", since)
        self.plugged.remove(dev_id)

    def delete(self, dev_id, since=None):
        since = self.g.mark() if since is None else since
        try:
            self.g.qmp.cmd("device_del", id=dev_id)
        except QMPError as e:
            self.fail(f"device_del {dev_id} refused: {e.desc}", since)
        return since

    def efi(self, writes=EFI_WRITES):
        out = self.g.command(f"efi {writes}", self.cpu_timeout * 2)
        if out is None:
            self.fail(f"the guest's {writes} UEFI variable writes did not finish "
                      f"within {self.cpu_timeout * 2:.0f} s")
        if out != "rc=0":
            self.fail(f"the guest's UEFI variable writes failed ({out})")

    def hot_online_cpu(self):
        """(linux cpu, apic id) of a random online hot-added CPU, or None."""
        _, online, apic = self.state()
        cands = [c for c in online if c != 0 and c in apic]
        if not cands:
            return None
        c = self.rng.choice(cands)
        return c, apic[c]

    def guest_cmd(self, command):
        out = self.g.command(command, self.cpu_timeout)
        if out != "rc=0":
            self.fail(f"guest '{command}': {'no answer' if out is None else out}")

    def id_of_apic(self, apic_id):
        for dev_id in self.plugged:
            if self.apic_of(dev_id) == apic_id:
                return dev_id
        return None

    # --- actions --------------------------------------------------------
    def pick(self):
        free = len(harness.free_slots(self.g.qmp))
        ok = {"add1": free >= 1, "burst3": free >= 3, "del": bool(self.plugged),
              "add-del": free >= 1, "off-on": bool(self.plugged),
              "off-del": bool(self.plugged), "efi": True, "del-smi": bool(self.plugged)}
        names = [a for a, _ in ACTIONS if ok[a]]
        weights = [w for a, w in ACTIONS if ok[a]]
        return self.rng.choices(names, weights)[0]

    def do(self, action):
        if action == "add1":
            self.add(1)
        elif action == "burst3":
            self.add(3)
        elif action == "del":
            dev_id = self.rng.choice(self.plugged)
            self.wait_gone(dev_id, self.delete(dev_id), True)
        elif action == "del-smi":
            dev_id = self.rng.choice(self.plugged)
            since = self.g.mark()
            self.g.send(f"efi {EFI_WRITES}")
            self.delete(dev_id, since)
            self.wait_gone(dev_id, since, True)
            if not self.g.wait_line(r"E2E: CMD efi \d+ rc=0", self.cpu_timeout * 2, since):
                self.fail("the guest's UEFI variable writes during device_del did not "
                          "finish", since)
        elif action == "add-del":
            since = self.g.mark()
            slot = harness.free_slots(self.g.qmp)[0]
            dev_id = self.new_id()
            try:
                harness.device_add_cpu(self.g.qmp, slot, dev_id)
            except QMPError as e:
                self.fail(f"device_add {dev_id} refused: {e.desc}", since)
            self.plugged.append(dev_id)
            self.delete(dev_id, since)
            # parked: removed at once, the guest never saw it; unparked
            # already: the guest ejects it
            self.wait_gone(dev_id, since, False)
        elif action in ("off-on", "off-del"):
            pick = self.hot_online_cpu()
            if pick is None:
                self.fail(f"QEMU has hot-added CPUs {self.plugged} but the guest "
                          "has none online")
            cpu, apic_id = pick
            self.guest_cmd(f"off {cpu}")
            if action == "off-on":
                self.efi()
                self.guest_cmd(f"on {cpu}")
            else:
                dev_id = self.id_of_apic(apic_id)
                if dev_id is None:
                    self.fail(f"no hot-added CPU in QEMU has APIC ID {apic_id} "
                              f"(guest CPU {cpu})")
                self.wait_gone(dev_id, self.delete(dev_id), True)
        elif action == "efi":
            self.efi()
        self.counts[action] = self.counts.get(action, 0) + 1

    def check(self):
        """The guest has exactly QEMU's CPUs (by APIC ID), all online."""
        err = settled(self.g, self.cpu_timeout)
        if err:
            self.fail(err)


def run(qemu, fw, cycles, seed=None, logdir=None, cpu_timeout=20.0,
        boot_timeout=90.0, log=print, name=None, rss_goal=True, accel=None,
        heap=False):
    """Boot once and run `cycles` cycles; a harness.Result with the figures
    in .detail and .stats."""
    seed = random.randrange(1 << 32) if seed is None else seed
    res = harness.Result(name or f"{fw}-soak")
    try:
        g = harness.Guest(qemu, fw, smp=SMP, logdir=logdir, name=res.name, hb=20,
                          commands=True, accel=accel)
    except FileNotFoundError as e:
        return res.fail(str(e))
    try:
        if not g.booted(res, boot_timeout):
            return res
        g.connect()
        s = Soak(g, random.Random(seed), cpu_timeout, log)
        log(f"soak {res.name}: {cycles} cycles, seed {seed} (--seed {seed} repeats it)")
        try:
            s.efi()                              # the command port works
        except SoakError as e:
            return res.fail(f"before the first cycle: {e.detail}", e.diag)
        warm = max(1, int(cycles * WARMUP_FRACTION))
        heaps = {}      # hot-added CPUs -> (cycle, malloc_kib()) first seen after the warm-up
        rss0, guest0, jit0 = rss_kib(g.proc.pid)
        rss_warm = rss0
        times, rss, ncpus = [], [], []
        for i in range(cycles):
            action = s.pick()
            s.since = g.mark()
            t = time.monotonic()
            try:
                s.do(action)
                s.check()
                if (i + 1) % 10 == 0:
                    err = harness.smi_roundtrip(g)
                    if err:
                        s.fail(f"cycle {i + 1}: {err}")
            except SoakError as e:
                return res.fail(f"cycle {i + 1} ({action}): {e.detail}", e.diag)
            times.append(time.monotonic() - t)
            qemu_kib, guest_kib, jit_kib = rss_kib(g.proc.pid)
            rss.append(qemu_kib)
            ncpus.append(len(s.plugged))
            if i + 1 == warm:
                rss_warm = qemu_kib
            if heap and i + 1 >= warm and len(s.plugged) not in heaps:
                heaps[len(s.plugged)] = (i + 1, malloc_kib(g.proc.pid))
            if (i + 1) % max(1, cycles // 10) == 0 or i + 1 == cycles:
                log(f"soak {res.name}: {i + 1}/{cycles} cycles, "
                    f"{len(s.plugged)} hot-added CPUs, QEMU RSS {qemu_kib / 1024:.1f} MiB "
                    f"+ guest RAM {guest_kib / 1024:.1f} MiB + TCG code "
                    f"{jit_kib / 1024:.1f} MiB")
        why = harness.check_smbases(list(g.stderr), harness.smram_range(g.qmp))
        if why:
            return res.fail(why)
        since = g.mark()
        why = harness.alive(g, "after the last cycle")
        if why:
            return res.fail(why, g.diagnose(since))
        rss_end, guest_end, jit_end = rss_kib(g.proc.pid)
        heap_end = malloc_kib(g.proc.pid) if heap else None
        # what a malloc_trim() would give back: QEMU built with malloc_trim
        # (Debian's build) calls it after each batch of RCU callbacks
        heap_trim = malloc_kib(g.proc.pid, trim=True) if heap else None
        rss_trim = rss_kib(g.proc.pid)[0] if heap_trim else None
        # the warm-up lasts until the run first had its largest number of
        # hot-added CPUs, if that is later: every live vCPU costs memory
        # of its own (thread, stack, TCG context, per-CPU state), kept for
        # reuse after an unplug
        peak = ncpus.index(max(ncpus)) + 1 if ncpus else warm
        if peak > warm and peak < cycles:
            warm = peak
            rss_warm = rss[warm - 1]
        growth = rss_end - rss_warm
        per_cycle = slope(rss[warm:])
        same = same_count_growth(rss, ncpus, warm)
        res.stats = dict(seed=seed, cycles=cycles, counts=s.counts,
                         median=statistics.median(times), p95=percentile(times, 95),
                         max=max(times), rss0=rss0, rss_warm=rss_warm, rss_end=rss_end,
                         growth=growth, warmup=warm, slope_kib=per_cycle,
                         adds=s.n, rss=rss, times=times, guest0=guest0, guest_end=guest_end,
                         ncpus=ncpus, same_count=same, jit0=jit0, jit_end=jit_end,
                         heaps=heaps, heap_end=heap_end, rss_trim=rss_trim)
        res.detail = (f"{cycles} cycles (seed {seed}, {s.n} CPUs hot-added): per cycle "
                      f"median {res.stats['median']:.2f} s, p95 {res.stats['p95']:.2f} s, "
                      f"max {res.stats['max']:.2f} s; QEMU RSS without guest RAM "
                      f"{rss0 / 1024:.1f} MiB at start, {rss_warm / 1024:.1f} MiB after "
                      f"{warm} warm-up cycles, {rss_end / 1024:.1f} MiB at the end: "
                      f"{growth / 1024:+.1f} MiB ({per_cycle:+.1f} KiB per cycle after the "
                      f"warm-up; " + (
                          f"at {same[0]} hot-added CPUs {same[1] / 1024:.1f} -> "
                          f"{same[2] / 1024:.1f} MiB over {same[3]} cycles"
                          if same else "no two cycles with the same CPU count after all "
                          "slots were used") +
                      f"); {heap_note(heaps.get(len(s.plugged)), heap_end, rss_trim, rss_warm)}"
                      f"; guest RAM resident {guest0 / 1024:.0f} -> "
                      f"{guest_end / 1024:.0f} MiB, TCG code buffer {jit0 / 1024:.0f} -> "
                      f"{jit_end / 1024:.0f} MiB; "
                      + ", ".join(f"{k} {v}" for k, v in sorted(s.counts.items())))
        if rss_goal and growth >= RSS_GOAL_KIB:
            return res.fail(f"QEMU's RSS grew {growth / 1024:.1f} MiB after the warm-up "
                            f"(goal: < {RSS_GOAL_KIB // 1024} MiB); {res.detail}")
        res.ok = True
        return res
    except Exception as e:  # noqa: BLE001 - report, never hang or crash
        return g.harness_error(res, e)
    finally:
        g.close()


def main():
    import argparse
    ap = argparse.ArgumentParser(description="CPU hotplug soak on one live guest "
                                 "(see the module's docstring)")
    ap.add_argument("--cycles", type=int, default=200)
    ap.add_argument("--seed", type=int)
    ap.add_argument("--fw", default="ovmf-parking",
                    help="firmware configuration (tests/e2e/run.py --list)")
    ap.add_argument("--qemu", default=os.environ.get(
        "QEMU", os.path.join(harness.CACHE, "build", "qemu", "qemu-system-x86_64")))
    ap.add_argument("--cpu-timeout", type=float, default=20.0)
    ap.add_argument("--logdir", default=os.path.join(harness.CACHE, "logs"))
    ap.add_argument("--accel", help="-accel value instead of the firmware "
                    "configuration's (e.g. tcg,tb-size=32)")
    ap.add_argument("--heap", action="store_true",
                    help="also read malloc's figures with gdb after the warm-up "
                    "and at the end, and the RSS after a malloc_trim(0): "
                    "tells a leak from memory that malloc keeps for reuse")
    ap.add_argument("--no-rss-goal", action="store_true",
                    help="report the RSS growth but do not fail on it")
    a = ap.parse_args()
    os.makedirs(a.logdir, exist_ok=True)
    if harness.FIRMWARE[a.fw].get("accel") == "kvm":
        why = harness.kvm_smm_missing(a.qemu)
        if why:
            print(f"SKIP  {a.fw}-soak: {why}")
            print("0 passed, 0 failed, 1 skipped")
            return 0
    res = run(a.qemu, a.fw, a.cycles, seed=a.seed, logdir=a.logdir,
              cpu_timeout=a.cpu_timeout, log=lambda m: print(m, flush=True),
              rss_goal=not a.no_rss_goal, accel=a.accel, heap=a.heap)
    if res.ok:
        print(f"PASS  {res.name}: {res.detail}")
    else:
        print(f"FAIL  {res.name}: {res.detail}")
        for d in res.diag:
            print("      " + d)
    print(f"{int(res.ok)} passed, {int(not res.ok)} failed")
    return 0 if res.ok else 1


if __name__ == "__main__":
    raise SystemExit(main())

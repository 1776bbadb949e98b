# SPDX-License-Identifier: GPL-2.0-or-later
"""Management-style races with CPU hotplug (e2e scenarios):

add3-in-smi  The guest writes UEFI variables in a loop (broadcast SMIs).
             The VM is stopped while CPU 0 is inside an SMI (SMM=1 in its
             registers), 3 CPUs are added back to back, the VM continues.
             All 3 must be parked while the VM is stopped, then come online;
             the variable writes must finish.
slot-race    device_add of a CPU, device_del of it (soon in even rounds,
             once the guest has it online in odd rounds), soon
             device_add of another CPU into the same slot; five rounds.
             "Soon" is a random 0-40 ms (seed in the result), so that the
             commands land before, during and after the guest's CPU scan
             and its hotplug SMI, as a management client's do.
             Either the first CPU was still parked (removed at once, the
             second add is accepted) or the guest already has it (the
             removal waits for the guest, the second add is refused because
             the slot is taken).  Either way QEMU and the guest must end
             with the same CPUs, all online, and a broadcast SMI must reach
             every CPU.  SMMHP_E2E_SLOT_RACE_ROUNDS=N runs N rounds (the
             race is a few milliseconds wide: use many to look for it).
"""

import random
import re
import time

import harness
from harness import QMPError
from soak import settled, wait_removed

IN_SMI_ATTEMPTS = 200
EFI_LOOP = 60
SLOT_RACE_GAP = 0.04    # s, most between two commands of a slot-race round


def cpu0_in_smm(g):
    regs = g.qmp.hmp("info registers")
    m = re.search(r"SMM=(\d)", regs)
    return bool(m and m.group(1) == "1")


def wait_online(g, count, since, timeout, failed_ok=False):
    """Wait for count 'CPU<n> ONLINE' lines after since; None or why not.
    A 'CPU<n> ONLINE FAILED' line fails at once, unless failed_ok: then it
    is skipped (in a slot race the guest may try to online a CPU that is
    being ejected, and say so late, after the next round has begun)."""
    idx, seen = since, 0
    deadline = time.monotonic() + timeout
    while seen < count:
        hit = g.wait_line(r"E2E: CPU(\d+) ONLINE( FAILED)?", deadline - time.monotonic(), idx)
        if not hit:
            return f"{count - seen} of {count} CPUs not online within {timeout:.0f} s"
        idx = hit[2] + 1
        if hit[1].group(2):
            if failed_ok:
                continue
            return f"the guest failed to online CPU{hit[1].group(1)}"
        seen += 1
    return None


def add3_in_smi(g, res, cpu_timeout):
    scale = float(harness.os.environ.get("SMMHP_E2E_SMI_SCALE", "1"))
    seed = random.randrange(1 << 32)
    rng = random.Random(seed)
    since = g.mark()
    g.send(f"efi {EFI_LOOP}")
    caught = 0
    for attempt in range(1, IN_SMI_ATTEMPTS + 1):
        time.sleep(rng.uniform(0.005, 0.05))
        g.qmp.cmd("stop")
        if cpu0_in_smm(g):
            caught = attempt
            break
        g.qmp.cmd("cont")
        if g.wait_line(r"E2E: CMD efi", 0, since):
            since = g.mark()
            g.send(f"efi {EFI_LOOP}")
    if not caught:
        return res.fail(f"CPU 0 was never inside an SMI in {IN_SMI_ATTEMPTS} stops "
                        f"while the guest wrote UEFI variables (stop times: seed {seed})")
    ids = []
    for k, slot in enumerate(harness.free_slots(g.qmp)[:3]):
        dev_id = f"smicpu{k}"
        try:
            harness.device_add_cpu(g.qmp, slot, dev_id)
        except QMPError as e:
            g.qmp.cmd("cont")
            return res.fail(f"device_add {dev_id} while the guest is in an SMI "
                            f"refused: {e.desc}")
        ids.append(dev_id)
    states = {i: harness.park_state(g, i) for i in ids}
    if any(s != 1 for s in states.values()):
        g.qmp.cmd("cont")
        return res.fail(f"CPUs added while the guest is stopped in an SMI are not all "
                        f"parked: {states}")
    added = g.mark()
    t = time.monotonic()
    g.qmp.cmd("cont")
    err = wait_online(g, 3, added, cpu_timeout * 3)
    if err:
        return res.fail(f"after device_add x3 inside an SMI: {err}", g.diagnose(added))
    res.times.append(time.monotonic() - t)
    # the writes go on while the CPUs come up: 3 s a write at most
    if not g.wait_line(r"E2E: CMD efi \d+ rc=0", EFI_LOOP * 3 * scale, since):
        return res.fail("the guest's UEFI variable writes did not finish", g.diagnose(since))
    return finish(g, res, f"stopped inside an SMI after {caught} tries; 3 CPUs parked "
                  f"while stopped, online {res.times[0]:.2f} s after cont")


def slot_race(g, res, cpu_timeout, rounds=None):
    if rounds is None:
        rounds = int(harness.os.environ.get("SMMHP_E2E_SLOT_RACE_ROUNDS", "5"))
    # SMMHP_E2E_SLOT_RACE_SEED repeats the gaps of a run (its timing in
    # the host and the guest differs, so not always its outcome)
    seed = int(harness.os.environ.get("SMMHP_E2E_SLOT_RACE_SEED", "0")) or \
        random.randrange(1, 1 << 32)
    rng = random.Random(seed)
    outcomes = {"re-add accepted": 0, "re-add refused": 0, "refusal": None}
    tag = f" (gaps: seed {seed})"

    def fail(why, diag=()):
        return res.fail(why + tag, diag)

    for r in range(rounds):
        since = g.mark()
        slot = harness.free_slots(g.qmp)[0]
        a, b = f"race{r}a", f"race{r}b"
        try:
            harness.device_add_cpu(g.qmp, slot, a)
        except QMPError as e:
            return fail(f"round {r + 1}: device_add {a} refused: {e.desc}")
        if r % 2:
            # odd rounds: the guest has the first CPU online before the race
            err = wait_online(g, 1, since, cpu_timeout, failed_ok=True)
            if err:
                return fail(f"round {r + 1}: {a}: {err}", g.diagnose(since))
        else:
            time.sleep(rng.uniform(0, SLOT_RACE_GAP))
        try:
            g.qmp.cmd("device_del", id=a)
        except QMPError as e:
            return fail(f"round {r + 1}: device_del {a} right after its device_add "
                        f"refused: {e.desc}")
        time.sleep(rng.uniform(0, SLOT_RACE_GAP))
        try:
            harness.device_add_cpu(g.qmp, slot, b)
            accepted = True
        except QMPError as e:
            accepted = False
            outcomes["refusal"] = e.desc
            if not re.search(r"already|exists|in use|occupied", e.desc):
                return fail(f"round {r + 1}: device_add into the slot of {a}, "
                            f"which is being removed, refused with an unexpected "
                            f"error: {e.desc}")
        outcomes["re-add accepted" if accepted else "re-add refused"] += 1
        # a: gone from QEMU; b: online in the guest if it was accepted
        err = wait_removed(g, a, cpu_timeout) or settled(g, cpu_timeout)
        if err:
            return fail(f"round {r + 1}: {err}", g.diagnose(since))
        if accepted:
            err = harness.unplug(g, b, cpu_timeout)
            if err:
                return fail(f"round {r + 1}: {err}", g.diagnose(since))
            err = settled(g, cpu_timeout)
            if err:
                return fail(f"round {r + 1}: after removing {b}: {err}",
                            g.diagnose(since))
    return finish(g, res, ", ".join(f"{k} {v}" for k, v in outcomes.items()
                                    if v is not None) + tag, tag)


def finish(g, res, detail, tag=""):
    since = g.mark()
    err = settled(g, 20)
    if err:
        return res.fail(err + tag, g.diagnose(since))
    err = harness.smi_roundtrip(g)
    if err:
        return res.fail(err + tag, g.diagnose(since))
    why = harness.check_smbases(list(g.stderr), harness.smram_range(g.qmp))
    if why:
        return res.fail(why + tag)
    why = harness.alive(g, "at the end")
    if why:
        return res.fail(why + tag, g.diagnose(since))
    res.ok = True
    res.detail = detail
    return res

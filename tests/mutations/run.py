#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Show that the tests can fail: apply one mutation at a time to the built
QEMU tree (remove the check a test guards), rebuild, run that test, expect
it to FAIL, restore and rebuild.

    tests/mutations/run.py [--list] [NAME ...]

Needs a built tree (make qemu testfw; OVMF and the guest for the e2e
mutations).  Edits $SMMHP_CACHE/src/qemu in place and always restores it;
the next `make qemu` would restore it too.  Not part of make check: each
mutation costs a rebuild (5-10 s) and a test run (10 s to 2 min).
Prints 'KILLED name: first failure line' when the test failed as it
must, 'SURVIVED name' when it passed anyway (a test that cannot fail), and
ends with 'N killed, M survived'.
"""
import argparse
import os
import subprocess
import sys

TOP = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CACHE = os.environ.get("SMMHP_CACHE", os.path.expanduser("~/.cache/smm-hotplug"))
SRC = os.path.join(CACHE, "src", "qemu")
BUILD = os.path.join(CACHE, "build", "qemu")
QT = (f"cd {BUILD} && QTEST_QEMU_BINARY=./qemu-system-x86_64 "
      f"QTEST_QEMU_BINARY_NOPARK={CACHE}/build/qemu-baseline/qemu-system-x86_64 "
      "timeout 300 tests/qtest/q35-smi-test -p /x86_64/q35/smi/")
TF = f"cd {TOP} && {sys.executable} tests/testfw/run.py --accel tcg "
FUZZ_BUILD = os.path.join(CACHE, "build", "qemu-fuzz")
FUZZ = f"cd {TOP} && {sys.executable} tests/fuzz/run.py --time 20 "
E2E = f"cd {TOP} && {sys.executable} tests/e2e/run.py "
SMM = "hw/acpi/cpu_hotplug_smm.c"

# the answer to SMM's "waits for SIPI", as our cpu-hold.c has it now (from
# the staged tree, pristine + series, which mutations never touch)
_HOLD = open(os.path.join(CACHE, "src", "qemu.stage", "target", "i386", "cpu-hold.c")).read()
WAITS_LIVE = _HOLD[_HOLD.index("static void x86_cpu_hold_smi_raised(CPUState *cs)"):
                   _HOLD.index("const CPUHoldOps x86_cpu_hold_ops")]
# under TCG the answer is the CPU's state at the time of the read
WAITS_TCG = WAITS_LIVE[WAITS_LIVE.index("    if (kvm_enabled()) {"):
                       WAITS_LIVE.index("    pending = qatomic_read")]
WAITS_STALE = """\
static void x86_cpu_hold_smi_raised(CPUState *cs)
{
    X86CPU *cpu = X86_CPU(cs);

    x86_cpu_hold_note_smi(cpu, !kvm_enabled() && cpu->apic_state &&
                               apic_is_waiting_for_sipi(cpu->apic_state));
}

void x86_cpu_hold_note_smi(X86CPU *cpu, bool waits_for_sipi)
{
    qatomic_set(&cpu->env.hold_smi_waits_for_sipi, waits_for_sipi);
}

static bool x86_cpu_hold_smi_waits_for_sipi(CPUState *cs)
{
    return qatomic_read(&X86_CPU(cs)->env.hold_smi_waits_for_sipi);
}

"""

# name -> (file under src/qemu, text, replacement, test command)
MUTATIONS = {
    "smm-own-selector": (SMM, "    uint32_t sel = st->selector;\n    uint8_t cmd = st->command;\n\n",
                         "    uint32_t sel = st->selector;\n    uint8_t cmd = st->command;\n\n"
                         "    if (sel != 0xdead) {\n        return;\n    }\n",
                         TF + "parking-racing-selector"),
    "smbase-read-smm-only": (SMM, "val = parked && attrs.secure ?", "val = parked ?",
                             QT + "parking/controls"),
    "parked-hidden-from-os": (SMM, "val &= ~(uint64_t)CPHP_SMM_STATUS_ENABLED;", ";",
                              QT + "parking/controls"),
    "command-out-of-range": (SMM, "data != CPHP_SMM_FC_CMD) || !selected(st)) {",
                             "data != CPHP_SMM_FC_CMD)) {", QT + "parking/controls"),
    "narrow-smbase-write": (SMM, "    if (size != 4) {", "    if (0) {", TF + "parking-decode"),
    "unpark-with-other-bits": (SMM, "!(data & CPHP_SMM_CTRL_OTHERS)) {", "1) {",
                               TF + "parking-decode"),
    "release-drops-pending": ("target/i386/cpu-hold.c", "    cpu_reset_interrupt(cs, ~0);\n", "",
                              TF + "hold-device-interrupts"),
    "prelaunch": (SMM, "dev->hotplugged && guest_has_run() &&", "dev->hotplugged &&",
                  QT + "parking/prelaunch"),
    "prelaunch-e2e": (SMM, "dev->hotplugged && guest_has_run() &&", "dev->hotplugged &&",
                      E2E + "ovmf-parking-prelaunch-add2"),
    "legacy-not-announced": ("hw/acpi/ich9.c",
                             "if (!cpu_hotplug_smm_is_parked(CPU(dev))) {\n                legacy",
                             "if (1) {\n                legacy", QT + "parking/legacy-mode"),
    "legacy-switch-announces": ("hw/acpi/ich9.c",
                                "if (cpu_hotplug_smm_insert_parked(&s->pm.cpuhp_state)) {",
                                "if (0) {", QT + "parking/legacy-mode"),
    "legacy-unplug": ("hw/acpi/ich9.c",
                      "    } else if (object_dynamic_cast(OBJECT(dev), TYPE_CPU) &&\n"
                      "               cpu_hotplug_smm_is_parked(CPU(dev))) {\n"
                      "        /* parked in legacy mode",
                      "    } else if (0) {\n        /* parked in legacy mode",
                      QT + "parking/legacy-mode"),
    "s3-keeps-hold": ("hw/core/cpu-common.c", "    cpu->interrupt_request = 0;\n",
                      "    cpu->interrupt_request = 0;\n    if (DEVICE(cpu)->realized) {\n"
                      "        qatomic_set(&cpu->hold, 0);\n    }\n", QT + "parking/s3"),
    "s3-controls-while-parked": (SMM, "              any_cpu_parked();", "              false;",
                                 QT + "parking/s3"),
    "s3-wakeup-gpe": (SMM, "            acpi_send_event(s->acpi_dev, ACPI_CPU_HOTPLUG_STATUS);\n"
                      "            return;", "            return;", QT + "parking/s3"),
    "apm-reset": ("hw/isa/lpc_ich9.c", "    lpc->apm.apmc = 0;\n", "", QT + "apm-reset"),
    "migration-not-offered": (SMM, "    } else if (err) {", "    } else if (0) {",
                              QT + "parking/migration-not-offered"),
    "migration-subsection": ("hw/isa/lpc_ich9.c",
                             "    return smi_negotiated(&lpc->smi, "
                             "ICH9_LPC_SMI_F_CPU_HOTPLUG_PARKING_BIT);",
                             "    return false;", QT + "parking/migration-to-old"),
    "smi-waits-for-sipi": ("target/i386/cpu-hold.c", WAITS_TCG, "    return false;\n",
                           TF + "parking-smi-waits-for-sipi"),
    "smi-waits-for-sipi-e2e": ("target/i386/cpu-hold.c", WAITS_TCG, "    return false;\n",
                               E2E + "ovmf-parking-add1-late-online"),
    # a TCG vCPU thread of a hot-added CPU never gets an exited thread's
    # context: slot-race hot-adds more CPUs than maxcpus (4) over its rounds
    "tcg-context-reuse": ("tcg/tcg.c", "            qatomic_xchg(&tcg_spare_ctxs[i], NULL) : NULL;",
                          "            NULL : NULL;", E2E + "ovmf-parking-slot-race"),
    # the fuzz target's invariant: nothing but SMM sets an SMBASE or unparks
    "fuzz-not-smm": (SMM, "    if (!attrs.secure) {\n        trace_cpu_hotplug_smm_ignored(st->selector, "
                     "not_smm);", "    if (0) {\n        trace_cpu_hotplug_smm_ignored("
                     "st->selector, not_smm);", FUZZ + "smm-cpu-hotplug"),
    # ... and no release before the SMBASE is set
    "fuzz-release-before-smbase": ("hw/core/cpu-hold.c",
                                   "    if (cpu_hold_state(cpu) != CPU_HOLD_READY) {\n"
                                   "        return false;",
                                   "    if (!cpu_hold_is_held(cpu)) {\n        return false;",
                                   FUZZ + "smm-cpu-hotplug"),
    # an unplugged CPU under TCG is freed (patch 'target/i386/tcg: free the
    # X86CPU of an unplugged CPU')
    "tcg-free-cpu": ("target/i386/cpu.c", "        tcg_cpu_unrealize(cpu);\n", "",
                     TF + "parked-churn"),
    # a CPU slot is free only once its CPU is unrealized (patch 'hw/i386:
    # free an unplugged CPU's slot only after it is unrealized'): else a
    # device_add during the vCPU thread's join makes QEMU exit (duplicate
    # vmstate); slot-race's odd rounds, with random gaps, hit that window
    "slot-free-after-unrealize": ("hw/i386/x86-common.c",
                                  "    qdev_unrealize(dev);\n    found_cpu->cpu = NULL;\n",
                                  "    found_cpu->cpu = NULL;\n    qdev_unrealize(dev);\n",
                                  E2E.replace("&& ", "&& SMMHP_E2E_SLOT_RACE_ROUNDS=100 ")
                                  + "ovmf-parking-slot-race"),
    # the OS cannot clear the insert event of a parked CPU
    "parked-keeps-insert-event": (SMM, "    if (addr == CPHP_SMM_FLAGS_OFFSET && !attrs.secure &&",
                                  "    if (0 && addr == CPHP_SMM_FLAGS_OFFSET && !attrs.secure &&",
                                  QT + "parking/controls"),
    # the CPU scan raises the hotplug SMI again for a CPU still parked (the
    # expected DSDT of the parking variant guards the AML)
    "scan-second-smi": (SMM, "        aml_append(ifctx, aml_store(aml_int(OVMF_CPUHP_SMI_CMD),",
                        "        aml_append(ifctx, aml_store(aml_int(0),",
                        f"cd {BUILD} && QTEST_QEMU_BINARY=./qemu-system-x86_64 timeout 300 "
                        "tests/qtest/bios-tables-test -p /x86_64/acpi/q35/smi-parking"),
    # the downstream machine type must offer and require parking with SMM
    "machine-type-auto": (SMM, "    if (mode_on || (s->parking == ON_OFF_AUTO_AUTO && smm_enabled)) {",
                          "    if (mode_on) {", QT + "parking/machine-type"),
    # MSR_IA32_FEATURE_CONTROL of a parked CPU (command 5): installed at
    # the release, only bits the CPU has, and TCG's MSR itself
    "feature-control-installed": ("target/i386/cpu-hold.c",
                                  "    cpu->env.msr_ia32_feature_control = "
                                  "cpu->hold_feature_control;\n", "",
                                  TF + "parking-feature-control"),
    "feature-control-valid-bits": ("target/i386/cpu-hold.c",
                                   "    if (value & ~x86_feature_control_valid(&cpu->env)) {",
                                   "    if (0) {", TF + "parking-feature-control"),
    "feature-control-smm-only": (SMM, "    if (!smm_control_allowed(st, attrs,\n"
                                 "                             \"feature control write not from",
                                 "    if (!selected_parked(st) && !smm_control_allowed(st, attrs,\n"
                                 "                             \"feature control write not from",
                                 TF + "parking-feature-control"),
    "feature-control-migrates": ("target/i386/cpu-hold.c",
                                 "        &vmstate_x86_cpu_hold_feature_control,\n", "",
                                 TF + "parking-migration"),
    "tcg-msr-feature-control": ("target/i386/tcg/system/misc_helper.c",
                                "        val = env->msr_ia32_feature_control;\n",
                                "        val = 0;\n", TF + "parking-feature-control"),
    # SMM's "waits for SIPI" (status bit 6) as of the last broadcast SMI, as
    # before: stale on an SMI by IPI (the first SMI of an S3 resume)
    "waits-for-sipi-live": ("target/i386/cpu-hold.c", WAITS_LIVE, WAITS_STALE,
                            TF + "parking-smi-waits-for-sipi"),
}


def sh(cmd):
    r = subprocess.run(cmd, shell=True, capture_output=True, text=True)
    return r.returncode, r.stdout + r.stderr


def build(test=""):
    rc, out = sh(f"ninja -C {BUILD} qemu-system-x86_64 tests/qtest/q35-smi-test")
    if rc == 0 and "tests/fuzz/" in test:
        rc, out = sh(f"ninja -C {FUZZ_BUILD} qemu-fuzz-x86_64")
    return rc, out


def first_failure(out):
    for line in out.splitlines():
        if "FAIL" in line or "ERROR" in line or "not ok" in line:
            return line.strip()
    return out.strip().splitlines()[-1] if out.strip() else "(no output)"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--list", action="store_true")
    ap.add_argument("names", nargs="*")
    a = ap.parse_args()
    if a.list:
        for n, m in MUTATIONS.items():
            print(f"{n:28} {m[0]}  ->  {m[3].split(' ')[-1]}")
        return 0
    unknown = [n for n in a.names if n not in MUTATIONS]
    if unknown:
        print(f"unknown mutation(s): {', '.join(unknown)}; see --list", file=sys.stderr)
        return 2
    killed = survived = 0
    for name in a.names or MUTATIONS:
        path, old, new, test = MUTATIONS[name]
        p = os.path.join(SRC, path)
        orig = open(p).read()
        if old not in orig:
            print(f"ERROR {name}: the text to mutate is not in {path} (code changed?)")
            survived += 1
            continue
        print(f"mutation {name}: rebuilding, then {test.split(' ')[-1]}", flush=True)
        try:
            open(p, "w").write(orig.replace(old, new, 1))
            rc, out = build(test)
            if rc:
                print(f"ERROR {name}: the mutated tree does not build:\n{out[-1500:]}")
                survived += 1
                continue
            rc, out = sh(test)
            if rc:
                killed += 1
                print(f"KILLED {name}: {first_failure(out)}")
            else:
                survived += 1
                print(f"SURVIVED {name}: the test passed with the mutation")
        finally:
            open(p, "w").write(orig)
    rc, out = build("tests/fuzz/" if os.path.exists(FUZZ_BUILD) else "")
    if rc:
        print("ERROR: rebuilding the restored tree failed:\n" + out[-1500:])
        return 1
    print(f"{killed} killed, {survived} survived")
    return 0 if not survived else 1


if __name__ == "__main__":
    sys.exit(main())

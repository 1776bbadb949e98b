/*
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * x86 part of the CPU hotplug hold (include/hw/core/cpu-hold.h): the
 * SMBASE a held CPU starts with, and what releasing it resets.
 */

#include "qemu/osdep.h"
#include "qapi/visitor.h"
#include "migration/vmstate.h"
#include "hw/core/cpu-hold.h"
#include "hw/i386/apic.h"
#include "qemu/error-report.h"
#include "qemu/timer.h"
#include "system/kvm.h"
#include "system/tcg.h"
#include "system/qtest.h"
#include "cpu.h"
#include "kvm/kvm_i386.h"

static void x86_cpu_hold_set_smbase(CPUState *cs, uint32_t smbase)
{
    X86_CPU(cs)->hold_smbase = smbase;
}

static uint32_t x86_cpu_hold_get_smbase(CPUState *cs)
{
    X86CPU *cpu = X86_CPU(cs);

    /*
     * Until the firmware sets one, the CPU's own: the default SMBASE of a
     * CPU that never ran (under KVM env->smbase may be stale, but a held
     * vCPU never ran, so it is the reset value there too).
     */
    switch (cpu_hold_state(cs)) {
    case CPU_HOLD_READY:
    case CPU_HOLD_RELEASING:
        return cpu->hold_smbase;
    default:
        return cpu->env.smbase;
    }
}

/*
 * TCG: what was sent to the CPU while it was held waits in
 * interrupt_request and in its local APIC (a latched SIPI); drop both, as
 * an INIT does.  KVM: the kernel holds it, see kvm_x86_hold_release().
 * The CPU stays in wait-for-SIPI, with the firmware's SMBASE.
 */
static bool x86_cpu_hold_release(CPUState *cs)
{
    X86CPU *cpu = X86_CPU(cs);

    if (kvm_enabled()) {
        return kvm_x86_hold_release(cpu, cpu->hold_smbase);
    }
    if (!tcg_enabled() && !qtest_enabled()) {
        /*
         * No other accelerator does SMM: nothing could have set an SMBASE.
         * (qtest runs no CPU: the state is QEMU's alone, as under TCG.)
         */
        error_report("CPU %d: a held CPU cannot be released with this "
                     "accelerator", cs->cpu_index);
        return false;
    }
    cpu_reset_interrupt(cs, ~0);
    if (cpu->apic_state) {
        apic_init_reset(cpu->apic_state);
    }
    cpu->env.smbase = cpu->hold_smbase;
    return true;
}

/*
 * Whether the CPU has an SMI pending that it cannot take because it waits
 * for SIPI (status bit 6 for SMM, see docs/specs/acpi_cpu_hotplug.rst).
 *
 * TCG: the local APIC and the pending interrupts tell at the time of the
 * read (with the BQL held, which SIPI, INIT and SMI processing take too),
 * whatever raised the SMI: the chipset's broadcast or an IPI.  A CPU with
 * SIPI pending is being started: no.
 *
 * KVM: the kernel knows.  The CPU's thread asks it each time it injects the
 * chipset's broadcast SMI (kvm_arch_pre_run()), and again after each
 * KVM_RUN while the answer is yes (kvm_arch_post_run()), through
 * x86_cpu_hold_note_smi().  A broadcast SMI makes the answer no until the
 * thread has asked.  SIPI, and SMIs sent by IPI, go through the kernel's
 * local APIC without QEMU, so a yes can be stale, and a stale yes is the
 * unsafe direction: SMM counts the CPU out, and when it arrives after all
 * it is locked out of the rendezvous.  So a yes counts only for
 * WAITS_FOR_SIPI_FRESH_MS after the thread got it, and a read that finds a
 * yes kicks the CPU out of KVM_RUN (no waiting) so that its thread asks
 * again; the firmware reads again on its next scan.  The answer lives in
 * the part of CPUX86State that a reset clears (system reset, INIT, S3
 * wakeup), after which the CPU is started again.
 */
#define WAITS_FOR_SIPI_FRESH_MS 100

static void x86_cpu_hold_smi_raised(CPUState *cs)
{
    x86_cpu_hold_note_smi(X86_CPU(cs), false);
}

void x86_cpu_hold_note_smi(X86CPU *cpu, bool waits_for_sipi)
{
    qatomic_set(&cpu->env.hold_smi_noted_ms,
                (uint32_t)qemu_clock_get_ms(QEMU_CLOCK_REALTIME));
    qatomic_set(&cpu->env.hold_smi_waits_for_sipi, waits_for_sipi);
}

static bool x86_cpu_hold_smi_waits_for_sipi(CPUState *cs)
{
    X86CPU *cpu = X86_CPU(cs);
    int pending;

    if (kvm_enabled()) {
        uint32_t age;

        if (!qatomic_read(&cpu->env.hold_smi_waits_for_sipi)) {
            return false;
        }
        age = (uint32_t)qemu_clock_get_ms(QEMU_CLOCK_REALTIME) -
              qatomic_read(&cpu->env.hold_smi_noted_ms);
        qemu_cpu_kick(cs);
        return age <= WAITS_FOR_SIPI_FRESH_MS;
    }
    pending = qatomic_read(&cs->interrupt_request);
    return cpu->apic_state && apic_is_waiting_for_sipi(cpu->apic_state) &&
           (pending & CPU_INTERRUPT_SMI) && !(pending & CPU_INTERRUPT_SIPI);
}

const CPUHoldOps x86_cpu_hold_ops = {
    .set_smbase = x86_cpu_hold_set_smbase,
    .get_smbase = x86_cpu_hold_get_smbase,
    .release = x86_cpu_hold_release,
    .smi_raised = x86_cpu_hold_smi_raised,
    .smi_waits_for_sipi = x86_cpu_hold_smi_waits_for_sipi,
};

/* Read-only views for debugging and tests; only the chipset changes them */
static void x86_cpu_get_hold_state(Object *obj, Visitor *v, const char *name,
                                   void *opaque, Error **errp)
{
    uint8_t value = cpu_hold_state(CPU(obj));

    visit_type_uint8(v, name, &value, errp);
}

static void x86_cpu_get_hold_smbase(Object *obj, Visitor *v, const char *name,
                                    void *opaque, Error **errp)
{
    uint32_t value = x86_cpu_hold_get_smbase(CPU(obj));

    visit_type_uint32(v, name, &value, errp);
}

void x86_cpu_hold_init(Object *obj)
{
    object_property_add(obj, "x-hotplug-park", "uint8",
                        x86_cpu_get_hold_state, NULL, NULL, NULL);
    object_property_set_description(obj, "x-hotplug-park",
        "CPU hotplug hold (read-only): 0 runs, 1 held, 2 held with its "
        "SMBASE set, 3 being released");
    object_property_add(obj, "x-hotplug-smbase", "uint32",
                        x86_cpu_get_hold_smbase, NULL, NULL, NULL);
    object_property_set_description(obj, "x-hotplug-smbase",
        "SMBASE a held CPU starts with (read-only)");
}

static bool x86_cpu_hold_needed(void *opaque)
{
    return cpu_hold_state(CPU(opaque)) != CPU_HOLD_NONE;
}

static int x86_cpu_hold_pre_save(void *opaque)
{
    return cpu_hold_pre_save(CPU(opaque));
}

static int x86_cpu_hold_post_load(void *opaque, int version_id)
{
    return cpu_hold_post_load(CPU(opaque));
}

/*
 * Sent only for a held CPU: a destination that does not know it fails the
 * migration instead of running the CPU.
 */
const VMStateDescription vmstate_x86_cpu_hold = {
    .name = "cpu/hotplug_hold",
    .version_id = 1,
    .minimum_version_id = 1,
    .needed = x86_cpu_hold_needed,
    .pre_save = x86_cpu_hold_pre_save,
    .post_load = x86_cpu_hold_post_load,
    .fields = (const VMStateField[]) {
        VMSTATE_UINT8(parent_obj.hold, X86CPU),
        VMSTATE_UINT32(hold_smbase, X86CPU),
        VMSTATE_END_OF_LIST()
    }
};

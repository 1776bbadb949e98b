/*
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * CPU hotplug hold, see include/hw/core/cpu-hold.h.
 *
 * The state lives in CPUState.hold; system/cpus.c keeps a CPU whose state
 * is not CPU_HOLD_NONE from running.  The architecture's part (the SMBASE,
 * what a release resets) is behind SysemuCPUOps.hold.
 */

#include "qemu/osdep.h"
#include "qemu/main-loop.h"
#include "qemu/error-report.h"
#include "hw/core/cpu.h"
#include "hw/core/sysemu-cpu-ops.h"
#include "hw/core/cpu-hold.h"
#include "trace.h"

static const CPUHoldOps *hold_ops(CPUState *cpu)
{
    const SysemuCPUOps *ops = cpu->cc->sysemu_ops;

    return ops ? ops->hold : NULL;
}

bool cpu_hold_supported(CPUState *cpu)
{
    return hold_ops(cpu) != NULL;
}

void cpu_hold(CPUState *cpu)
{
    assert(bql_locked() && cpu_hold_supported(cpu));
    assert(!DEVICE(cpu)->realized);
    qatomic_set(&cpu->hold, CPU_HOLD_HELD);
    /* before realize: no cpu_index yet, name it by its QOM path */
    trace_cpu_hold(object_get_canonical_path_component(OBJECT(cpu)) ?: "?");
}

bool cpu_hold_is_held(CPUState *cpu)
{
    CPUHoldState s = cpu_hold_state(cpu);

    return s == CPU_HOLD_HELD || s == CPU_HOLD_READY;
}

bool cpu_hold_set_smbase(CPUState *cpu, uint32_t smbase)
{
    if (!cpu_hold_is_held(cpu)) {
        return false;
    }
    hold_ops(cpu)->set_smbase(cpu, smbase);
    qatomic_set(&cpu->hold, CPU_HOLD_READY);
    return true;
}

uint32_t cpu_hold_get_smbase(CPUState *cpu)
{
    return hold_ops(cpu)->get_smbase(cpu);
}

void cpu_hold_smi_raised(CPUState *cpu)
{
    const CPUHoldOps *ops = hold_ops(cpu);

    if (ops && ops->smi_raised) {
        ops->smi_raised(cpu);
    }
}

bool cpu_hold_smi_waits_for_sipi(CPUState *cpu)
{
    const CPUHoldOps *ops = hold_ops(cpu);

    return ops && ops->smi_waits_for_sipi && ops->smi_waits_for_sipi(cpu);
}

/* On the CPU's own thread, with the BQL, before it runs again. */
static void cpu_hold_release_work(CPUState *cpu, run_on_cpu_data data)
{
    if (cpu_hold_state(cpu) != CPU_HOLD_RELEASING) {
        /* a reset came first: nothing is held any more */
        return;
    }
    if (!hold_ops(cpu)->release(cpu)) {
        /* what it latched would survive: keep it held, visibly */
        qatomic_set(&cpu->hold, CPU_HOLD_READY);
        trace_cpu_hold_release_failed(cpu->cpu_index);
        return;
    }
    qatomic_set(&cpu->hold, CPU_HOLD_NONE);
    trace_cpu_hold_released(cpu->cpu_index);
}

bool cpu_hold_release(CPUState *cpu)
{
    if (cpu_hold_state(cpu) != CPU_HOLD_READY) {
        return false;
    }
    qatomic_set(&cpu->hold, CPU_HOLD_RELEASING);
    trace_cpu_hold_releasing(cpu->cpu_index);
    /* queued, not waited for: callers are I/O handlers */
    async_run_on_cpu(cpu, cpu_hold_release_work, RUN_ON_CPU_NULL);
    return true;
}

void cpu_hold_reset_all(void)
{
    CPUState *cpu;

    CPU_FOREACH(cpu) {
        if (cpu_hold_state(cpu) != CPU_HOLD_NONE) {
            trace_cpu_hold_reset(cpu->cpu_index);
            qatomic_set(&cpu->hold, CPU_HOLD_NONE);
        }
    }
}

/*
 * A release is queued work on a running CPU thread; stopping the VM runs
 * it (the thread processes its queued work as it stops), so a stopped VM
 * has no CPU in CPU_HOLD_RELEASING.  Do not migrate one if it ever had.
 */
int cpu_hold_pre_save(CPUState *cpu)
{
    if (cpu_hold_state(cpu) == CPU_HOLD_RELEASING) {
        error_report("CPU %d is being released from its hotplug hold; "
                     "migrate again once it runs", cpu->cpu_index);
        return -EBUSY;
    }
    return 0;
}

int cpu_hold_post_load(CPUState *cpu)
{
    CPUHoldState s = cpu_hold_state(cpu);

    if (s == CPU_HOLD_RELEASING || s >= CPU_HOLD__MAX ||
        (s != CPU_HOLD_NONE && !cpu_hold_supported(cpu))) {
        return -EINVAL;
    }
    return 0;
}

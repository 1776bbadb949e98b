/*
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * CPU hotplug hold: a hot-added CPU that runs nothing until the firmware
 * has prepared it and released it (CPU hotplug with parking,
 * hw/acpi/cpu_hotplug_smm.c, docs/specs/acpi_cpu_hotplug.rst).
 *
 * While a CPU is held its thread sleeps: cpu_can_run() is false and
 * cpu_thread_is_idle() true for every accelerator, so it enters neither
 * TCG nor KVM_RUN.  Interrupts, INIT, SIPI, SMI and NMI sent to it are not
 * acted on; whatever the accelerator latched for it is discarded when it
 * is released.  The release itself runs on the CPU's own thread (queued
 * work, never a wait in the caller): there the architecture drops what
 * arrived while the CPU was held and installs the state the firmware
 * prepared (x86: the SMBASE), then the CPU runs like any other.
 *
 * All functions are called with the BQL held.
 */

#ifndef HW_CORE_CPU_HOLD_H
#define HW_CORE_CPU_HOLD_H

#include "hw/core/cpu.h"

/* CPUState.hold */
typedef enum CPUHoldState {
    CPU_HOLD_NONE = 0,      /* not held: runs as usual */
    CPU_HOLD_HELD,          /* held, nothing prepared yet */
    CPU_HOLD_READY,         /* held, its SMBASE set: it may be released */
    CPU_HOLD_RELEASING,     /* released; its thread has not taken it yet */
    CPU_HOLD__MAX,
} CPUHoldState;

/* SysemuCPUOps.hold: what an architecture that can hold a CPU provides */
typedef struct CPUHoldOps {
    /* store the SMBASE @cpu gets when it is released */
    void (*set_smbase)(CPUState *cpu, uint32_t smbase);
    /* the SMBASE it starts with: the stored one once set, else its own */
    uint32_t (*get_smbase)(CPUState *cpu);
    /*
     * On @cpu's own thread, before it runs: discard what arrived while it
     * was held and install the stored SMBASE.  False if that failed (the
     * reason reported); the CPU then stays held.
     */
    bool (*release)(CPUState *cpu);
    /*
     * A broadcast SMI is about to be raised on @cpu: forget an answer that
     * its thread has to find out again when it injects the SMI.
     */
    void (*smi_raised)(CPUState *cpu);
    /*
     * Whether @cpu has an SMI pending that it cannot take because it waits
     * for SIPI (x86: INIT received, no SIPI yet); false when not known.
     * It must not outlive a reset of @cpu.
     */
    bool (*smi_waits_for_sipi)(CPUState *cpu);
} CPUHoldOps;

static inline CPUHoldState cpu_hold_state(CPUState *cpu)
{
    return qatomic_read(&cpu->hold);
}

/* Whether @cpu's architecture can hold it. */
bool cpu_hold_supported(CPUState *cpu);

/*
 * Hold @cpu.  Call before it can first run: from the hotplug handler's
 * pre_plug callback, before realize creates and resumes its thread.  The
 * hold lasts until the release or a system reset (cpu_hold_reset_all());
 * the CPU resets of realize and of an S3 wakeup keep it.
 */
void cpu_hold(CPUState *cpu);

/* System reset: every CPU is a cold CPU again, none is held. */
void cpu_hold_reset_all(void);

/* Whether @cpu is held and not released yet (HELD or READY). */
bool cpu_hold_is_held(CPUState *cpu);

/* Set the SMBASE of a held CPU; false if @cpu is not held. */
bool cpu_hold_set_smbase(CPUState *cpu, uint32_t smbase);
uint32_t cpu_hold_get_smbase(CPUState *cpu);

/*
 * Release a READY CPU: it becomes RELEASING at once and its thread is
 * kicked to finish the release before it runs (the state then goes to
 * NONE, or back to READY if the release failed, its reason reported).
 * False, and nothing done, if @cpu is not READY.
 */
bool cpu_hold_release(CPUState *cpu);

/*
 * SMIs and CPUs that cannot take them: the chipset calls
 * cpu_hold_smi_raised() before it raises a broadcast SMI on @cpu, and
 * tells SMM, which waits for every CPU in an SMI rendezvous, which CPUs
 * have an SMI pending while they wait for SIPI
 * (cpu_hold_smi_waits_for_sipi()): it need not wait for those.  False for
 * a CPU whose architecture cannot tell.
 */
void cpu_hold_smi_raised(CPUState *cpu);
bool cpu_hold_smi_waits_for_sipi(CPUState *cpu);

/* For the architecture's migration code: refuse RELEASING, check a load */
int cpu_hold_pre_save(CPUState *cpu);
int cpu_hold_post_load(CPUState *cpu);

#endif

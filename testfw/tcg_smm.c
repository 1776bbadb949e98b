/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The two SMM behaviours OVMF's CPU hotplug relies on, as hardware and KVM
 * implement them:
 *  - INIT is latched while a CPU is in SMM and delivered after RSM;
 *  - an SMI sent to a CPU in wait-for-SIPI stays pending until SIPI starts
 *    the CPU, and is then taken before its first instruction.
 * Both run against AP 1 (-smp 2).
 */
#include "testfw.h"
#include "cases.h"

#define AP 1
#define SECOND 1000000

static void start_ap(void)
{
    uint32_t t = MB(MB_TRAMP_COUNT);

    apic_ipi(AP, ICR_INIT);
    udelay(10000);
    apic_ipi(AP, ICR_SIPI | TRAMP_VECTOR);
    check("ap-started", wait_change(&MB(MB_TRAMP_COUNT), t, SECOND),
          "AP %u did not run the trampoline after INIT-SIPI", AP);
}

void case_init_held_in_smm(void)
{
    uint32_t hb1, hb2, t;

    smm_setup();
    start_ap();
    apic_ipi(AP, ICR_SMI);
    if (!wait_change(&MB(MB_SMM_ENTRIES), 0, SECOND)) {
        check("ap-entered-smm", false, "directed SMI not taken by a running AP");
        return;
    }
    /* The AP now spins in its SMI handler.  Send INIT. */
    apic_ipi(AP, ICR_INIT);
    udelay(50000);
    hb1 = MB(MB_SMM_HEARTBEAT);
    udelay(50000);
    hb2 = MB(MB_SMM_HEARTBEAT);
    check("init-held-in-smm", hb2 != hb1,
          "the SMI handler stopped running after INIT: INIT took the CPU out of SMM");
    /* Release the handler: it must still be there to execute RSM. */
    MB(MB_SMM_GO) = 1;
    check("rsm-after-init", wait_change(&MB(MB_SMM_EXITS), 0, SECOND),
          "the SMI handler never reached RSM");
    /* The latched INIT must now have put the AP into wait-for-SIPI. */
    t = MB(MB_TRAMP_COUNT);
    udelay(10000);
    apic_ipi(AP, ICR_SIPI | TRAMP_VECTOR);
    check("init-delivered-after-rsm", wait_change(&MB(MB_TRAMP_COUNT), t, SECOND),
          "SIPI after RSM did not start the AP: the latched INIT was lost");
}

void case_smi_pending_in_wait_for_sipi(void)
{
    uint32_t entries;

    smm_setup();
    MB(MB_SMM_GO) = 1;                  /* the handler returns at once */
    apic_ipi(AP, ICR_SMI);              /* AP 1 was never started */
    udelay(100000);
    entries = MB(MB_SMM_ENTRIES);
    check("smi-held-in-wait-for-sipi", entries == 0,
          "the AP entered SMM from wait-for-SIPI (saved CS:IP %x:%x)",
          MB(MB_SMM_CS), MB(MB_SMM_RIP));
    if (entries) {
        return;
    }
    apic_ipi(AP, ICR_INIT);
    udelay(10000);
    check("smi-survives-init", MB(MB_SMM_ENTRIES) == 0,
          "INIT made the AP take the SMI");
    apic_ipi(AP, ICR_SIPI | TRAMP_VECTOR);
    wait_change(&MB(MB_TRAMP_COUNT), 0, SECOND);
    check("smi-taken-after-sipi", MB(MB_SMM_ENTRIES) == 1,
          "%u SMM entries after SIPI (expected 1)", MB(MB_SMM_ENTRIES));
    check("smi-before-first-instruction",
          MB(MB_SMM_SAW_TRAMP) == 0 && MB(MB_SMM_CS) == TRAMP_VECTOR << 8 &&
          MB(MB_SMM_RIP) == 0,
          "SMM entered at %x:%x with %u trampoline starts before it",
          MB(MB_SMM_CS), MB(MB_SMM_RIP), MB(MB_SMM_SAW_TRAMP));
    check("ap-runs-after-rsm", MB(MB_TRAMP_COUNT) == 1,
          "the trampoline ran %u times", MB(MB_TRAMP_COUNT));
}

/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * CPU hotplug with parking, played from both sides: the firmware (SMI
 * handler, I/O queued in MB_OPS and run from SMM by the BSP) and a hostile
 * OS (everything else) against a parked CPU.
 *
 * Needs -smp 1,maxcpus>=3, ICH9-LPC.x-smi-apm-sts=on and
 * x-smi-cpu-hotplug-parking=on; the runner adds CPUs on "TESTFW: HOTPLUG n".
 */
#include "testfw.h"
#include "cases.h"

#define APM_CNT         0xb2
#define APM_STS         0xb3
#define SMI_EN          (PMBASE + 0x30)
#define CPHP_BASE       0xcd8
#define CPHP_STATUS     (CPHP_BASE + 4)
#define CPHP_CMD        (CPHP_BASE + 5)
#define CPHP_DATA       (CPHP_BASE + 8)
#define ST_ENABLED      0x01
#define ST_PARKED       0x20
#define ST_WAITS_SIPI   0x40    /* read from SMM: the SMI waits for SIPI */
#define CTRL_UNPARK     0x20
#define CMD_SMBASE      4
#define CMD_FEATURE_CONTROL 5
#define MSR_FEATURE_CONTROL 0x3a
#define FC_LOCKED       0x1
#define FC_VMX_OUTSIDE_SMX 0x4
#define FC_LMCE         0x100000
#define F_WANT          0x0b    /* broadcast, CPU hotplug, parking */
#define SECOND          1000000
/*
 * How long a negative check waits for what must not happen: as long as
 * the positive checks allow for what must happen.
 */
#define WINDOW          SECOND
/* the value slot of a read until the SMI handler has run it */
#define NOT_RUN         0xdeadbeef

static int n_ops;
static uint32_t smm_feature_control(int width, uint32_t value);

static void op(uint32_t kind, uint32_t port, uint32_t value)
{
    volatile uint32_t *o = (volatile uint32_t *)(MB_OPS + 12 * n_ops++);

    o[0] = kind;
    o[1] = port;
    o[2] = kind == OP_INB || kind == OP_INL ? NOT_RUN : value;
    if (kind == OP_INB_WAIT) {
        o[2] = value;           /* the mask; the result is the last read */
    }
    o[3] = OP_END;
}

static uint32_t op_result(int i)
{
    return *(volatile uint32_t *)(MB_OPS + 12 * i + 8);
}

/* the read op @i ran in SMM */
static bool op_ran(int i)
{
    return op_result(i) != NOT_RUN;
}

/* Raise a broadcast SMI; the BSP runs the queued ops in SMM. */
/*
 * @by_ipi: through an SMI IPI to the BSP alone, which the chipset does not
 * see (as the first SMI of an S3 resume), instead of the chipset's
 * broadcast: what SMM reads must not depend on how the SMI came.
 */
static bool smm_run_by(bool by_ipi)
{
    MB(MB_EXEC) = 1;
    if (by_ipi) {
        apic_ipi(0, ICR_SMI);
    } else {
        outb(APM_CNT, 0x42);
    }
    n_ops = 0;
    return !MB(MB_EXEC) || wait_change(&MB(MB_EXEC), 1, SECOND);
}

static bool smm_run(void)
{
    return smm_run_by(false);
}

static uint8_t status_of(uint32_t sel)
{
    outl(CPHP_BASE, sel);
    return inb(CPHP_STATUS);
}

static bool setup(int ncpus)
{
    uint8_t r;
    int i;

    smm_setup();
    MB(MB_SMM_GO) = 1;          /* SMIs on started APs return at once */
    memcpy((void *)(STRAY_SEG << 4), stray_start, stray_end - stray_start);
    memcpy((void *)(OS_VECTOR << 12), os_tramp_start,
           os_tramp_end - os_tramp_start);
    for (i = 0; i < 256; i++) {
        volatile uint32_t *gate = (volatile uint32_t *)(IDT_BASE + 8 * i);

        /* real-mode IVT: every vector (NMI, 0x40, ...) to the stray stub */
        *(volatile uint32_t *)(4 * i) = STRAY_SEG << 16;
        /* the IDT of the OS's AP code: 32-bit interrupt gates to stray32 */
        gate[0] = 0x08 << 16 | ((uintptr_t)stray32 & 0xffff);
        gate[1] = ((uintptr_t)stray32 & 0xffff0000) | 0x8e00;
    }

    outb(APM_STS, 0x02);
    r = inb(APM_STS);
    check("negotiation-probe", !(r & 0x02) && ((r >> 2) & F_WANT) == F_WANT,
          "APM_STS query read back 0x%x", r);
    outb(APM_STS, F_WANT << 2);
    r = inb(APM_STS);
    check("negotiated-parking", (r >> 2) == F_WANT,
          "APM_STS request 0x%x read back 0x%x", F_WANT << 2, r);
    if ((r >> 2) != F_WANT) {
        return false;
    }
    outl(SMI_EN, inl(SMI_EN) | 0x21);           /* GBL_SMI_EN, APMC_EN */
    outb(CPHP_BASE, 0);                         /* modern interface */

    con_printf("TESTFW: HOTPLUG %u\n", ncpus);
    for (i = 1; i <= ncpus; i++) {
        uint32_t t;

        /* a parked CPU is there, but not enabled for the OS */
        for (t = 0; t < 100 && !(status_of(i) & (ST_ENABLED | ST_PARKED));
             t++) {
            udelay(100000);
        }
        if (!(status_of(i) & (ST_ENABLED | ST_PARKED))) {
            check("hotplug", false, "CPU %u did not appear", i);
            return false;
        }
    }
    return true;
}

static uint32_t entries(int apic)
{
    return MB(MB_ENTRIES_BY_APIC + 4 * apic);
}

/* the mailbox counters that show a hot-added CPU ran something */
static bool ran_nothing(int apic, const char *name)
{
    bool ok = MB(MB_TRAMP_COUNT) == 0 && entries(apic) == 0 &&
              MB(MB_STRAY) == 0 && MB(MB_AP_RESET) == 0;

    check(name, ok, "trampoline starts %u, SMM entries %u, stray interrupts "
          "%u, reset-vector runs %u", MB(MB_TRAMP_COUNT), entries(apic),
          MB(MB_STRAY), MB(MB_AP_RESET));
    return ok;
}

/*
 * After the unpark of CPU @apic: it runs nothing (@idle) until a bare SIPI
 * (no INIT, which would drop some of it too) starts it at the OS's vector
 * (@starts) with nothing pending: no SMM entry, no interrupt (@clean).
 */
static void starts_clean(int apic, const char *idle, const char *starts,
                         const char *clean)
{
    udelay(WINDOW);
    ran_nothing(apic, idle);
    apic_ipi(apic, ICR_SIPI | OS_VECTOR);
    check(starts, wait_change(&MB(MB_TRAMP_COUNT), 0, SECOND),
          "the CPU did not start at the OS's vector");
    udelay(WINDOW);
    check(clean, entries(apic) == 0 && MB(MB_STRAY) == 0,
          "after the SIPI: %u SMM entries (saved CS:IP %x:%x), %u stray "
          "interrupts", entries(apic), MB(MB_SMM_CS), MB(MB_SMM_RIP),
          MB(MB_STRAY));
}

/*
 * From SMM: select CPU @sel, set its SMBASE to @smbase and read it back,
 * unpark it if @unpark; checks the handler ran every step.
 */
static void firmware_relocate(const char *name, int sel, uint32_t smbase,
                              bool unpark)
{
    bool ran;

    memcpy((void *)(smbase + 0x8000), smm_handler_start,
           smm_handler_end - smm_handler_start);
    op(OP_OUTL, CPHP_BASE, sel);
    op(OP_OUTB, CPHP_CMD, CMD_SMBASE);
    op(OP_OUTL, CPHP_DATA, smbase);
    op(OP_INL, CPHP_DATA, 0);
    if (unpark) {
        op(OP_OUTB, CPHP_STATUS, CTRL_UNPARK);
        /* the unpark completes when the parked bit clears: wait for it */
        op(OP_INB_WAIT, CPHP_STATUS, ST_PARKED);
    } else {
        op(OP_INB, CPHP_STATUS, 0);
    }
    ran = smm_run() && op_ran(3) && op_ran(unpark ? 5 : 4);
    check(name, ran && op_result(3) == smbase &&
          !!(op_result(unpark ? 5 : 4) & ST_PARKED) == !unpark,
          "SMI handler finished %u, SMBASE read back 0x%x, status 0x%x",
          ran, op_result(3), op_result(unpark ? 5 : 4));
}

void case_parking(void)
{
    uint32_t t, e0, e1;

    if (!setup(1)) {
        return;
    }
    check("parked-status", status_of(1) & ST_PARKED,
          "status 0x%x after hot-add", status_of(1));
    check("parked-not-enabled-for-os", !(status_of(1) & ST_ENABLED),
          "the OS reads a parked CPU as enabled (status 0x%x)", status_of(1));
    /* the runner checks the vCPU is still in its reset state, halted */
    con_printf("TESTFW: PARKED-REGS 1\n");
    /*
     * Let the runner look before anything is sent to the CPU: under KVM,
     * reading a vCPU's state makes the kernel act on a latched INIT-SIPI
     * (in its copy of the state only; the vCPU still runs nothing).
     */
    udelay(WINDOW);

    /*
     * 1: INIT-SIPI-SIPI from the OS: the parked CPU executes nothing.  The
     * OS's code would count its start and take interrupts (p9).
     */
    apic_ipi(1, ICR_INIT);
    udelay(10000);
    apic_ipi(1, ICR_SIPI | OS_VECTOR);
    apic_ipi(1, ICR_SIPI | OS_VECTOR);
    udelay(WINDOW);
    check("p1-init-sipi-ignored", MB(MB_TRAMP_COUNT) == 0,
          "the parked CPU ran the OS's trampoline");

    /* 2, 3: the OS writes the unpark bit and an SMBASE, not from SMM */
    outl(CPHP_BASE, 1);
    outb(CPHP_STATUS, CTRL_UNPARK);
    check("p2-non-smm-unpark-ignored", status_of(1) & ST_PARKED,
          "a non-SMM write unparked the CPU");
    outb(CPHP_CMD, CMD_SMBASE);
    outl(CPHP_DATA, 0x38000);
    check("p3-smbase-unreadable-outside-smm", inl(CPHP_DATA) == 0,
          "a non-SMM read of the SMBASE returned 0x%x", inl(CPHP_DATA));
    op(OP_OUTL, CPHP_BASE, 1);
    op(OP_OUTB, CPHP_CMD, CMD_SMBASE);
    op(OP_INL, CPHP_DATA, 0);
    t = smm_run();
    check("p3-non-smm-smbase-ignored",
          t && op_ran(2) && op_result(2) == DEFAULT_SMBASE,
          "SMI handler finished %u, SMBASE 0x%x after a non-SMM write", t,
          op_result(2));

    /* 4: attacker code at 0x38000 (our handler) + a directed SMI */
    apic_ipi(1, ICR_SMI);
    udelay(WINDOW);
    check("p4-directed-smi-ignored", entries(1) == 0,
          "the parked CPU entered SMM at the default SMBASE");

    /*
     * 9: NMI and a fixed interrupt: taken by a CPU running the OS's code
     * (shown at the end of this case), not by the parked CPU
     */
    apic_ipi(1, ICR_NMI);
    apic_ipi(1, ICR_FIXED | 0x40);
    udelay(WINDOW);
    check("p9-nmi-irq-ignored", MB(MB_STRAY) == 0 && (status_of(1) & ST_PARKED),
          "stray handler ran %u times", MB(MB_STRAY));

    /*
     * 5: broadcast SMI: the BSP enters SMM, the parked CPU does not.  SMM
     * has its own selector: SMM still reads its own last selection (CPU 1,
     * in p3), not the OS's (CPU 0), and its new one does not change the
     * OS's.
     */
    e0 = entries(0);
    outl(CPHP_BASE, 0);
    op(OP_INB, CPHP_STATUS, 0);
    op(OP_OUTL, CPHP_BASE, 1);
    op(OP_INB, CPHP_STATUS, 0);
    t = smm_run();
    udelay(WINDOW);
    check("p5-broadcast-smi", t && entries(0) == e0 + 1 && entries(1) == 0,
          "SMI handler finished %u, BSP entries %u -> %u, parked CPU entries %u",
          t, e0, entries(0), entries(1));
    check("smm-sees-parked", op_ran(2) && (op_result(2) & ST_PARKED) &&
          (op_result(2) & ST_ENABLED),
          "status from SMM 0x%x", op_result(2));
    check("smm-own-selector", op_ran(0) && (op_result(0) & ST_PARKED),
          "SMM read status 0x%x, not that of its own last selection (CPU "
          "1, in p3) but of the OS's (CPU 0)", op_result(0));
    t = inb(CPHP_STATUS);
    check("os-selector-kept", (t & (ST_ENABLED | ST_PARKED)) == ST_ENABLED,
          "after SMM selected CPU 1 the OS read status 0x%x, not CPU 0's", t);

    /* 6: unpark from SMM before the SMBASE was set: refused */
    op(OP_OUTL, CPHP_BASE, 1);
    op(OP_OUTB, CPHP_STATUS, CTRL_UNPARK);
    op(OP_INB, CPHP_STATUS, 0);
    t = smm_run();
    check("p6-unpark-before-smbase-refused",
          t && op_ran(2) && (op_result(2) & ST_PARKED),
          "SMI handler finished %u, status 0x%x after an early unpark",
          t, op_result(2));

    /* 10: the firmware's way: set SMBASE, read it back, unpark */
    firmware_relocate("p10-smbase-set-unparked", 1, 0x40000, true);
    check("p10-unparked", !(status_of(1) & ST_PARKED),
          "status 0x%x after unpark", status_of(1));

    /*
     * 7: unparking dropped what came while parked (INIT, SIPI, SMIs, NMI,
     * the interrupt): the CPU runs nothing until the OS starts it, and a
     * bare SIPI (no INIT, which would drop some of it too) starts it with
     * nothing pending: no SMM entry, no interrupt.
     */
    starts_clean(1, "p7-idle-after-unpark", "p10-starts-at-os-vector",
                 "p7-nothing-pending-after-unpark");

    /* its next SMI enters at the firmware's SMBASE */
    e1 = entries(1);
    apic_ipi(1, ICR_SMI);
    check("p10-smi-at-firmware-smbase",
          wait_change(&MB(MB_ENTRIES_BY_APIC + 4), e1, SECOND) &&
          MB(MB_SMM_SMBASE) == 0x40000,
          "SMM entered with SMBASE 0x%x", MB(MB_SMM_SMBASE));

    /* 9, control: the same NMI and interrupt reach the running CPU */
    apic_ipi(1, ICR_FIXED | 0x40);
    apic_ipi(1, ICR_NMI);
    for (t = 0; t < 100 && MB(MB_STRAY) < 2; t++) {
        udelay(10000);
    }
    check("p9-control-taken-when-running", MB(MB_STRAY) == 2,
          "the running CPU took %u of the 2 (fixed interrupt, NMI)",
          MB(MB_STRAY));

    /* 1, 4, 5, 7: nothing ran late; the exact totals */
    check("totals", MB(MB_TRAMP_COUNT) == 1 && entries(1) == 1 &&
          MB(MB_AP_RESET) == 0,
          "trampoline starts %u (expected 1), SMM entries of the CPU %u "
          "(expected 1), reset-vector runs %u", MB(MB_TRAMP_COUNT),
          entries(1), MB(MB_AP_RESET));
}

/* 7: after the lock, neither front end can renegotiate */
void case_renegotiation(void)
{
    uint64_t want = 0x3;    /* broadcast + CPU hotplug, no parking */
    uint8_t ok = 0, r;

    if (!setup(0)) {
        return;
    }
    outb(APM_STS, 0x03 << 2);
    r = inb(APM_STS);
    check("p7-apm-sts-refused", (r >> 2) == F_WANT,
          "APM_STS renegotiation read back 0x%x", r);
    check("p7-fw-cfg-write", fw_cfg_write_file("etc/smi/requested-features",
                                               &want, sizeof(want)) == 8,
          "fw_cfg DMA write failed");
    fw_cfg_read_file("etc/smi/features-ok", &ok, 1);
    outb(APM_STS, 0x02 << 2);           /* ask what is in force */
    r = inb(APM_STS);
    check("p7-fw-cfg-refused", ok == 1 && (r >> 2) == F_WANT,
          "features-ok %u, in force 0x%x", ok, r >> 2);
}

/*
 * 8: the OS never raises the hotplug SMI: the CPU stays parked, and
 * device_del still removes it without any help.
 */
void case_no_smi(void)
{
    uint32_t t;

    if (!setup(1)) {
        return;
    }
    con_printf("TESTFW: PARKED-REGS 1\n");
    /*
     * Let the runner look before anything is sent to the CPU: under KVM,
     * reading a vCPU's state makes the kernel act on a latched INIT-SIPI
     * (in its copy of the state only; the vCPU still runs nothing).
     */
    udelay(WINDOW);
    check("p8-still-parked", status_of(1) & ST_PARKED,
          "status 0x%x", status_of(1));
    ran_nothing(1, "p8-ran-nothing");
    con_printf("TESTFW: UNPLUG 1\n");
    for (t = 0; t < 100 && (status_of(1) & (ST_ENABLED | ST_PARKED)); t++) {
        udelay(100000);
    }
    check("p8-device-del-removes", !(status_of(1) & (ST_ENABLED | ST_PARKED)),
          "status 0x%x after device_del", status_of(1));
}

/*
 * 12: a parked CPU hot-added and removed again, many times: QEMU must free
 * each one.  The runner does the churn on "TESTFW: CHURN n" (device_add,
 * parked, device_del, gone) and measures QEMU's memory; then it adds CPUs
 * 1 and 2 as the signal that it is done.
 */
void case_parked_churn(void)
{
    uint32_t t;

    if (!setup(0)) {
        return;
    }
    con_printf("TESTFW: CHURN %u\n", 400);
    for (t = 0; t < 1800 && !(status_of(2) & (ST_ENABLED | ST_PARKED)); t++) {
        udelay(100000);
    }
    check("churn-done", status_of(2) & (ST_ENABLED | ST_PARKED),
          "the runner did not finish the churn within 180 s");
}

void case_parking_two_cpus(void)
{
    uint32_t t;
    int i;

    if (!setup(2)) {
        return;
    }
    check("both-parked", (status_of(1) & ST_PARKED) && (status_of(2) & ST_PARKED),
          "status 0x%x 0x%x", status_of(1), status_of(2));
    /* 11: one SMI handles both */
    for (i = 1; i <= 2; i++) {
        memcpy((void *)(0x40000 + 0x10000 * i + 0x8000), smm_handler_start,
               smm_handler_end - smm_handler_start);
        op(OP_OUTL, CPHP_BASE, i);
        op(OP_OUTB, CPHP_CMD, CMD_SMBASE);
        op(OP_OUTL, CPHP_DATA, 0x40000 + 0x10000 * i);
        op(OP_OUTB, CPHP_STATUS, CTRL_UNPARK);
        op(OP_INB_WAIT, CPHP_STATUS, ST_PARKED);
    }
    check("p11-one-smi", smm_run(), "the SMI handler did not finish");
    check("p11-both-unparked",
          !(status_of(1) & ST_PARKED) && !(status_of(2) & ST_PARKED),
          "status 0x%x 0x%x", status_of(1), status_of(2));
    for (i = 1; i <= 2; i++) {
        t = MB(MB_TRAMP_COUNT);
        apic_ipi(i, ICR_INIT);
        udelay(10000);
        apic_ipi(i, ICR_SIPI | TRAMP_VECTOR);
        check(i == 1 ? "p11-cpu1-started" : "p11-cpu2-started",
              wait_change(&MB(MB_TRAMP_COUNT), t, SECOND),
              "CPU %u did not start", i);
    }
}

/*
 * A parked CPU whose SMBASE is set migrates with it, and the
 * destination unparks and runs it.  On "TESTFW: MIGRATE" the runner
 * stops this QEMU, migrates it to a file and starts a second one from it,
 * with the hot-added CPU on its command line and the fw_cfg file
 * opt/testfw/migrated, which this QEMU does not have.
 */
void case_parking_migration(void)
{
    uint8_t c;
    uint32_t t;
    bool moved = false;

    if (!setup(1)) {
        return;
    }
    firmware_relocate("m-smbase-set", 1, 0x40000, false);
    check("m-feature-control-set", smm_feature_control(4, FC_LOCKED) == FC_LOCKED,
          "SMM did not read back the feature control value it wrote");
    con_printf("TESTFW: MIGRATE\n");
    for (t = 0; t < 300 && !moved; t++) {
        moved = fw_cfg_read_file("opt/testfw/migrated", &c, 1) == 1;
        if (!moved) {
            udelay(100000);
        }
    }
    check("m-migrated", moved, "still on the source after 30 s");
    if (!moved) {
        return;
    }
    check("m-still-parked", status_of(1) & ST_PARKED,
          "status 0x%x on the destination", status_of(1));
    ran_nothing(1, "m-ran-nothing");

    /* the SMBASE and feature control came along: read back; unpark */
    op(OP_OUTL, CPHP_BASE, 1);
    op(OP_OUTB, CPHP_CMD, CMD_SMBASE);
    op(OP_INL, CPHP_DATA, 0);
    op(OP_OUTB, CPHP_CMD, CMD_FEATURE_CONTROL);
    op(OP_INL, CPHP_DATA, 0);
    op(OP_OUTB, CPHP_STATUS, CTRL_UNPARK);
    op(OP_INB_WAIT, CPHP_STATUS, ST_PARKED);
    t = smm_run();
    check("m-smbase-migrated", t && op_result(2) == 0x40000,
          "SMI handler finished %u, SMBASE read back 0x%x", t, op_result(2));
    check("m-feature-control-migrated", t && op_result(4) == FC_LOCKED,
          "feature control read back 0x%x", op_result(4));
    check("m-unparked", t && op_ran(6) && !(op_result(6) & ST_PARKED),
          "status 0x%x after unpark", op_result(6));

    apic_ipi(1, ICR_INIT);
    udelay(10000);
    apic_ipi(1, ICR_SIPI | OS_VECTOR);
    check("m-starts-at-os-vector",
          wait_change(&MB(MB_TRAMP_COUNT), 0, SECOND),
          "the CPU did not start at the OS's vector");
    apic_ipi(1, ICR_SMI);
    check("m-smi-at-migrated-smbase",
          wait_change(&MB(MB_ENTRIES_BY_APIC + 4), 0, SECOND) &&
          MB(MB_SMM_SMBASE) == 0x40000,
          "SMM entered with SMBASE 0x%x", MB(MB_SMM_SMBASE));
}

/* PM timer ticks (3.579545 MHz) elapsed since @start */
static uint32_t ticks_since(uint32_t start)
{
    return (inl(PMBASE + 0x08) - start) & 0xffffff;
}

static void sort(uint32_t *v, int n)
{
    int i, j;

    for (i = 1; i < n; i++) {
        for (j = i; j > 0 && v[j - 1] > v[j]; j--) {
            uint32_t t = v[j];

            v[j] = v[j - 1];
            v[j - 1] = t;
        }
    }
}

/*
 * Cost of the hotplug SMI: an SMI that only enters and leaves SMM against
 * one that also services a parked CPU (select, SMBASE command, set and
 * read back SMBASE, unpark), interleaved, one sample per hot-added CPU.
 */
#define BENCH_CPUS 6

void case_bench_parking_smi(void)
{
    uint32_t plain[BENCH_CPUS], park[BENCH_CPUS], t;
    int i;

    if (!setup(BENCH_CPUS)) {
        return;
    }
    for (i = 0; i < BENCH_CPUS; i++) {
        t = inl(PMBASE + 0x08);
        smm_run();
        plain[i] = ticks_since(t);

        op(OP_OUTL, CPHP_BASE, i + 1);
        op(OP_OUTB, CPHP_CMD, CMD_SMBASE);
        op(OP_OUTL, CPHP_DATA, 0x100000 + 0x10000 * i);
        op(OP_INL, CPHP_DATA, 0);
        op(OP_OUTB, CPHP_STATUS, CTRL_UNPARK);
        op(OP_INB_WAIT, CPHP_STATUS, ST_PARKED);
        t = inl(PMBASE + 0x08);
        smm_run();
        park[i] = ticks_since(t);
        check("bench-unparked", !(status_of(i + 1) & ST_PARKED),
              "CPU %u still parked", i + 1);
    }
    sort(plain, BENCH_CPUS);
    sort(park, BENCH_CPUS);
    con_printf("TESTFW: BENCH smi-plain-ticks %u\n", plain[BENCH_CPUS / 2]);
    con_printf("TESTFW: BENCH smi-unpark-ticks %u\n", park[BENCH_CPUS / 2]);
}

/*
 * The CPU hotplug hold seen from other CPUs: the release of a held CPU
 * happens on that CPU's own thread, so the I/O handler that unparks it
 * never waits or drops the BQL; if it did (under KVM), another CPU's
 * access to the same device (the LPC bridge: PM timer, APM, SMI_EN, the
 * CPU hotplug block) in that window would be dropped ("Blocked re-entrant
 * IO"; the runner fails a case whose QEMU prints that).  And a released
 * CPU's TSC runs with the others'.
 */
#define JOB_STOP        (MB_JOB + 0x00)
#define JOB_READS       (MB_JOB + 0x04)
#define JOB_BAD         (MB_JOB + 0x08)
#define JOB_BAD_PREV    (MB_JOB + 0x0c)
#define JOB_BAD_VAL     (MB_JOB + 0x10)
#define JOB_TSC_REQ     (MB_JOB + 0x14)
#define JOB_TSC_ACK     (MB_JOB + 0x18)
#define JOB_TSC_LO      (MB_JOB + 0x1c)
#define JOB_TSC_HI      (MB_JOB + 0x20)
#define JOB_TSC_QUIT    0xffffffff

static inline uint64_t rdtsc(void)
{
    uint32_t lo, hi;

    __asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
    return (uint64_t)hi << 32 | lo;
}

/* Start CPU @apic (in wait-for-SIPI) on @job, in protected mode. */
static bool start_job(int apic, void (*job)(void))
{
    memcpy((void *)(JOB_VECTOR << 12), job_tramp_start,
           job_tramp_end - job_tramp_start);
    MB(MB_AP_JOB) = (uintptr_t)job;
    apic_ipi(apic, ICR_INIT);
    udelay(10000);
    apic_ipi(apic, ICR_SIPI | JOB_VECTOR);
    if (wait_change(&MB(JOB_READS), 0, SECOND)) {
        return true;
    }
    apic_ipi(apic, ICR_SIPI | JOB_VECTOR);
    return wait_change(&MB(JOB_READS), 0, SECOND);
}

/*
 * AP job: read the PM timer until told to stop.  The 24-bit counter
 * (3.58 MHz) only moves forward between two reads, by far less than half
 * its range; a read that was dropped returns 0.  Count the reads that
 * break that.
 */
static void job_pm_timer(void)
{
    uint32_t prev = inl(PMBASE + 0x08) & 0xffffff, cur, n = 0, bad = 0;

    while (!MB(JOB_STOP)) {
        cur = inl(PMBASE + 0x08) & 0xffffff;
        if (((cur - prev) & 0xffffff) >= 0x800000 ||
            (cur == 0 && prev < 0xff0000)) {
            bad++;
            MB(JOB_BAD_PREV) = prev;
            MB(JOB_BAD_VAL) = cur;
            MB(JOB_BAD) = bad;
        }
        prev = cur;
        MB(JOB_READS) = ++n;
    }
}

/*
 * -smp 2,maxcpus=4: CPU 1 reads the PM timer in a loop while the BSP, in
 * SMM, sets the SMBASE of two hot-added held CPUs and releases them, one
 * SMI each; no read of CPU 1 may be lost, and its reads must go on after
 * each SMI (within 20 ms, or a second on a loaded host).
 */
void case_hold_io_during_release(void)
{
    uint32_t before, after;
    int round;

    if (!setup(2)) {
        return;
    }
    check("job-started", start_job(1, job_pm_timer),
          "CPU 1 did not start reading the PM timer");
    /*
     * CPU 1 and the BSP both have the default SMBASE: give CPU 1 its own
     * before the broadcast SMIs, or they would share one save state map.
     */
    memcpy((void *)(0x20000 + 0x8000), smm_handler_start,
           smm_handler_end - smm_handler_start);
    MB(MB_SMM_NEW_SMBASE) = 0x20000;
    apic_ipi(1, ICR_SMI);
    check("cpu1-relocated", wait_change(&MB(MB_ENTRIES_BY_APIC + 4), 0,
                                        SECOND),
          "CPU 1 did not take its SMI");
    udelay(10000);
    MB(MB_SMM_NEW_SMBASE) = 0;
    for (round = 0; round < 2; round++) {
        before = MB(JOB_READS);
        firmware_relocate(round ? "released-cpu3" : "released-cpu2",
                          round + 2, 0x50000 + 0x10000 * round, true);
        udelay(20000);
        /*
         * A vCPU thread of a loaded host (nested KVM under TCG on two
         * host CPUs) can sit out 20 ms; a CPU 1 that the release stopped
         * would not read again at all.
         */
        if (MB(JOB_READS) == before &&
            wait_change(&MB(JOB_READS), before, SECOND)) {
            con_printf("TESTFW: NOTE CPU 1 read again only after more "
                       "than 20 ms (round %d)\n", round + 1);
        }
        after = MB(JOB_READS);
        check(round ? "reads-during-smi-2" : "reads-during-smi-1",
              after != before, "CPU 1 read nothing in the second after "
              "the SMI (%u, %u SMM entries)", after, entries(1));
    }
    MB(JOB_STOP) = 1;
    udelay(10000);
    check("no-read-lost", MB(JOB_BAD) == 0,
          "%u of %u PM timer reads of CPU 1 were dropped or wrong (0x%x "
          "after 0x%x)", MB(JOB_BAD), MB(JOB_READS), MB(JOB_BAD_VAL),
          MB(JOB_BAD_PREV));
    con_printf("TESTFW: BENCH ap-pm-timer-reads %u\n", MB(JOB_READS));
}

/* AP job: answer each request with its TSC, until told to quit. */
static void job_tsc(void)
{
    uint32_t req;
    uint64_t t;

    MB(JOB_READS) = 1;          /* started */
    for (;;) {
        req = MB(JOB_TSC_REQ);
        if (req == JOB_TSC_QUIT) {
            return;
        }
        if (req != MB(JOB_TSC_ACK)) {
            t = rdtsc();
            MB(JOB_TSC_LO) = (uint32_t)t;
            MB(JOB_TSC_HI) = t >> 32;
            MB(JOB_TSC_ACK) = req;
        }
        cpu_relax();
    }
}

/*
 * -smp 1,maxcpus=2: hot-add a CPU, release it (SMBASE, unpark), start it
 * and compare its TSC with the BSP's: each sample brackets the AP's read
 * between two BSP reads; the tightest of 16 gives the skew and its
 * uncertainty.  A released vCPU whose TSC was not synchronized (under KVM
 * a TSC write of 1 at its reset) is off by the guest's uptime.
 */
#define TSC_SAMPLES     16
#define TSC_MAX_SKEW_US 1000

void case_hold_tsc(void)
{
    uint64_t t0, t1, ap, mid, per_us, best_unc = ~0ULL, skew = 0, excess;
    uint32_t pm0, pm_ticks, i;
    bool behind = false, answered = true;

    if (!setup(1)) {
        return;
    }
    firmware_relocate("released", 1, 0x50000, true);
    check("job-started", start_job(1, job_tsc),
          "the released CPU did not start");

    /* TSC ticks per microsecond, against the PM timer (3579545 Hz) */
    pm0 = inl(PMBASE + 0x08);
    t0 = rdtsc();
    udelay(20000);
    t1 = rdtsc();
    pm_ticks = (inl(PMBASE + 0x08) - pm0) & 0xffffff;
    per_us = (t1 - t0) * 3579545 / ((uint64_t)pm_ticks * 1000000 ?: 1) ?: 1;

    for (i = 1; i <= TSC_SAMPLES && answered; i++) {
        t0 = rdtsc();
        MB(JOB_TSC_REQ) = i;
        answered = wait_change(&MB(JOB_TSC_ACK), i - 1, SECOND);
        t1 = rdtsc();
        ap = (uint64_t)MB(JOB_TSC_HI) << 32 | MB(JOB_TSC_LO);
        if (answered && (t1 - t0) / 2 < best_unc) {
            mid = t0 + (t1 - t0) / 2;
            best_unc = (t1 - t0) / 2;
            behind = ap < mid;
            skew = behind ? mid - ap : ap - mid;
        }
    }
    MB(JOB_TSC_REQ) = JOB_TSC_QUIT;
    check("tsc-answered", answered, "the released CPU stopped answering");
    excess = skew > best_unc ? skew - best_unc : 0;
    check("tsc-synchronized",
          answered && excess / per_us <= TSC_MAX_SKEW_US,
          "the released CPU's TSC is %u us %s CPU 0's (+/- %u us, %u "
          "ticks/us)", (uint32_t)(skew / per_us),
          behind ? "behind" : "ahead of", (uint32_t)(best_unc / per_us),
          (uint32_t)per_us);
    con_printf("TESTFW: BENCH tsc-skew-ns %u\n",
               skew / per_us > 4000000 ? 0xffffffffu :
               (uint32_t)(skew * 1000 / per_us));
    con_printf("TESTFW: BENCH tsc-uncertainty-ns %u\n",
               (uint32_t)(best_unc * 1000 / per_us));
}

/*
 * Write decode of the parking controls, from SMM (-smp 1,maxcpus=2): only
 * a 4-byte write sets the SMBASE; a command of 6 or more leaves command 4
 * latched; a command written with an out-of-range selector is ignored;
 * the unpark bit acts only with control bits 1-4 clear (bits 0, 6, 7 do
 * not matter); SMM reads no SMBASE for a CPU that is not parked.
 */
void case_parking_decode(void)
{
    bool t;

    if (!setup(1)) {
        return;
    }
    memcpy((void *)(0x50000 + 0x8000), smm_handler_start,
           smm_handler_end - smm_handler_start);
    op(OP_OUTL, CPHP_BASE, 1);
    op(OP_OUTB, CPHP_CMD, CMD_SMBASE);
    op(OP_OUTW, CPHP_DATA, 0x5000);
    op(OP_OUTB, CPHP_DATA, 0x50);
    op(OP_INL, CPHP_DATA, 0);                   /* 4 */
    op(OP_OUTL, CPHP_DATA, 0x50000);
    op(OP_OUTB, CPHP_CMD, 6);
    op(OP_OUTB, CPHP_CMD, 0xff);
    op(OP_INL, CPHP_DATA, 0);                   /* 8 */
    op(OP_OUTB, CPHP_CMD, 3);                   /* APIC ID */
    op(OP_OUTL, CPHP_BASE, 0x1000);
    op(OP_OUTB, CPHP_CMD, CMD_SMBASE);
    op(OP_OUTL, CPHP_BASE, 1);
    op(OP_INL, CPHP_DATA, 0);                   /* 13 */
    t = smm_run() && op_ran(13);
    check("d-narrow-smbase-writes-ignored", t && op_result(4) == DEFAULT_SMBASE,
          "SMI handler finished %u, SMBASE 0x%x after a 2- and a 1-byte write",
          t, op_result(4));
    check("d-4-byte-smbase-write", t && op_result(8) == 0x50000,
          "SMBASE 0x%x after a 4-byte write of 0x50000 and commands 6, 0xff",
          op_result(8));
    check("d-command-out-of-range-ignored", t && op_result(13) == 1,
          "data 0x%x: command 4 written with selector 0x1000 replaced "
          "command 3 (APIC ID 1)", op_result(13));

    /* unpark with other control bits, and the boot CPU's SMBASE */
    op(OP_OUTL, CPHP_BASE, 1);
    op(OP_OUTB, CPHP_STATUS, CTRL_UNPARK | 0x02);
    op(OP_OUTB, CPHP_STATUS, CTRL_UNPARK | 0x04);
    op(OP_INB, CPHP_STATUS, 0);                 /* 3 */
    op(OP_OUTL, CPHP_BASE, 0);
    op(OP_OUTB, CPHP_CMD, CMD_SMBASE);
    op(OP_INL, CPHP_DATA, 0);                   /* 6 */
    op(OP_OUTL, CPHP_BASE, 1);
    op(OP_OUTB, CPHP_STATUS, CTRL_UNPARK | 0xc1);
    op(OP_INB_WAIT, CPHP_STATUS, ST_PARKED);    /* 9 */
    t = smm_run() && op_ran(9);
    check("d-unpark-with-bits-1-4-ignored", t && (op_result(3) & ST_PARKED),
          "SMI handler finished %u, status 0x%x after control 0x22, 0x24",
          t, op_result(3));
    check("d-no-smbase-of-unparked-cpu", t && op_result(6) == 0,
          "SMM read SMBASE 0x%x for the boot CPU", op_result(6));
    check("d-unpark-ignores-bits-0-6-7", t && !(op_result(9) & ST_PARKED),
          "status 0x%x after control 0xe1", op_result(9));
}

#define JOB_PAUSE       (MB_JOB + 0x24)
#define JOB_PAUSED      (MB_JOB + 0x28)
#define RACE_ROUNDS     30
#define RACE_PAUSES     2000

/*
 * AP job: the OS CPU outside the rendezvous: it flips the selector and
 * the command of the CPU hotplug block as fast as it can, also while the
 * BSP is in SMM (its own SMIs return at once), until told to pause.
 */
static void job_racer(void)
{
    static const uint32_t sel[] = { 2, 3, 0, 3, 2, 1 };
    static const uint8_t cmd[] = { 0, CMD_SMBASE, 3, 0, CMD_SMBASE, 1 };
    uint32_t n = 0;

    for (;;) {
        if (MB(JOB_PAUSE)) {
            MB(JOB_PAUSED) = 1;
            while (MB(JOB_PAUSE)) {
                cpu_relax();
            }
            MB(JOB_PAUSED) = 0;
        }
        outl(CPHP_BASE, sel[n % 6]);
        outb(CPHP_CMD, cmd[n % 6]);
        MB(JOB_READS) = ++n;
    }
}

static void racer_pause(bool pause)
{
    MB(JOB_PAUSE) = pause;
    if (pause) {
        wait_change(&MB(JOB_PAUSED), 0, SECOND);
    }
}

/*
 * Queue select @sel, command 4, SMBASE @smbase and its read-back (7 ops),
 * with pauses between the steps that leave the racer the BQL.
 */
static void race_set_smbase(int sel, uint32_t smbase)
{
    op(OP_OUTL, CPHP_BASE, sel);
    op(OP_DELAY, 0, RACE_PAUSES);
    op(OP_OUTB, CPHP_CMD, CMD_SMBASE);
    op(OP_DELAY, 0, RACE_PAUSES);
    op(OP_OUTL, CPHP_DATA, smbase);
    op(OP_DELAY, 0, RACE_PAUSES);
    op(OP_INL, CPHP_DATA, 0);
}

/* From SMM, with the racer paused: the SMBASE of parked CPU @sel */
static uint32_t smm_smbase_of(int sel)
{
    op(OP_OUTL, CPHP_BASE, sel);
    op(OP_OUTB, CPHP_CMD, CMD_SMBASE);
    op(OP_INL, CPHP_DATA, 0);
    return smm_run() && op_ran(2) ? op_result(2) : NOT_RUN;
}

/*
 * -smp 2,maxcpus=4: CPU 1 is an OS CPU that stays out of the SMI
 * rendezvous and flips the selector and command in a loop while the SMI
 * handler sets the SMBASEs of parked CPUs 2 and 3 (30 SMIs, each reading
 * every write back) and unparks CPU 2.  SMM's own selector and command
 * make it immune: every SMBASE lands on the CPU it was written for, and
 * only CPU 2 is unparked.
 */
void case_parking_racing_selector(void)
{
    uint32_t before, bad = 0, s2 = 0, s3 = 0, r, st2, st3;
    int round;

    if (!setup(3)) {
        return;
    }
    /* the racer needs SMBASE + unpark like any hot-added CPU */
    firmware_relocate("racer-released", 1, 0x20000, true);
    check("racer-started", start_job(1, job_racer),
          "CPU 1 did not start flipping the selector");

    before = MB(JOB_READS);
    for (round = 0; round < RACE_ROUNDS; round++) {
        s2 = 0x100000 + 0x20000 * round;
        s3 = s2 + 0x10000;
        race_set_smbase(2, s2);                 /* read back: op 6 */
        race_set_smbase(3, s3);                 /* op 13 */
        if (!smm_run() || op_result(6) != s2 || op_result(13) != s3) {
            bad++;
        }
    }
    r = MB(JOB_READS) - before;
    check("race-readback", bad == 0, "in %u of %u SMIs an SMBASE read back "
          "differently from what SMM wrote (%u racer writes)", bad,
          RACE_ROUNDS, r);

    /* the unpark of CPU 2, racing too */
    op(OP_OUTL, CPHP_BASE, 2);
    op(OP_DELAY, 0, RACE_PAUSES);
    op(OP_OUTB, CPHP_STATUS, CTRL_UNPARK);
    op(OP_DELAY, 0, RACE_PAUSES);
    op(OP_INB_WAIT, CPHP_STATUS, ST_PARKED);
    smm_run();
    racer_pause(true);
    check("racer-raced", r > 2 * RACE_ROUNDS && MB(JOB_PAUSED),
          "the racer made %u writes during the SMIs (paused %u)", r,
          MB(JOB_PAUSED));

    /* quiet now: what landed where */
    op(OP_OUTL, CPHP_BASE, 2);
    op(OP_INB, CPHP_STATUS, 0);
    op(OP_OUTL, CPHP_BASE, 3);
    op(OP_INB, CPHP_STATUS, 0);
    smm_run();
    st2 = op_result(1);
    st3 = op_result(3);
    check("race-unparked-only-cpu2", !(st2 & ST_PARKED) && (st3 & ST_PARKED),
          "status of CPU 2 0x%x, CPU 3 0x%x after the unpark of CPU 2", st2,
          st3);
    r = smm_smbase_of(3);
    check("race-smbase-cpu3", r == s3, "CPU 3's SMBASE is 0x%x, SMM wrote "
          "0x%x for it last", r, s3);
    MB(JOB_PAUSE) = 0;
}

/* The MSI data the runner puts in fw_cfg opt/testfw/msi, in this order */
static const struct {
    const char *name;
    const char *check;
    uint32_t data;
} msi_kinds[] = {
    { "INIT", "msi-init-held", 0x500 },
    { "SMI", "msi-smi-held", 0x200 },
    { "NMI", "msi-nmi-held", 0x400 },
    { "StartUp", "msi-startup-held", 0x600 | OS_VECTOR },
    { "fixed", "msi-fixed-held", 0x40 },
};

#define IOAPIC_BASE     0xfec00000
#define PIT_PIN         2               /* ISA IRQ 0 on q35 */

static void ioapic_write(uint32_t reg, uint32_t v)
{
    mmio_write32(IOAPIC_BASE, reg);
    mmio_write32(IOAPIC_BASE + 0x10, v);
}

/* Route the PIT's pin to APIC ID @dest with @low (mode, vector), or mask. */
static void ioapic_route_pit(uint8_t dest, uint32_t low)
{
    ioapic_write(0x10 + 2 * PIT_PIN + 1, (uint32_t)dest << 24);
    ioapic_write(0x10 + 2 * PIT_PIN, low);
}

/*
 * -smp 1,maxcpus=2: interrupts a device sends to a parked CPU are held and
 * dropped like those another CPU sends: MSIs (fw_cfg DMA writes into the
 * MSI window, as any bus-master device's MSI) with delivery mode INIT,
 * SMI, NMI, StartUp and fixed, and IOAPIC-routed PIT ticks with modes
 * fixed, NMI, INIT and SMI.  The CPU runs nothing, and after the unpark a
 * bare SIPI starts it with nothing pending.
 */
void case_hold_device_interrupts(void)
{
    static const uint32_t pit_modes[] = { 0x40, 0x400, 0x500, 0x200 };
    uint32_t i;
    int ok;

    if (!setup(1)) {
        return;
    }
    for (i = 0; i < sizeof(msi_kinds) / sizeof(msi_kinds[0]); i++) {
        ok = fw_cfg_dma_file_to("opt/testfw/msi", 4 * i,
                                APIC_BASE | 1 << 12, 4);
        udelay(WINDOW / 4);
        check(msi_kinds[i].check,
              ok == 4 && MB(MB_TRAMP_COUNT) == 0 && entries(1) == 0 &&
              MB(MB_STRAY) == 0 && MB(MB_AP_RESET) == 0,
              "MSI %s (data 0x%x, DMA %d): trampoline starts %u, SMM "
              "entries %u, stray interrupts %u, reset-vector runs %u",
              msi_kinds[i].name, msi_kinds[i].data, ok, MB(MB_TRAMP_COUNT),
              entries(1), MB(MB_STRAY), MB(MB_AP_RESET));
    }

    /* the PIT at about 1 kHz, through the IOAPIC to the parked CPU */
    outb(0x43, 0x34);
    outb(0x40, 1193 & 0xff);
    outb(0x40, 1193 >> 8);
    for (i = 0; i < 4; i++) {
        ioapic_route_pit(1, pit_modes[i]);
        udelay(WINDOW / 4);
        ioapic_route_pit(1, 1 << 16);
    }
    outb(0x43, 0x30);                   /* mode 0, no count: quiet */
    check("ioapic-held", MB(MB_TRAMP_COUNT) == 0 && entries(1) == 0 &&
          MB(MB_STRAY) == 0 && MB(MB_AP_RESET) == 0 &&
          (status_of(1) & ST_PARKED),
          "after PIT ticks routed as fixed, NMI, INIT, SMI: trampoline "
          "starts %u, SMM entries %u, stray interrupts %u, reset-vector "
          "runs %u, status 0x%x", MB(MB_TRAMP_COUNT), entries(1),
          MB(MB_STRAY), MB(MB_AP_RESET), status_of(1));
    con_printf("TESTFW: PARKED-REGS 1\n");
    udelay(WINDOW);

    firmware_relocate("unparked", 1, 0x40000, true);
    starts_clean(1, "idle-after-unpark", "starts-at-os-vector",
                 "nothing-pending-after-unpark");
    /* control: the same MSI (fixed) reaches the running CPU */
    ok = fw_cfg_dma_file_to("opt/testfw/msi", 16, APIC_BASE | 1 << 12, 4);
    for (i = 0; i < 100 && MB(MB_STRAY) < 1; i++) {
        udelay(10000);
    }
    check("control-msi-taken-when-running", ok == 4 && MB(MB_STRAY) == 1,
          "the running CPU took %u fixed MSIs of 1 (DMA %d)", MB(MB_STRAY), ok);
    /*
     * control: PIT ticks routed to it as fixed interrupts reach it (vector
     * 0x50: the stray handler sends no EOI, 0x40 is still in service)
     */
    outb(0x43, 0x34);
    outb(0x40, 1193 & 0xff);
    outb(0x40, 1193 >> 8);
    ioapic_route_pit(1, 0x50);
    for (i = 0; i < 100 && MB(MB_STRAY) < 2; i++) {
        udelay(10000);
    }
    ioapic_route_pit(1, 1 << 16);
    outb(0x43, 0x30);
    check("control-ioapic-taken-when-running", MB(MB_STRAY) >= 2,
          "the running CPU took %u PIT ticks routed to it",
          MB(MB_STRAY) - 1);
}

/*
 * A CPU waiting for SIPI cannot take a broadcast SMI: the SMI stays
 * pending on it until the OS starts it.  SMM, and only SMM, reads that as
 * status bit 6, so that its rendezvous need not wait for the CPU.  Once
 * the OS has started it, the CPU takes the pending SMI first, and the
 * next SMI finds it running: bit 6 reads 0, whether the SMI is the
 * chipset's broadcast or an IPI to the BSP alone (the first SMI of an S3
 * resume is one: a stale "waits for SIPI" from before the suspend made
 * the firmware stop waiting for a CPU it then waited for forever).
 */
void case_parking_smi_waits_for_sipi(void)
{
    uint32_t e;
    bool ran;

    if (!setup(1)) {
        return;
    }
    firmware_relocate("w0-unparked", 1, 0x50000, true);
    /* CPU 1 now waits for SIPI; this broadcast SMI stays pending on it */
    op(OP_OUTL, CPHP_BASE, 1);
    op(OP_INB, CPHP_STATUS, 0);
    ran = smm_run() && op_ran(1);
    check("w1-smm-reads-waits-for-sipi", ran && (op_result(1) & ST_WAITS_SIPI),
          "SMI handler finished %u, status 0x%x", ran, op_result(1));
    check("w2-os-reads-no-waits-for-sipi", !(status_of(1) & ST_WAITS_SIPI),
          "status 0x%x outside SMM", status_of(1));
    udelay(WINDOW);
    check("w3-smi-stays-pending", entries(1) == 0 && MB(MB_TRAMP_COUNT) == 0,
          "the CPU waiting for SIPI entered SMM %u times, ran the OS's code "
          "%u times", entries(1), MB(MB_TRAMP_COUNT));

    /* the OS starts it: the pending SMI comes first, then the OS's code */
    apic_ipi(1, ICR_SIPI | OS_VECTOR);
    check("w4-starts", wait_change(&MB(MB_TRAMP_COUNT), 0, SECOND),
          "the CPU did not start at the OS's vector");
    check("w5-pending-smi-taken", entries(1) == 1,
          "%u SMM entries after the SIPI, expected the pending SMI's 1",
          entries(1));

    /*
     * An SMI that only the BSP takes, raised by IPI: the CPU runs, so bit 6
     * reads 0, though it read 1 before the SIPI (w1).  Under KVM the SIPI
     * went through the kernel's local APIC without QEMU, whose last answer
     * from the kernel, given at w1, more than a second ago, is a yes: too
     * old to count.
     */
    op(OP_OUTL, CPHP_BASE, 1);
    op(OP_INB, CPHP_STATUS, 0);
    ran = smm_run_by(true) && op_ran(1);
    check("w5b-ipi-smi-running-cpu-not-waiting",
          ran && !(op_result(1) & ST_WAITS_SIPI),
          "SMI handler finished %u, status 0x%x", ran, op_result(1));

    e = entries(1);
    op(OP_OUTL, CPHP_BASE, 1);
    op(OP_INB, CPHP_STATUS, 0);
    ran = smm_run() && op_ran(1);
    check("w6-running-cpu-not-waiting", ran && !(op_result(1) & ST_WAITS_SIPI),
          "SMI handler finished %u, status 0x%x", ran, op_result(1));
    check("w7-running-cpu-takes-smi",
          wait_change(&MB(MB_ENTRIES_BY_APIC + 4), e, SECOND),
          "the running CPU did not enter SMM on the broadcast SMI");
}

static inline uint64_t rdmsr(uint32_t msr)
{
    uint32_t lo, hi;

    __asm__ volatile("rdmsr" : "=a"(lo), "=d"(hi) : "c"(msr));
    return (uint64_t)hi << 32 | lo;
}

/* the 64-bit answer of an AP job: the slots job_tsc() answers in */
#define JOB_VAL_LO      JOB_TSC_LO
#define JOB_VAL_HI      JOB_TSC_HI

/* AP job: report MSR_IA32_FEATURE_CONTROL, as the OS would find it */
static void job_feature_control(void)
{
    uint64_t v = rdmsr(MSR_FEATURE_CONTROL);

    MB(JOB_VAL_LO) = (uint32_t)v;
    MB(JOB_VAL_HI) = v >> 32;
    MB(JOB_READS) = 1;
}

/* From SMM: write @value (@width bytes) as CPU 1's feature control */
static uint32_t smm_feature_control(int width, uint32_t value)
{
    op(OP_OUTL, CPHP_BASE, 1);
    op(OP_OUTB, CPHP_CMD, CMD_FEATURE_CONTROL);
    op(width == 4 ? OP_OUTL : width == 2 ? OP_OUTW : OP_OUTB, CPHP_DATA,
       value);
    op(OP_INL, CPHP_DATA, 0);
    return smm_run() && op_ran(3) ? op_result(3) : NOT_RUN;
}

/*
 * -smp 1,maxcpus=2, -cpu ...,lmce=on: the firmware gives a parked CPU the
 * MSR_IA32_FEATURE_CONTROL value it writes on the CPUs it starts (command
 * 5), and the CPU has it when the OS starts it.  Only SMM sets it, only
 * with a 4-byte write, and only bits the CPU has (no VMX here).
 */
void case_parking_feature_control(void)
{
    uint32_t v;

    if (!setup(1)) {
        return;
    }
    outl(CPHP_BASE, 1);
    outb(CPHP_CMD, CMD_FEATURE_CONTROL);
    outl(CPHP_DATA, FC_LMCE | FC_LOCKED);
    check("fc-unreadable-outside-smm", inl(CPHP_DATA) == 0,
          "a non-SMM read returned 0x%x", inl(CPHP_DATA));
    v = smm_feature_control(2, FC_LOCKED);
    check("fc-non-smm-and-narrow-writes-ignored", v == 0,
          "SMM read 0x%x after a non-SMM write of 0x%x and a 2-byte write "
          "of 1", v, FC_LMCE | FC_LOCKED);
    v = smm_feature_control(4, FC_VMX_OUTSIDE_SMX | FC_LOCKED);
    check("fc-bit-the-cpu-lacks-ignored", v == 0,
          "SMM read 0x%x after writing the VMXON enable (no VMX)", v);
    v = smm_feature_control(4, FC_LMCE | FC_LOCKED);
    check("fc-set", v == (FC_LMCE | FC_LOCKED),
          "SMM read 0x%x after writing 0x%x", v, FC_LMCE | FC_LOCKED);

    firmware_relocate("fc-released", 1, 0x50000, true);
    check("fc-job-started", start_job(1, job_feature_control),
          "the released CPU did not start");
    check("fc-installed", MB(JOB_VAL_LO) == (FC_LMCE | FC_LOCKED) &&
          MB(JOB_VAL_HI) == 0,
          "the started CPU reads MSR_IA32_FEATURE_CONTROL 0x%x%08x, "
          "not 0x%x", MB(JOB_VAL_HI), MB(JOB_VAL_LO), FC_LMCE | FC_LOCKED);
}

/*
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * Fuzz target for the q35 SMI and SMM CPU hotplug surface: APM_CNT and
 * APM_STS (0xb2, 0xb3), the CPU hotplug register block (0xcd8), the
 * fw_cfg ports and DMA (etc/smi/...), SMI_EN and GPE0, with CPU
 * parking offered and APM_STS negotiation on.
 *
 * A qtest access never comes from SMM, so a generic fuzzer cannot reach
 * the SMM-only controls (SMBASE, unpark).  This target runs in QEMU's
 * process and issues port accesses with SMM's attributes too, next to
 * plain ones, device_add and device_del of CPUs, guest RAM writes (for
 * fw_cfg DMA descriptors) and resets.  fw_cfg's etc/smi files also have
 * ops of their own (a DMA write, a read), so that a negotiation is two
 * steps away.
 *
 * After every step it lets a CPU release that a step queued finish (on
 * the CPU's thread, as it would before the CPU runs), then checks the CPU
 * hold invariants and aborts (a crash for libFuzzer) when one breaks:
 *  - nothing but a write with SMM's attributes moves a CPU out of its hold
 *    or changes the SMBASE it will start with;
 *  - a CPU leaves its hold only after its SMBASE was set (no
 *    CPU_HOLD_HELD -> released);
 *  - a CPU added while parking is negotiated starts held, one added
 *    without it does not;
 *  - the negotiated SMI features change only at reset.
 * ASan and UBSan catch the rest.
 *
 * Every input starts from the same machine: modern CPU hotplug interface
 * (set once before the first input; a reset does not go back to the
 * legacy one, so the legacy interface is not fuzzed here: q35-smi-test
 * covers it), the ACPI PM block at 0x600, the scratch RAM zeroed, no CPU
 * plugged, both banks' selector and command 0, then a system reset.
 *
 * Input: a sequence of 7-byte steps { op, arg, width, value (LE 32) }.
 */

#include "qemu/osdep.h"
#include "qemu/bswap.h"
#include "qobject/qdict.h"
#include "qapi/error.h"
#include "qapi/qapi-commands-qdev.h"
#include "monitor/qdev.h"
#include "exec/address-spaces.h"
#include "exec/memattrs.h"
#include "hw/core/cpu.h"
#include "hw/core/cpu-hold.h"
#include "hw/hotplug.h"
#include "hw/qdev-core.h"
#include "hw/southbridge/ich9.h"
#include "hw/acpi/cpu_hotplug_smm.h"
#include "hw/boards.h"
#include "system/runstate.h"
#include "fuzz.h"

#define FZ_MAX_CPUS     4       /* -smp 1,maxcpus=4: cores 1..3 pluggable */
#define FZ_SLOTS        (FZ_MAX_CPUS - 1)
#define FZ_RAM_SCRATCH  0x100000 /* guest RAM the input may write */
#define FZ_SCRATCH_SIZE 0x800
#define FZ_F_PARKING    BIT_ULL(ICH9_LPC_SMI_F_CPU_HOTPLUG_PARKING_BIT)
#define FZ_DMA_MAX      4096    /* longest fw_cfg DMA transfer */
#define FZ_PMBASE       0x600
#define FZ_LPC_CFG(reg) (0x80000000u | (0x1f << 11) | (reg))

static const uint16_t fz_ports[] = {
    0xb2, 0xb3,                                 /* APM_CNT, APM_STS */
    0xcd8, 0xcd9, 0xcda, 0xcdb, 0xcdc, 0xcdd,   /* CPU hotplug block */
    0xcde, 0xcdf, 0xce0, 0xce1, 0xce2, 0xce3,
    /*
     * fw_cfg selector and data; its DMA address register only through
     * FZ_DMA and FZ_FWCFG_WRITE, which bound the transfer (FZ_DMA_MAX)
     */
    0x510, 0x511,
    0x604, 0x620, 0x628, 0x630,                 /* PM1_CNT, GPE0, SMI_EN */
                                                /* (PMBASE 0x600) */
    0xcf8, 0xcfc,                               /* PCI config */
};

enum {
    FZ_OUT,             /* port write, not from SMM */
    FZ_IN,              /* port read, not from SMM */
    FZ_SMM_OUT,         /* port write with SMM's attributes */
    FZ_SMM_IN,          /* port read with SMM's attributes */
    FZ_CPU_ADD,         /* device_add of core arg % FZ_SLOTS + 1 */
    FZ_CPU_DEL,         /* device_del of it */
    FZ_RAM_WRITE,       /* 32 bits at FZ_RAM_SCRATCH + arg * 4 */
    FZ_DMA,             /* fw_cfg DMA of the descriptor at the scratch */
    FZ_FWCFG_WRITE,     /* fw_cfg DMA write of value to fz_files[arg] */
    FZ_FWCFG_READ,      /* select fz_files[arg], read the data port */
    FZ_EVENTS,          /* run the main loop (queued work, timers) */
    FZ_RESET,           /* system reset */
    FZ_OP_MAX,
};

typedef struct FzStep {
    uint8_t op;
    uint8_t arg;
    uint8_t width;
    uint8_t value[4];
} FzStep;

/* fw_cfg files the ops above address by index; selectors found once */
static const char *const fz_files[] = {
    "etc/smi/requested-features",
    "etc/smi/features-ok",
    "etc/smi/supported-features",
};
static uint16_t fz_file_sel[ARRAY_SIZE(fz_files)];

static CPUHoldState fz_last[FZ_SLOTS];
static uint32_t fz_last_smbase[FZ_SLOTS];
static uint64_t fz_last_features;

static const char *fz_id(int slot)
{
    static const char *const ids[FZ_SLOTS] = { "fz1", "fz2", "fz3" };

    return ids[slot];
}

static CPUState *fz_cpu(int slot)
{
    g_autofree char *path = g_strdup_printf("/machine/peripheral/%s",
                                            fz_id(slot));
    Object *o = object_resolve_path(path, NULL);

    return o ? CPU(o) : NULL;
}

static Object *fz_lpc(void)
{
    static Object *lpc;

    if (!lpc) {
        lpc = object_resolve_path_type("", TYPE_ICH9_LPC_DEVICE, NULL);
    }
    return lpc;
}

static uint64_t fz_features(void)
{
    return object_property_get_uint(fz_lpc(), "x-smi-negotiated-features",
                                    &error_abort);
}

static void fz_fail(const char *what, int slot, CPUHoldState from,
                    CPUHoldState to)
{
    fprintf(stderr, "smm-cpu-hotplug-fuzz: invariant broken: %s "
            "(CPU %s: hold %d -> %d)\n", what, fz_id(slot), from, to);
    abort();
}

static void fz_nop(CPUState *cpu, run_on_cpu_data data)
{
}

/*
 * A release is queued work on the CPU's thread (cpu_hold_release()); run
 * it now, so that whether a later step sees it done does not depend on
 * when the main loop last dropped the BQL.  The queue is FIFO: once an
 * empty item queued behind it has run, so has the release.
 */
static void fz_finish_releases(void)
{
    int i;

    for (i = 0; i < FZ_SLOTS; i++) {
        CPUState *cpu = fz_cpu(i);

        if (cpu && cpu_hold_state(cpu) == CPU_HOLD_RELEASING) {
            run_on_cpu(cpu, fz_nop, RUN_ON_CPU_NULL);
            if (cpu_hold_state(cpu) == CPU_HOLD_RELEASING) {
                fz_fail("release did not finish on the CPU's thread", i,
                        CPU_HOLD_RELEASING, CPU_HOLD_RELEASING);
            }
        }
    }
}

/*
 * Compare every hot-added CPU's hold and SMBASE with the last step's.
 * @smm: the step was a write with SMM's attributes.  @added: slot the step
 * plugged (-1: none).
 */
static void fz_check(bool smm, int added)
{
    uint64_t features = fz_features();
    int i;

    if (fz_last_features && features != fz_last_features) {
        fprintf(stderr, "smm-cpu-hotplug-fuzz: invariant broken: negotiated"
                " features changed from 0x%" PRIx64 " to 0x%" PRIx64
                " without a reset\n", fz_last_features, features);
        abort();
    }
    fz_last_features = features;

    for (i = 0; i < FZ_SLOTS; i++) {
        CPUState *cpu = fz_cpu(i);
        CPUHoldState from = fz_last[i];
        CPUHoldState to = cpu ? cpu_hold_state(cpu) : CPU_HOLD_NONE;
        uint32_t smbase = cpu ? cpu_hold_get_smbase(cpu) : 0;

        if (!cpu) {
            fz_last[i] = CPU_HOLD_NONE;
            fz_last_smbase[i] = 0;
            continue;
        }
        if (i == added) {
            if ((features & FZ_F_PARKING) ? to != CPU_HOLD_HELD
                                          : to != CPU_HOLD_NONE) {
                fz_fail(features & FZ_F_PARKING ?
                        "CPU added with parking negotiated is not held" :
                        "CPU added without parking negotiated is held",
                        i, from, to);
            }
        } else if (!smm) {
            /* nothing but SMM moves a hold forward or sets an SMBASE */
            if ((from == CPU_HOLD_HELD && to != CPU_HOLD_HELD) ||
                (from == CPU_HOLD_READY && to != CPU_HOLD_READY)) {
                fz_fail("hold changed by a step not from SMM", i, from, to);
            }
            if (to != CPU_HOLD_NONE && smbase != fz_last_smbase[i]) {
                fz_fail("SMBASE changed by a step not from SMM", i, from, to);
            }
        } else if (from == CPU_HOLD_HELD && to == CPU_HOLD_NONE) {
            fz_fail("released before its SMBASE was set", i, from, to);
        }
        fz_last[i] = to;
        fz_last_smbase[i] = smbase;
    }
}

/* @v as the CPU would write it: the low @width bytes, little endian */
static void fz_port_write(uint16_t port, unsigned width, uint32_t v,
                          bool smm)
{
    MemTxAttrs attrs = { .secure = smm };
    uint8_t buf[4];

    stl_le_p(buf, v);
    address_space_write(&address_space_io, port, attrs, buf, width);
}

/* Start fw_cfg DMA of the descriptor at @desc (a big-endian register) */
static void fz_fwcfg_dma_start(uint64_t desc)
{
    uint8_t buf[4];

    stl_be_p(buf, desc >> 32);
    address_space_write(&address_space_io, 0x514, MEMTXATTRS_UNSPECIFIED,
                        buf, 4);
    stl_be_p(buf, desc);
    address_space_write(&address_space_io, 0x518, MEMTXATTRS_UNSPECIFIED,
                        buf, 4);
}

static void fz_port_read(uint16_t port, unsigned width, bool smm)
{
    MemTxAttrs attrs = { .secure = smm };
    uint8_t buf[4];

    address_space_read(&address_space_io, port, attrs, buf, width);
}

static void fz_cpu_add(int slot)
{
    QDict *args = qdict_new();
    QObject *ret = NULL;
    Error *err = NULL;

    qdict_put_str(args, "driver", MACHINE(qdev_get_machine())->cpu_type);
    qdict_put_str(args, "id", fz_id(slot));
    qdict_put_int(args, "socket-id", 0);
    qdict_put_int(args, "core-id", slot + 1);
    qdict_put_int(args, "thread-id", 0);
    qmp_device_add(args, &ret, &err);
    /* refusals (policy, slot taken) are expected input */
    error_free(err);
    qobject_unref(ret);
    qobject_unref(args);
}

static void fz_cpu_del(int slot)
{
    Error *err = NULL;

    qmp_device_del(fz_id(slot), &err);
    error_free(err);
}

/*
 * Remove what the input plugged, as an ACPI eject does, and clear the
 * CPU hotplug block's selector and command in both banks, which a reset
 * keeps: the next input starts from the same machine.
 */
static void fz_cleanup(void)
{
    int i;

    for (i = 0; i < FZ_SLOTS; i++) {
        CPUState *cpu = fz_cpu(i);
        DeviceState *dev;

        if (!cpu) {
            continue;
        }
        dev = DEVICE(cpu);
        hotplug_handler_unplug(qdev_get_hotplug_handler(dev), dev,
                               &error_abort);
        object_unparent(OBJECT(dev));
    }
    for (i = 0; i < 2; i++) {
        fz_port_write(0xcd8, 4, 0, i);
        fz_port_write(0xcdd, 1, 0, i);
    }
}

/* Read fw_cfg's file directory through the ports, as firmware does. */
static void fz_find_files(void)
{
    uint8_t buf[64];
    uint32_t count, i, j;

    fz_port_write(0x510, 2, 0x19, false);       /* FW_CFG_FILE_DIR */
    for (i = 0; i < 4; i++) {
        address_space_read(&address_space_io, 0x511, MEMTXATTRS_UNSPECIFIED,
                           &buf[i], 1);
    }
    count = ldl_be_p(buf);
    for (i = 0; i < count; i++) {
        for (j = 0; j < sizeof(buf); j++) {
            address_space_read(&address_space_io, 0x511,
                               MEMTXATTRS_UNSPECIFIED, &buf[j], 1);
        }
        for (j = 0; j < ARRAY_SIZE(fz_files); j++) {
            if (!strncmp((char *)buf + 8, fz_files[j], 56)) {
                fz_file_sel[j] = lduw_be_p(buf + 4);
            }
        }
    }
    for (j = 0; j < ARRAY_SIZE(fz_files); j++) {
        g_assert(fz_file_sel[j]);
    }
}

/* A DMA write of 8 bytes (@v, little endian) to fw_cfg file @file. */
static void fz_fwcfg_write(QTestState *s, int file, uint32_t v)
{
    uint64_t desc = FZ_RAM_SCRATCH + 0x400;
    uint8_t buf[24];

    /* FWCfgDmaAccess, big endian: control, length, address; then data */
    stl_be_p(buf, fz_file_sel[file] << 16 | 0x18);      /* SELECT | WRITE */
    stl_be_p(buf + 4, 8);
    stq_be_p(buf + 8, desc + 16);
    stq_le_p(buf + 16, v);
    qtest_memwrite(s, desc, buf, sizeof(buf));
    fz_fwcfg_dma_start(desc);
}

/* What firmware does before it uses the ACPI PM block: PMBASE, ACPI_EN */
static void fz_pm_enable(void)
{
    fz_port_write(0xcf8, 4, FZ_LPC_CFG(0x40), false);
    fz_port_write(0xcfc, 4, FZ_PMBASE | 1, false);
    fz_port_write(0xcf8, 4, FZ_LPC_CFG(0x44), false);
    fz_port_write(0xcfc, 4, 0x80, false);
}

static void smm_cpu_hotplug_pre_fuzz(QTestState *s)
{
    fz_find_files();
    /* the switch to the modern CPU hotplug interface, as _INI does */
    fz_port_write(0xcd8, 1, 0, false);
    fuzz_reset(s);
}

static void smm_cpu_hotplug_fuzz(QTestState *s, const unsigned char *data,
                                 size_t size)
{
    /*
     * Zeroed through qtest_bufwrite(): the fuzz build's qtest_memset()
     * wrapper (tests/qtest/fuzz/qtest_wrappers.c) never frees the buffer
     * it allocates, 2 KiB per input here.
     */
    static const uint8_t zero[FZ_SCRATCH_SIZE];
    FzStep st;

    fz_pm_enable();
    qtest_bufwrite(s, FZ_RAM_SCRATCH, zero, sizeof(zero));
    memset(fz_last, 0, sizeof(fz_last));
    memset(fz_last_smbase, 0, sizeof(fz_last_smbase));
    fz_last_features = 0;
    fz_check(false, -1);

    while (size >= sizeof(st)) {
        unsigned width;
        uint32_t v;
        uint16_t port;
        int slot, added = -1;
        bool smm = false;

        memcpy(&st, data, sizeof(st));
        data += sizeof(st);
        size -= sizeof(st);
        width = 1u << (st.width % 3);
        v = ldl_le_p(st.value);
        port = fz_ports[st.arg % ARRAY_SIZE(fz_ports)];
        slot = st.arg % FZ_SLOTS;

        switch (st.op % FZ_OP_MAX) {
        case FZ_OUT:
            fz_port_write(port, width, v, false);
            break;
        case FZ_IN:
            fz_port_read(port, width, false);
            break;
        case FZ_SMM_OUT:
            fz_port_write(port, width, v, true);
            smm = true;
            break;
        case FZ_SMM_IN:
            /* a read moves nothing, from SMM or not: checked as such */
            fz_port_read(port, width, true);
            break;
        case FZ_CPU_ADD:
            /*
             * Not into a taken slot: QEMU's refusal of that is not this
             * surface, and every failed device_add waits for an RCU grace
             * period (drain_call_rcu()), which would halve the rate.
             */
            if (!fz_cpu(slot)) {
                fz_cpu_add(slot);
                added = fz_cpu(slot) ? slot : -1;
            }
            break;
        case FZ_CPU_DEL:
            fz_cpu_del(slot);
            break;
        case FZ_RAM_WRITE:
            qtest_memwrite(s, FZ_RAM_SCRATCH + st.arg * 4, st.value, 4);
            break;
        case FZ_DMA: {
            uint64_t desc = FZ_RAM_SCRATCH + (st.arg & 0xf0) * 4;
            uint8_t len[4];

            /*
             * At most a page: fw_cfg fills a long transfer past a file's
             * end in 512-byte steps, which takes seconds per input under
             * ASan and teaches the fuzzer nothing about this surface.
             */
            qtest_memread(s, desc + 4, len, 4);
            /* ldl_be_p() returns int: compare unsigned */
            stl_be_p(len, MIN((uint32_t)ldl_be_p(len), FZ_DMA_MAX));
            qtest_memwrite(s, desc + 4, len, 4);
            fz_fwcfg_dma_start(desc);
            break;
        }
        case FZ_FWCFG_WRITE:
            fz_fwcfg_write(s, st.arg % ARRAY_SIZE(fz_files), v);
            break;
        case FZ_FWCFG_READ:
            fz_port_write(0x510, 2, fz_file_sel[st.arg % ARRAY_SIZE(fz_files)],
                          false);
            fz_port_read(0x511, 1, false);      /* a byte port */
            break;
        case FZ_EVENTS:
            flush_events(s);
            break;
        case FZ_RESET:
            qemu_system_reset(SHUTDOWN_CAUSE_GUEST_RESET);
            memset(fz_last, 0, sizeof(fz_last));
            memset(fz_last_smbase, 0, sizeof(fz_last_smbase));
            fz_last_features = 0;
            break;
        }
        fz_finish_releases();
        fz_check(smm, added);
    }
    flush_events(s);
    fz_cleanup();
    fuzz_reset(s);
}

static GString *smm_cpu_hotplug_argv(FuzzTarget *t)
{
    return g_string_new(TARGET_NAME " -machine q35,accel=qtest,smm=on"
                        " -smp 1,maxcpus=4 -cpu qemu64 -m 64"
                        " -display none -nodefaults"
                        " -global ICH9-LPC.x-smi-cpu-hotplug-parking=on"
                        " -global ICH9-LPC.x-smi-apm-sts=on");
}

static void register_smm_cpu_hotplug_fuzz_target(void)
{
    fuzz_add_target(&(FuzzTarget){
        .name = "smm-cpu-hotplug",
        .description = "Fuzz the q35 SMI ports, SMI feature negotiation "
                       "and the CPU hotplug block, from SMM and not",
        .get_init_cmdline = smm_cpu_hotplug_argv,
        .pre_fuzz = smm_cpu_hotplug_pre_fuzz,
        .fuzz = smm_cpu_hotplug_fuzz,
    });
}

fuzz_target_init(register_smm_cpu_hotplug_fuzz_target);

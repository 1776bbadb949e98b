/*
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * qtest for the ICH9 SMI paths that need no firmware: APM_CNT (0xb2)
 * writes with APMC_EN clear and set, the ACPI enable/disable commands, and
 * SMI feature negotiation through the etc/smi fw_cfg files: every
 * combination of feature bits, the lock until reset, and the CPU hotplug
 * policy that depends on the result.
 */

#include "qemu/osdep.h"
#include "qemu/bswap.h"
#include "libqtest.h"
#include "qobject/qdict.h"
#include "qobject/qlist.h"
#include "libqos/libqos-pc.h"
#include "libqos/fw_cfg.h"

#define LPC_DEVFN       (0x1f << 3)     /* 00:1f.0 */
#define LPC_PMBASE      0x40
#define LPC_ACPI_CTRL   0x44
#define LPC_ACPI_EN     0x80
#define PMBASE          0x600
#define PM1_CNT         (PMBASE + 0x04)
#define SMI_EN          (PMBASE + 0x30)
#define SMI_EN_GBL      (1u << 0)
#define SMI_EN_APMC     (1u << 5)
#define APM_CNT         0xb2
#define APM_STS         0xb3

static void pci_cfg_writel(QTestState *qts, int devfn, int reg, uint32_t v)
{
    qtest_outl(qts, 0xcf8, 0x80000000u | devfn << 8 | reg);
    qtest_outl(qts, 0xcfc, v);
}

static uint32_t pci_cfg_readl(QTestState *qts, int devfn, int reg)
{
    qtest_outl(qts, 0xcf8, 0x80000000u | devfn << 8 | reg);
    return qtest_inl(qts, 0xcfc);
}

static QTestState *start_q35(const char *extra)
{
    QTestState *qts = qtest_initf("-machine q35 %s", extra ? extra : "");

    pci_cfg_writel(qts, LPC_DEVFN, LPC_PMBASE, PMBASE | 1);
    pci_cfg_writel(qts, LPC_DEVFN, LPC_ACPI_CTRL,
                   pci_cfg_readl(qts, LPC_DEVFN, LPC_ACPI_CTRL) | LPC_ACPI_EN);
    return qts;
}

/*
 * With APMC_EN set and no broadcast negotiated, an APM_CNT write raises
 * the SMI on the writing CPU.  A qtest write comes from no CPU: it must
 * be dropped (and traced), not crash QEMU.
 */
static void test_apmc_without_cpu(void)
{
    QTestState *qts = start_q35(NULL);

    qtest_outl(qts, SMI_EN, SMI_EN_GBL | SMI_EN_APMC);
    g_assert_cmphex(qtest_inl(qts, SMI_EN) & SMI_EN_APMC, ==, SMI_EN_APMC);
    qtest_outb(qts, APM_CNT, 0x42);
    /* QEMU is still there and APM_CNT holds the value */
    g_assert_cmphex(qtest_inb(qts, APM_CNT), ==, 0x42);
    qtest_outb(qts, APM_CNT, 0x04);
    g_assert_cmphex(qtest_inb(qts, APM_CNT), ==, 0x04);
    qtest_quit(qts);
}

/* APMC_EN clear: APM_CNT is a plain register. */
static void test_apmc_disabled(void)
{
    QTestState *qts = start_q35(NULL);

    g_assert_cmphex(qtest_inl(qts, SMI_EN) & SMI_EN_APMC, ==, 0);
    qtest_outb(qts, APM_CNT, 0x42);
    g_assert_cmphex(qtest_inb(qts, APM_CNT), ==, 0x42);
    qtest_quit(qts);
}

/* APM_CNT 2 and 3 set and clear PM1_CNT.SCI_EN, with or without APMC_EN. */
static void test_acpi_enable_disable(void)
{
    QTestState *qts = start_q35(NULL);
    int i;

    for (i = 0; i < 2; i++) {
        qtest_outl(qts, SMI_EN, i ? SMI_EN_GBL | SMI_EN_APMC : 0);
        qtest_outb(qts, APM_CNT, 0x02);
        g_assert_cmphex(qtest_inw(qts, PM1_CNT) & 1, ==, 1);
        qtest_outb(qts, APM_CNT, 0x03);
        g_assert_cmphex(qtest_inw(qts, PM1_CNT) & 1, ==, 0);
    }
    qtest_quit(qts);
}

#define F_BROADCAST     (1u << 0)
#define F_HOTPLUG       (1u << 1)
#define F_HOT_UNPLUG    (1u << 2)

/* QOM path of the ICH9-LPC device */
static char *lpc_path(QTestState *qts)
{
    QDict *rsp = qtest_qmp(qts, "{'execute': 'qom-list', 'arguments':"
                           " {'path': '/machine/unattached'}}");
    QList *l = qdict_get_qlist(rsp, "return");
    QListEntry *e;
    char *path = NULL;

    QLIST_FOREACH_ENTRY(l, e) {
        QDict *p = qobject_to(QDict, qlist_entry_obj(e));

        if (!strcmp(qdict_get_str(p, "type"), "child<ICH9-LPC>")) {
            path = g_strdup_printf("/machine/unattached/%s",
                                   qdict_get_str(p, "name"));
        }
    }
    qobject_unref(rsp);
    g_assert(path);
    return path;
}

static uint64_t negotiated_features(QTestState *qts)
{
    g_autofree char *path = lpc_path(qts);
    QDict *rsp = qtest_qmp(qts, "{'execute': 'qom-get', 'arguments':"
                           " {'path': %s, 'property':"
                           " 'x-smi-negotiated-features'}}", path);
    uint64_t v = qdict_get_int(rsp, "return");

    qobject_unref(rsp);
    return v;
}

static uint64_t supported_features(QFWCFG *fw_cfg)
{
    uint64_t le = 0;

    g_assert_cmpint(qfw_cfg_get_file(fw_cfg, "etc/smi/supported-features",
                                     &le, sizeof(le)), ==, sizeof(le));
    return le64_to_cpu(le);
}

/* Request @features; returns what etc/smi/features-ok reads (1 = accepted). */
static uint8_t negotiate(QOSState *qs, QFWCFG *fw_cfg, uint64_t features)
{
    uint64_t le = cpu_to_le64(features);
    uint8_t ok = 0xff;

    qfw_cfg_write_file(fw_cfg, qs, "etc/smi/requested-features", &le,
                       sizeof(le));
    /* selecting features-ok validates the request and locks it */
    g_assert_cmpint(qfw_cfg_get_file(fw_cfg, "etc/smi/features-ok", &ok, 1),
                    ==, 1);
    return ok;
}

static bool valid_request(uint64_t req, uint64_t offered)
{
    if (req & ~offered) {
        return false;
    }
    if ((req & (F_HOTPLUG | F_HOT_UNPLUG)) && !(req & F_BROADCAST)) {
        return false;
    }
    if ((req & F_HOT_UNPLUG) && !(req & F_HOTPLUG)) {
        return false;
    }
    return true;
}

/* What each machine type offers through etc/smi/supported-features. */
static void test_fw_cfg_supported(void)
{
    static const struct {
        const char *machine;
        uint64_t features;
    } cases[] = {
        { "q35", F_BROADCAST | F_HOTPLUG | F_HOT_UNPLUG },
        { "pc-q35-5.2", F_BROADCAST | F_HOTPLUG },
        { "pc-q35-5.1", F_BROADCAST },
    };
    int i;

    for (i = 0; i < ARRAY_SIZE(cases); i++) {
        QOSState *qs = qtest_pc_boot("-machine %s", cases[i].machine);
        QFWCFG *fw_cfg = pc_fw_cfg_init(qs->qts);

        g_assert_cmphex(supported_features(fw_cfg), ==, cases[i].features);
        g_assert_cmphex(negotiated_features(qs->qts), ==, 0);
        pc_fw_cfg_uninit(fw_cfg);
        qtest_shutdown(qs);
    }
}

/*
 * Every combination of the four low feature bits plus a high one, each on
 * a freshly reset machine: exactly the subsets of what is offered that
 * respect the dependencies are accepted; a rejected request negotiates
 * nothing and does not lock.
 */
static void test_fw_cfg_combinations(void)
{
    QOSState *qs = qtest_pc_boot("-machine q35");
    QFWCFG *fw_cfg = pc_fw_cfg_init(qs->qts);
    uint64_t offered = supported_features(fw_cfg);
    uint64_t req;

    for (req = 0; req <= 16; req++) {
        uint64_t r = req == 16 ? (UINT64_C(1) << 63) | F_BROADCAST : req;
        bool valid = valid_request(r, offered);

        qtest_system_reset(qs->qts);
        g_assert_cmphex(negotiated_features(qs->qts), ==, 0);
        g_assert_cmpint(negotiate(qs, fw_cfg, r), ==, valid);
        g_assert_cmphex(negotiated_features(qs->qts), ==, valid ? r : 0);
        if (!valid) {
            /* not locked: a valid request still goes through */
            g_assert_cmpint(negotiate(qs, fw_cfg, F_BROADCAST), ==, 1);
            g_assert_cmphex(negotiated_features(qs->qts), ==, F_BROADCAST);
        }
    }
    pc_fw_cfg_uninit(fw_cfg);
    qtest_shutdown(qs);
}

/* A successful negotiation is locked until reset; reset clears it. */
static void test_fw_cfg_lock_and_reset(void)
{
    QOSState *qs = qtest_pc_boot("-machine q35");
    QFWCFG *fw_cfg = pc_fw_cfg_init(qs->qts);

    g_assert_cmpint(negotiate(qs, fw_cfg, F_BROADCAST | F_HOTPLUG), ==, 1);
    /* a second request, valid or not, changes nothing */
    g_assert_cmpint(negotiate(qs, fw_cfg, F_BROADCAST), ==, 1);
    g_assert_cmphex(negotiated_features(qs->qts), ==, F_BROADCAST | F_HOTPLUG);
    g_assert_cmpint(negotiate(qs, fw_cfg, F_HOT_UNPLUG), ==, 1);
    g_assert_cmphex(negotiated_features(qs->qts), ==, F_BROADCAST | F_HOTPLUG);

    qtest_system_reset(qs->qts);
    g_assert_cmphex(negotiated_features(qs->qts), ==, 0);
    g_assert_cmpint(negotiate(qs, fw_cfg, F_BROADCAST), ==, 1);
    g_assert_cmphex(negotiated_features(qs->qts), ==, F_BROADCAST);
    pc_fw_cfg_uninit(fw_cfg);
    qtest_shutdown(qs);
}

static QDict *add_cpu(QTestState *qts)
{
    return qtest_qmp(qts, "{'execute': 'device_add', 'arguments':"
                     " {'driver': 'qemu64-x86_64-cpu', 'id': 'hcpu',"
                     " 'socket-id': 0, 'core-id': 1, 'thread-id': 0}}");
}

/*
 * Broadcast SMI negotiated without CPU hotplug: the firmware cannot handle
 * a new CPU, so device_add is refused.  With both, it is accepted.
 */
static void test_device_add_policy(void)
{
    QOSState *qs = qtest_pc_boot("-machine q35 -smp 1,maxcpus=2"
                                 " -global ICH9-LPC.x-smi-cpu-hotplug=off"
                                 " -global ICH9-LPC.x-smi-cpu-hotunplug=off");
    QFWCFG *fw_cfg = pc_fw_cfg_init(qs->qts);
    QDict *rsp;

    g_assert_cmphex(supported_features(fw_cfg), ==, F_BROADCAST);
    g_assert_cmpint(negotiate(qs, fw_cfg, F_BROADCAST), ==, 1);
    rsp = add_cpu(qs->qts);
    g_assert(qdict_haskey(rsp, "error"));
    g_assert_cmpstr(qdict_get_str(qdict_get_qdict(rsp, "error"), "desc"), ==,
                    "cpu hotplug with SMI wasn't enabled by firmware");
    qobject_unref(rsp);
    pc_fw_cfg_uninit(fw_cfg);
    qtest_shutdown(qs);

    qs = qtest_pc_boot("-machine q35 -smp 1,maxcpus=2");
    fw_cfg = pc_fw_cfg_init(qs->qts);
    g_assert_cmpint(negotiate(qs, fw_cfg, F_BROADCAST | F_HOTPLUG), ==, 1);
    rsp = add_cpu(qs->qts);
    g_assert(!qdict_haskey(rsp, "error"));
    qobject_unref(rsp);
    pc_fw_cfg_uninit(fw_cfg);
    qtest_shutdown(qs);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);

    qtest_add_func("/q35/smi/fw_cfg/supported", test_fw_cfg_supported);
    qtest_add_func("/q35/smi/fw_cfg/combinations", test_fw_cfg_combinations);
    qtest_add_func("/q35/smi/fw_cfg/lock-and-reset",
                   test_fw_cfg_lock_and_reset);
    qtest_add_func("/q35/smi/device-add-policy", test_device_add_policy);

    qtest_add_func("/q35/smi/apmc-without-cpu", test_apmc_without_cpu);
    qtest_add_func("/q35/smi/apmc-disabled", test_apmc_disabled);
    qtest_add_func("/q35/smi/acpi-enable-disable", test_acpi_enable_disable);
    return g_test_run();
}

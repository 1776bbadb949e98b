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

/* what firmware does: the ACPI PM I/O block at PMBASE, enabled */
static void pm_io_enable(QTestState *qts)
{
    pci_cfg_writel(qts, LPC_DEVFN, LPC_PMBASE, PMBASE | 1);
    pci_cfg_writel(qts, LPC_DEVFN, LPC_ACPI_CTRL,
                   pci_cfg_readl(qts, LPC_DEVFN, LPC_ACPI_CTRL) | LPC_ACPI_EN);
}

static QTestState *start_q35(const char *extra)
{
    QTestState *qts = qtest_initf("-machine q35 %s", extra ? extra : "");

    pm_io_enable(qts);
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
/*
 * APM_CNT and APM_STS are in the ICH9 core well: a reset (and an S3
 * wakeup, the same LPC reset) clears them, so that no SMI handler reads a
 * command left from before it.
 */
static void test_apm_reset(void)
{
    QTestState *qts = start_q35(NULL);

    qtest_outl(qts, SMI_EN, 0);             /* APMC_EN clear: no SMI */
    qtest_outb(qts, APM_CNT, 0x04);
    qtest_outb(qts, APM_STS, 0x5a);
    g_assert_cmphex(qtest_inb(qts, APM_CNT), ==, 0x04);
    g_assert_cmphex(qtest_inb(qts, APM_STS), ==, 0x5a);
    qtest_system_reset(qts);
    g_assert_cmphex(qtest_inb(qts, APM_CNT), ==, 0);
    g_assert_cmphex(qtest_inb(qts, APM_STS), ==, 0);
    qtest_quit(qts);
}

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
#define F_PARKING       (1u << 3)
#define APM_STS_ON      "-global ICH9-LPC.x-smi-apm-sts=on"
#define PARKING_ON      "-global ICH9-LPC.x-smi-cpu-hotplug-parking=on"
/* the downstream machine type: ICH9-LPC.cpu-hotplug-parking=auto */
#define MT_SMMHP        "pc-q35-10.0-smm-hotplug"

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
    if ((req & (F_HOTPLUG | F_HOT_UNPLUG | F_PARKING)) &&
        !(req & F_BROADCAST)) {
        return false;
    }
    if ((req & (F_HOT_UNPLUG | F_PARKING)) && !(req & F_HOTPLUG)) {
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
        { MT_SMMHP, F_BROADCAST | F_HOTPLUG | F_HOT_UNPLUG | F_PARKING },
        { MT_SMMHP ",smm=off", F_BROADCAST | F_HOTPLUG | F_HOT_UNPLUG },
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

/* @rsp is an error reply whose description is exactly @desc; frees it */
static void assert_qmp_error(QDict *rsp, const char *desc)
{
    g_assert(qdict_haskey(rsp, "error"));
    g_assert_cmpstr(qdict_get_str(qdict_get_qdict(rsp, "error"), "desc"), ==,
                    desc);
    qobject_unref(rsp);
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
    assert_qmp_error(rsp,
                     "cpu hotplug with SMI wasn't enabled by firmware: it "
                     "negotiated SMI features 0x1 (broadcast SMI), without CPU "
                     "hotplug with SMI (bit 1), so it could not take control "
                     "of a new CPU");
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

/* APM_STS front end: write a byte, read what comes back */
static uint8_t apm_sts(QTestState *qts, uint8_t val)
{
    qtest_outb(qts, APM_STS, val);
    return qtest_inb(qts, APM_STS);
}

/* Request @features through APM_STS; returns the features in the reply. */
static uint64_t apm_sts_request(QTestState *qts, uint64_t features)
{
    uint8_t r = apm_sts(qts, features << 2);

    g_assert_cmphex(r & 0x03, ==, 0);
    return r >> 2;
}

/*
 * Without x-smi-apm-sts, APM_STS is the scratch register it always was,
 * which is what a probe sees on QEMU without this front end: the query
 * bit reads back set.
 */
static void test_apm_sts_absent(void)
{
    QTestState *qts = qtest_init("-machine q35");
    int v;

    for (v = 0; v < 256; v++) {
        g_assert_cmphex(apm_sts(qts, v), ==, v);
    }
    g_assert_cmphex(negotiated_features(qts), ==, 0);
    qtest_quit(qts);
}

/* The probe: bit 1 reads back clear, bits 2..7 carry what is offered. */
static void test_apm_sts_probe(void)
{
    QTestState *qts = qtest_init("-machine q35 " APM_STS_ON);

    g_assert_cmphex(apm_sts(qts, 0x02), ==,
                    (F_BROADCAST | F_HOTPLUG | F_HOT_UNPLUG) << 2);
    /* bit 0 stays transparent, other bits of a query are ignored */
    g_assert_cmphex(apm_sts(qts, 0xff), ==,
                    (F_BROADCAST | F_HOTPLUG | F_HOT_UNPLUG) << 2 | 1);
    g_assert_cmphex(negotiated_features(qts), ==, 0);
    qtest_quit(qts);

    qts = qtest_init("-machine q35 " APM_STS_ON " " PARKING_ON);
    g_assert_cmphex(apm_sts(qts, 0x02), ==,
                    (F_BROADCAST | F_HOTPLUG | F_HOT_UNPLUG | F_PARKING) << 2);
    qtest_quit(qts);
}

/*
 * Every feature combination through APM_STS, with and without the parking
 * bit offered: the reply is the request when it is accepted and 0 when it
 * is rejected; a rejection locks nothing.
 */
static void apm_sts_combinations(const char *extra, uint64_t offered)
{
    QTestState *qts = qtest_initf("-machine q35 " APM_STS_ON " %s", extra);
    uint64_t req;

    for (req = 1; req < 64; req++) {
        bool valid = valid_request(req, offered);

        qtest_system_reset(qts);
        g_assert_cmphex(apm_sts_request(qts, req), ==, valid ? req : 0);
        g_assert_cmphex(negotiated_features(qts), ==, valid ? req : 0);
        if (!valid) {
            g_assert_cmphex(apm_sts_request(qts, F_BROADCAST), ==,
                            F_BROADCAST);
        }
    }
    qtest_quit(qts);
}

static void test_apm_sts_combinations(void)
{
    apm_sts_combinations("", F_BROADCAST | F_HOTPLUG | F_HOT_UNPLUG);
    apm_sts_combinations(PARKING_ON,
                         F_BROADCAST | F_HOTPLUG | F_HOT_UNPLUG | F_PARKING);
}

/* Parking cannot be negotiated, through either front end, unless offered. */
static void test_parking_not_offered(void)
{
    QOSState *qs = qtest_pc_boot("-machine q35 " APM_STS_ON);
    QFWCFG *fw_cfg = pc_fw_cfg_init(qs->qts);
    uint64_t want = F_BROADCAST | F_HOTPLUG | F_PARKING;

    g_assert_cmphex(supported_features(fw_cfg) & F_PARKING, ==, 0);
    g_assert_cmpint(negotiate(qs, fw_cfg, want), ==, 0);
    g_assert_cmphex(apm_sts_request(qs->qts, want), ==, 0);
    g_assert_cmphex(negotiated_features(qs->qts), ==, 0);
    pc_fw_cfg_uninit(fw_cfg);
    qtest_shutdown(qs);

    qs = qtest_pc_boot("-machine q35 " APM_STS_ON " " PARKING_ON);
    fw_cfg = pc_fw_cfg_init(qs->qts);
    g_assert_cmphex(supported_features(fw_cfg), ==,
                    F_BROADCAST | F_HOTPLUG | F_HOT_UNPLUG | F_PARKING);
    g_assert_cmpint(negotiate(qs, fw_cfg, want), ==, 1);
    g_assert_cmphex(negotiated_features(qs->qts), ==, want);
    pc_fw_cfg_uninit(fw_cfg);
    qtest_shutdown(qs);
}

/*
 * QEMU refuses to start as -machine @machine with -global @prop; its error
 * contains @msg (and @hint, unless NULL).
 */
static void assert_start_refused(const char *machine, const char *prop,
                                 const char *msg, const char *hint)
{
    const char *argv[] = {
        "timeout", "60", getenv("QTEST_QEMU_BINARY"),
        "-machine", machine, "-accel", "tcg", "-nodefaults",
        "-display", "none", "-S", "-global", prop, NULL
    };
    g_autofree char *out = NULL;
    g_autofree char *err = NULL;
    g_autoptr(GError) gerr = NULL;
    int status;

    g_assert(argv[2]);
    g_assert(g_spawn_sync(NULL, (char **)argv, NULL, G_SPAWN_SEARCH_PATH,
                          NULL, NULL, &out, &err, &status, &gerr));
    g_assert(WIFEXITED(status));
    g_assert_cmpint(WEXITSTATUS(status), ==, 1);
    g_assert_nonnull(strstr(err, msg));
    g_assert(!hint || strstr(err, hint));
}

/* One lock for both front ends, in both directions; reset clears it. */
static void test_apm_sts_shared_lock(void)
{
    QOSState *qs = qtest_pc_boot("-machine q35 " APM_STS_ON);
    QFWCFG *fw_cfg = pc_fw_cfg_init(qs->qts);
    uint64_t le = 0;

    /* APM_STS first: fw_cfg sees the result and cannot change it */
    g_assert_cmphex(apm_sts_request(qs->qts, F_BROADCAST | F_HOTPLUG), ==,
                    F_BROADCAST | F_HOTPLUG);
    qfw_cfg_get_file(fw_cfg, "etc/smi/requested-features", &le, sizeof(le));
    g_assert_cmphex(le64_to_cpu(le), ==, F_BROADCAST | F_HOTPLUG);
    g_assert_cmpint(negotiate(qs, fw_cfg, F_BROADCAST), ==, 1);
    g_assert_cmphex(negotiated_features(qs->qts), ==, F_BROADCAST | F_HOTPLUG);
    /* a second APM_STS request is refused: the reply shows what holds */
    g_assert_cmphex(apm_sts_request(qs->qts, F_BROADCAST), ==,
                    F_BROADCAST | F_HOTPLUG);

    /* reset clears; then fw_cfg first: APM_STS cannot change it */
    qtest_system_reset(qs->qts);
    g_assert_cmphex(negotiated_features(qs->qts), ==, 0);
    g_assert_cmpint(negotiate(qs, fw_cfg, F_BROADCAST), ==, 1);
    g_assert_cmphex(apm_sts_request(qs->qts, F_BROADCAST | F_HOTPLUG), ==,
                    F_BROADCAST);
    g_assert_cmphex(negotiated_features(qs->qts), ==, F_BROADCAST);
    pc_fw_cfg_uninit(fw_cfg);
    qtest_shutdown(qs);
}

/*
 * What SeaBIOS (0x01, then 0x00 from its SMI handler, polled) and OVMF
 * (0x00 before every SMI) write must read back unchanged, before and after
 * a negotiation, and must not negotiate anything.
 */
static void test_apm_sts_firmware_writes(void)
{
    QTestState *qts = qtest_init("-machine q35 " APM_STS_ON);
    int round;

    for (round = 0; round < 2; round++) {
        g_assert_cmphex(apm_sts(qts, 0x01), ==, 0x01);
        g_assert_cmphex(qtest_inb(qts, APM_STS), ==, 0x01);
        g_assert_cmphex(apm_sts(qts, 0x00), ==, 0x00);
        g_assert_cmphex(qtest_inb(qts, APM_STS), ==, 0x00);
        g_assert_cmphex(negotiated_features(qts), ==,
                        round ? F_BROADCAST | F_HOTPLUG : 0);
        if (!round) {
            apm_sts_request(qts, F_BROADCAST | F_HOTPLUG);
            /* the reply lasts until the next write only */
            g_assert_cmphex(qtest_inb(qts, APM_STS), ==,
                            (F_BROADCAST | F_HOTPLUG) << 2);
        }
    }
    qtest_quit(qts);
}

/* How long a migration to or from a file may take: 30 s in 10 ms steps */
#define MIGRATION_POLLS 3000

/*
 * Migrate @src (stopped) to a file; returns once the file is complete.
 * A failed or stuck migration fails the test with its last status.
 */
static void migrate_to_file(QTestState *src, const char *uri)
{
    g_autofree char *last = NULL;
    int i;

    qtest_qmp_assert_success(src, "{'execute': 'stop'}");
    qtest_qmp_assert_success(src, "{'execute': 'migrate', 'arguments':"
                             " {'uri': %s}}", uri);
    for (i = 0; i < MIGRATION_POLLS; i++) {
        QDict *rsp = qtest_qmp(src, "{'execute': 'query-migrate'}");
        QDict *ret = qdict_get_qdict(rsp, "return");
        const char *st = qdict_get_try_str(ret, "status");

        g_free(last);
        last = g_strdup(st ?: "(no status)");
        if (st && !strcmp(st, "failed")) {
            g_test_message("migration to %s failed: %s", uri,
                           qdict_get_try_str(ret, "error-desc") ?: "");
        }
        qobject_unref(rsp);
        if (!strcmp(last, "completed") || !strcmp(last, "failed")) {
            break;
        }
        g_usleep(10000);
    }
    if (strcmp(last, "completed")) {
        g_test_message("migration to %s: status '%s' after %d polls", uri,
                       last, i);
    }
    g_assert_cmpstr(last, ==, "completed");
}

/*
 * Wait until a destination started with -incoming has loaded its state;
 * one that is still loading after 30 s, or quit, fails the test.
 */
static void wait_incoming(QTestState *dst)
{
    g_autofree char *last = NULL;
    int i;

    for (i = 0; i < MIGRATION_POLLS; i++) {
        QDict *rsp = qtest_qmp(dst, "{'execute': 'query-status'}");
        const char *st = qdict_get_str(qdict_get_qdict(rsp, "return"),
                                       "status");

        g_free(last);
        last = g_strdup(st);
        qobject_unref(rsp);
        if (strcmp(last, "inmigrate")) {
            break;
        }
        g_usleep(10000);
    }
    if (!strcmp(last, "inmigrate")) {
        g_test_message("the destination is still loading the state after "
                       "%d polls", i);
    }
    g_assert_cmpstr(last, !=, "inmigrate");
    g_assert_cmpstr(last, !=, "shutdown");
}

/* Negotiated features and a pending APM_STS reply survive migration. */
static void test_apm_sts_migration(void)
{
    g_autofree char *tmp = g_dir_make_tmp("q35-smi-test-XXXXXX", NULL);
    g_autofree char *uri = g_strdup_printf("file:%s/state", tmp);
    g_autofree char *state = g_strdup_printf("%s/state", tmp);
    QTestState *src, *dst;

    src = qtest_init("-machine q35 " APM_STS_ON);
    apm_sts_request(src, F_BROADCAST | F_HOTPLUG);
    /* leave a query's reply pending: it differs from the stored 0x02 */
    g_assert_cmphex(apm_sts(src, 0x02), ==,
                    (F_BROADCAST | F_HOTPLUG | F_HOT_UNPLUG) << 2);
    migrate_to_file(src, uri);
    qtest_quit(src);

    dst = qtest_initf("-machine q35 " APM_STS_ON " -incoming %s", uri);
    wait_incoming(dst);
    g_assert_cmphex(negotiated_features(dst), ==, F_BROADCAST | F_HOTPLUG);
    /* the reply is still pending, and the lock still holds */
    g_assert_cmphex(qtest_inb(dst, APM_STS), ==,
                    (F_BROADCAST | F_HOTPLUG | F_HOT_UNPLUG) << 2);
    g_assert_cmphex(apm_sts_request(dst, F_BROADCAST), ==,
                    F_BROADCAST | F_HOTPLUG);
    qtest_quit(dst);
    unlink(state);
    rmdir(tmp);
}

/*
 * Broadcast and CPU hotplug negotiated without hot-unplug: device_del of a
 * CPU is refused with a message that says so.
 */
static void test_device_del_policy(void)
{
    QOSState *qs = qtest_pc_boot("-machine q35 -smp 1,maxcpus=2"
                                 " -global ICH9-LPC.x-smi-cpu-hotunplug=off");
    QFWCFG *fw_cfg = pc_fw_cfg_init(qs->qts);
    QDict *rsp;

    g_assert_cmpint(negotiate(qs, fw_cfg, F_BROADCAST | F_HOTPLUG), ==, 1);
    rsp = add_cpu(qs->qts);
    g_assert(!qdict_haskey(rsp, "error"));
    qobject_unref(rsp);
    /* what the DSDT's _INI does: switch the CPU hotplug block to modern */
    qtest_outb(qs->qts, 0xcd8, 0);
    rsp = qtest_qmp(qs->qts, "{'execute': 'device_del', 'arguments':"
                    " {'id': 'hcpu'}}");
    assert_qmp_error(rsp,
                     "cpu hot-unplug with SMI wasn't enabled by firmware: it "
                     "negotiated SMI features 0x3 (broadcast SMI, CPU hotplug "
                     "with SMI), without CPU hot-unplug with SMI (bit 2)");
    pc_fw_cfg_uninit(fw_cfg);
    qtest_shutdown(qs);
}

/* CPU hotplug register block (modern interface) */
#define CPHP_BASE       0xcd8
#define CPHP_SEL        (CPHP_BASE + 0)     /* write: selector */
#define CPHP_DATA2      (CPHP_BASE + 0)     /* read: command data 2 */
#define CPHP_STATUS     (CPHP_BASE + 4)     /* read: status, write: control */
#define CPHP_CMD        (CPHP_BASE + 5)
#define CPHP_DATA       (CPHP_BASE + 8)
#define CPHP_ST_ENABLED 0x01
#define CPHP_ST_INSERT  0x02
#define CPHP_ST_PARKED  0x20
#define CPHP_CTRL_INSERT_CLEAR 0x02
#define CPHP_CTRL_EJECT 0x08
#define CPHP_CTRL_UNPARK 0x20
#define CPHP_CMD_GET_ID 3
#define CPHP_CMD_SMBASE 4

/* A read-only property of the hot-added CPU @id */
static uint64_t cpu_prop(QTestState *qts, const char *id, const char *prop)
{
    g_autofree char *path = g_strdup_printf("/machine/peripheral/%s", id);
    QDict *rsp = qtest_qmp(qts, "{'execute': 'qom-get', 'arguments':"
                           " {'path': %s, 'property': %s}}", path, prop);
    uint64_t v = qdict_get_int(rsp, "return");

    qobject_unref(rsp);
    return v;
}

static uint64_t cpu_park_state(QTestState *qts, const char *id)
{
    return cpu_prop(qts, id, "x-hotplug-park");
}

static uint64_t cpu_hold_smbase(QTestState *qts, const char *id)
{
    return cpu_prop(qts, id, "x-hotplug-smbase");
}

static uint8_t status_of_cpu(QTestState *qts, uint32_t sel)
{
    qtest_outl(qts, CPHP_SEL, sel);
    return qtest_inb(qts, CPHP_STATUS);
}

/* Boot with parking offered, negotiate @features, hot-add CPU 1 if @add. */
static QOSState *parking_boot_add(uint64_t features, QFWCFG **fw_cfg_out,
                                  const char *extra, bool add)
{
    QOSState *qs = qtest_pc_boot("-machine q35 -smp 1,maxcpus=2 "
                                 PARKING_ON " %s", extra ? extra : "");
    QFWCFG *fw_cfg = pc_fw_cfg_init(qs->qts);
    QDict *rsp;

    g_assert_cmpint(negotiate(qs, fw_cfg, features), ==, 1);
    /* the switch to the modern interface, as the DSDT's _INI does */
    qtest_outb(qs->qts, CPHP_BASE, 0);
    /* device_add happens once the machine runs: it is a hotplug */
    if (add) {
        rsp = add_cpu(qs->qts);
        g_assert(!qdict_haskey(rsp, "error"));
        qobject_unref(rsp);
    }
    qtest_outl(qs->qts, CPHP_SEL, 1);
    *fw_cfg_out = fw_cfg;
    return qs;
}

static QOSState *parking_boot(uint64_t features, QFWCFG **fw_cfg_out,
                              const char *extra)
{
    return parking_boot_add(features, fw_cfg_out, extra, true);
}

/*
 * Parking negotiated: the hot-added CPU is parked and shows it, but not
 * as enabled (the OS's _STA must not see it); what does not come from SMM
 * (every qtest access) can neither read nor set its SMBASE nor unpark it,
 * in any width; reset leaves no CPU parked.
 */
static void test_parking_controls(void)
{
    QFWCFG *fw_cfg;
    QOSState *qs = parking_boot(F_BROADCAST | F_HOTPLUG | F_PARKING,
                                &fw_cfg, NULL);
    QTestState *qts = qs->qts;

    g_assert_cmpint(cpu_park_state(qts, "hcpu"), ==, 1);
    g_assert_cmphex(qtest_inb(qts, CPHP_STATUS) &
                    (CPHP_ST_ENABLED | CPHP_ST_PARKED), ==, CPHP_ST_PARKED);
    /* the boot CPU is enabled as always */
    g_assert_cmphex(status_of_cpu(qts, 0) & (CPHP_ST_ENABLED | CPHP_ST_PARKED),
                    ==, CPHP_ST_ENABLED);
    qtest_outl(qts, CPHP_SEL, 1);

    /* command 4 outside SMM: the data register reads 0, not the SMBASE */
    g_assert_cmphex(cpu_hold_smbase(qts, "hcpu"), ==, 0x30000);
    qtest_outb(qts, CPHP_CMD, CPHP_CMD_SMBASE);
    g_assert_cmphex(qtest_inl(qts, CPHP_DATA), ==, 0);
    g_assert_cmphex(qtest_inw(qts, CPHP_DATA), ==, 0);
    g_assert_cmphex(qtest_inb(qts, CPHP_DATA), ==, 0);
    /* non-SMM SMBASE writes of every width are ignored */
    qtest_outl(qts, CPHP_DATA, 0x7f000000);
    qtest_outw(qts, CPHP_DATA, 0x1000);
    qtest_outb(qts, CPHP_DATA, 0x10);
    g_assert_cmphex(cpu_hold_smbase(qts, "hcpu"), ==, 0x30000);
    g_assert_cmpint(cpu_park_state(qts, "hcpu"), ==, 1);
    /* a non-SMM unpark is ignored, alone or with other control bits */
    qtest_outb(qts, CPHP_STATUS, CPHP_CTRL_UNPARK);
    qtest_outb(qts, CPHP_STATUS, CPHP_CTRL_UNPARK | 0xc1);
    g_assert_cmphex(qtest_inb(qts, CPHP_STATUS) & CPHP_ST_PARKED, ==,
                    CPHP_ST_PARKED);
    g_assert_cmpint(cpu_park_state(qts, "hcpu"), ==, 1);
    /* the AML writes zeros to bits 5..7 (WriteAsZeros): a no-op */
    qtest_outb(qts, CPHP_STATUS, 0);
    g_assert_cmpint(cpu_park_state(qts, "hcpu"), ==, 1);
    /*
     * The OS cannot clear a parked CPU's insert event (the next scan needs
     * it); the write is dropped whole, an eject bit with it.
     */
    g_assert_cmphex(qtest_inb(qts, CPHP_STATUS) & CPHP_ST_INSERT, ==,
                    CPHP_ST_INSERT);
    qtest_outb(qts, CPHP_STATUS, CPHP_CTRL_INSERT_CLEAR);
    qtest_outb(qts, CPHP_STATUS, CPHP_CTRL_INSERT_CLEAR | CPHP_CTRL_EJECT);
    g_assert_cmphex(qtest_inb(qts, CPHP_STATUS) & CPHP_ST_INSERT, ==,
                    CPHP_ST_INSERT);
    g_assert_cmpint(cpu_park_state(qts, "hcpu"), ==, 1);
    /* only the chipset changes the hold: the CPU's property is read-only */
    assert_qmp_error(qtest_qmp(qts, "{'execute': 'qom-set', 'arguments':"
                               " {'path': '/machine/peripheral/hcpu',"
                               " 'property': 'x-hotplug-park', 'value': 0}}"),
                     "Property 'qemu64-x86_64-cpu.x-hotplug-park' is not "
                     "writable");
    g_assert_cmpint(cpu_park_state(qts, "hcpu"), ==, 1);

    /*
     * Write decode: a command of 5 or more is ignored and leaves command 4
     * latched (the data register still reads 0, not command 3's APIC ID);
     * any command written with an out-of-range selector is ignored.
     */
    qtest_outb(qts, CPHP_CMD, CPHP_CMD_GET_ID);
    g_assert_cmphex(qtest_inl(qts, CPHP_DATA), ==, 1);
    qtest_outb(qts, CPHP_CMD, CPHP_CMD_SMBASE);
    qtest_outb(qts, CPHP_CMD, 5);
    qtest_outb(qts, CPHP_CMD, 0xff);
    g_assert_cmphex(qtest_inl(qts, CPHP_DATA), ==, 0);
    qtest_outb(qts, CPHP_CMD, CPHP_CMD_GET_ID);
    qtest_outl(qts, CPHP_SEL, 2);
    qtest_outb(qts, CPHP_CMD, CPHP_CMD_SMBASE);
    qtest_outl(qts, CPHP_SEL, 1);
    g_assert_cmphex(qtest_inl(qts, CPHP_DATA), ==, 1);

    /* the detection rule: offset 0 reads 0 after command 0 */
    qtest_outb(qts, CPHP_CMD, 0);
    g_assert_cmphex(qtest_inl(qts, CPHP_DATA2), ==, 0);

    qtest_system_reset(qts);
    g_assert_cmpint(cpu_park_state(qts, "hcpu"), ==, 0);
    qtest_outb(qts, CPHP_BASE, 0);
    qtest_outl(qts, CPHP_SEL, 1);
    g_assert_cmphex(qtest_inb(qts, CPHP_STATUS) & CPHP_ST_PARKED, ==, 0);
    pc_fw_cfg_uninit(fw_cfg);
    qtest_shutdown(qs);
}

/* device_del of parked CPU hcpu succeeds and removes it at once */
static void assert_parked_cpu_removed(QTestState *qts)
{
    QDict *rsp = qtest_qmp(qts, "{'execute': 'device_del', 'arguments':"
                           " {'id': 'hcpu'}}");

    g_assert(!qdict_haskey(rsp, "error"));
    qobject_unref(rsp);
    rsp = qtest_qmp(qts, "{'execute': 'query-cpus-fast'}");
    g_assert_cmpint(qlist_size(qdict_get_qlist(rsp, "return")), ==, 1);
    qobject_unref(rsp);
}

/* device_del of a CPU that is still parked removes it at once. */
static void test_parking_unplug(void)
{
    QFWCFG *fw_cfg;
    QOSState *qs = parking_boot(F_BROADCAST | F_HOTPLUG | F_HOT_UNPLUG |
                                F_PARKING, &fw_cfg, NULL);
    QTestState *qts = qs->qts;
    QDict *rsp;

    g_assert_cmpint(cpu_park_state(qts, "hcpu"), ==, 1);
    assert_parked_cpu_removed(qts);
    /* no CPU and no pending insert event left in the hotplug block */
    g_assert_cmphex(status_of_cpu(qts, 1) & 0x03, ==, 0);
    /* the slot can be used again */
    rsp = add_cpu(qts);
    g_assert(!qdict_haskey(rsp, "error"));
    qobject_unref(rsp);
    g_assert_cmpint(cpu_park_state(qts, "hcpu"), ==, 1);
    pc_fw_cfg_uninit(fw_cfg);
    qtest_shutdown(qs);
}

/*
 * A parked CPU stays parked across migration: the destination gets the
 * CPU on its command line, as management does, and shows it parked, with
 * the default SMBASE still to start with.  A CPU
 * whose SMBASE was set (only from SMM, which qtest cannot do) migrates in
 * testfw's parking-migration case, which unparks and runs it on the
 * destination.
 */
static void test_parking_migration(void)
{
    g_autofree char *tmp = g_dir_make_tmp("q35-smi-test-XXXXXX", NULL);
    g_autofree char *uri = g_strdup_printf("file:%s/state", tmp);
    g_autofree char *state = g_strdup_printf("%s/state", tmp);
    QFWCFG *fw_cfg;
    QOSState *qs = parking_boot(F_BROADCAST | F_HOTPLUG | F_PARKING,
                                &fw_cfg, NULL);
    QTestState *dst;

    g_assert_cmpint(cpu_park_state(qs->qts, "hcpu"), ==, 1);
    migrate_to_file(qs->qts, uri);
    pc_fw_cfg_uninit(fw_cfg);
    qtest_shutdown(qs);

    dst = qtest_initf("-machine q35 -smp 1,maxcpus=2 " PARKING_ON
                      " -device qemu64-x86_64-cpu,id=hcpu,socket-id=0,"
                      "core-id=1,thread-id=0 -incoming %s", uri);
    wait_incoming(dst);
    g_assert_cmpint(cpu_park_state(dst, "hcpu"), ==, 1);
    g_assert_cmphex(negotiated_features(dst), ==,
                    F_BROADCAST | F_HOTPLUG | F_PARKING);
    g_assert_cmphex(status_of_cpu(dst, 1) & CPHP_ST_PARKED, ==,
                    CPHP_ST_PARKED);
    g_assert_cmphex(cpu_hold_smbase(dst, "hcpu"), ==, 0x30000);
    qtest_quit(dst);
    unlink(state);
    rmdir(tmp);
}

/*
 * Boot with parking offered and @features negotiated, hot-add a CPU if
 * @add, migrate to a file and load that into the QEMU named by the
 * environment variable @qemu_env, started with the CPU and
 * exit-on-error=false, so it stays up.  Returns the destination's final
 * migration status; *@desc gets its error-desc.
 */
static char *migrate_to(const char *qemu_env, uint64_t features, bool add,
                        char **desc)
{
    g_autofree char *tmp = g_dir_make_tmp("q35-smi-test-XXXXXX", NULL);
    g_autofree char *uri = g_strdup_printf("file:%s/state", tmp);
    g_autofree char *state = g_strdup_printf("%s/state", tmp);
    QFWCFG *fw_cfg;
    QOSState *qs = parking_boot_add(features, &fw_cfg, NULL, add);
    g_autofree char *args = NULL;
    QTestState *dst;
    char *status = NULL;
    QDict *rsp;
    int i;

    if (add) {
        g_assert_cmpint(cpu_park_state(qs->qts, "hcpu"), ==,
                        !!(features & F_PARKING));
    }
    migrate_to_file(qs->qts, uri);
    pc_fw_cfg_uninit(fw_cfg);
    qtest_shutdown(qs);

    args = g_strdup_printf("-machine q35 -smp 1,maxcpus=2%s -incoming defer",
                           add ? " -device qemu64-x86_64-cpu,id=hcpu,"
                           "socket-id=0,core-id=1,thread-id=0" : "");
    dst = qtest_init_with_env(qemu_env, args, true);
    qtest_qmp_assert_success(dst, "{'execute': 'migrate-incoming',"
                             " 'arguments': {'uri': %s,"
                             " 'exit-on-error': false}}", uri);
    for (i = 0; i < 3000 && !status; i++) {
        QDict *ret;
        const char *st;

        rsp = qtest_qmp(dst, "{'execute': 'query-migrate'}");
        ret = qdict_get_qdict(rsp, "return");
        st = qdict_get_try_str(ret, "status");
        if (st && (!strcmp(st, "failed") || !strcmp(st, "completed"))) {
            status = g_strdup(st);
            *desc = g_strdup(qdict_get_try_str(ret, "error-desc") ?: "");
        }
        qobject_unref(rsp);
        g_usleep(10000);
    }
    g_assert_nonnull(status);
    /* either way the destination has not started the guest */
    rsp = qtest_qmp(dst, "{'execute': 'query-status'}");
    g_assert_false(qdict_get_bool(qdict_get_qdict(rsp, "return"),
                                  "running"));
    qobject_unref(rsp);
    qtest_quit(dst);
    unlink(state);
    rmdir(tmp);
    return status;
}

/*
 * Migrate to the QEMU named by @env: a guest whose firmware negotiated
 * parking, with and without a parked CPU, must be refused; the same guest
 * with parking offered but not negotiated must migrate.
 */
static void assert_parking_migrations(const char *env)
{
    static const struct {
        const char *what;
        uint64_t features;
        bool add;
        const char *want;
    } cases[] = {
        { "parked CPU", F_BROADCAST | F_HOTPLUG | F_PARKING, true, "failed" },
        { "parking negotiated, no CPU", F_BROADCAST | F_HOTPLUG | F_PARKING,
          false, "failed" },
        { "not negotiated", F_BROADCAST | F_HOTPLUG, true, "completed" },
    };
    int i;

    for (i = 0; i < ARRAY_SIZE(cases); i++) {
        g_autofree char *desc = NULL;
        g_autofree char *status = migrate_to(env, cases[i].features,
                                             cases[i].add, &desc);

        g_test_message("%s: %s (%s)", cases[i].what, status, desc);
        g_assert_cmpstr(status, ==, cases[i].want);
        if (!strcmp(cases[i].want, "failed")) {
            g_assert_nonnull(strstr(desc, "load of migration failed"));
        }
    }
}

/*
 * A QEMU without parking (QTEST_QEMU_BINARY_NOPARK: Debian's build of the
 * same QEMU, without this series) knows neither the cpu/hotplug_hold nor
 * the ICH9LPC/smi_parking subsection, so loading fails.
 */
static void test_parking_migration_to_old(void)
{
    if (!getenv("QTEST_QEMU_BINARY_NOPARK")) {
        g_test_skip("QTEST_QEMU_BINARY_NOPARK (a QEMU without parking) "
                    "is not set");
        return;
    }
    assert_parking_migrations("QTEST_QEMU_BINARY_NOPARK");
}

/*
 * This QEMU started without x-smi-cpu-hotplug-parking does not offer what
 * was negotiated: the ICH9LPC/smi_feat post_load refuses it.
 */
static void test_parking_migration_not_offered(void)
{
    assert_parking_migrations("QTEST_QEMU_BINARY");
}

/* Parking offered but not negotiated: CPUs are not parked, command 4 is
 * an unknown command as before. */
static void test_parking_not_negotiated(void)
{
    QFWCFG *fw_cfg;
    QOSState *qs = parking_boot(F_BROADCAST | F_HOTPLUG, &fw_cfg, NULL);
    QTestState *qts = qs->qts;

    g_assert_cmpint(cpu_park_state(qts, "hcpu"), ==, 0);
    g_assert_cmphex(qtest_inb(qts, CPHP_STATUS) & CPHP_ST_PARKED, ==, 0);
    /* a CPU that is not parked: the OS clears its insert event as always */
    g_assert_cmphex(qtest_inb(qts, CPHP_STATUS) & CPHP_ST_INSERT, ==,
                    CPHP_ST_INSERT);
    qtest_outb(qts, CPHP_STATUS, CPHP_CTRL_INSERT_CLEAR);
    g_assert_cmphex(qtest_inb(qts, CPHP_STATUS) & CPHP_ST_INSERT, ==, 0);
    pc_fw_cfg_uninit(fw_cfg);
    qtest_shutdown(qs);

    /* without the property, command 4 is ignored: command 3 stays */
    qs = qtest_pc_boot("-machine q35 -smp 1,maxcpus=2");
    qts = qs->qts;
    qtest_outb(qts, CPHP_BASE, 0);
    qtest_outl(qts, CPHP_SEL, 0);
    qtest_outb(qts, CPHP_CMD, CPHP_CMD_GET_ID);
    qtest_outb(qts, CPHP_CMD, CPHP_CMD_SMBASE);
    g_assert_cmphex(qtest_inl(qts, CPHP_DATA), ==, 0);  /* APIC ID 0 */
    qtest_outl(qts, CPHP_SEL, 1);
    g_assert_cmphex(qtest_inl(qts, CPHP_DATA), ==, 1);  /* APIC ID 1 */
    qtest_shutdown(qs);
}

/*
 * Negotiate parking, hot-add a CPU: accepted and parked; then shut the
 * machine down.
 */
static void negotiate_parking_add(QOSState *qs, QFWCFG *fw_cfg)
{
    QDict *rsp;

    g_assert_cmpint(negotiate(qs, fw_cfg, F_BROADCAST | F_HOTPLUG | F_PARKING),
                    ==, 1);
    rsp = add_cpu(qs->qts);
    g_assert(!qdict_haskey(rsp, "error"));
    qobject_unref(rsp);
    g_assert_cmpint(cpu_park_state(qs->qts, "hcpu"), ==, 1);
    pc_fw_cfg_uninit(fw_cfg);
    qtest_shutdown(qs);
}

/* x-smi-require-parking: CPU hotplug needs the firmware to negotiate it. */
static void test_parking_required(void)
{
    QOSState *qs = qtest_pc_boot("-machine q35 -smp 1,maxcpus=2 " PARKING_ON
                                 " -global ICH9-LPC.x-smi-require-parking=on");
    QFWCFG *fw_cfg = pc_fw_cfg_init(qs->qts);
    QDict *rsp;

    g_assert_cmpint(negotiate(qs, fw_cfg, F_BROADCAST | F_HOTPLUG), ==, 1);
    rsp = add_cpu(qs->qts);
    assert_qmp_error(rsp,
                     "cpu hotplug refused: parking is required "
                     "(x-smi-require-parking=on) but the firmware negotiated "
                     "SMI features 0x3 (broadcast SMI, CPU hotplug with SMI), "
                     "without CPU hotplug with parking (bit 3)");
    qtest_system_reset(qs->qts);
    negotiate_parking_add(qs, fw_cfg);
}

/*
 * The machine type pc-q35-10.0-smm-hotplug turns parking on through
 * the stable property cpu-hotplug-parking=auto: offered and required with
 * SMM, nothing without.  cpu-hotplug-parking=on needs SMM.
 */
static void test_parking_machine_type(void)
{
    QOSState *qs = qtest_pc_boot("-machine " MT_SMMHP " -smp 1,maxcpus=2");
    QFWCFG *fw_cfg = pc_fw_cfg_init(qs->qts);
    QDict *rsp;

    rsp = add_cpu(qs->qts);
    assert_qmp_error(rsp,
                     "cpu hotplug refused: parking is required "
                     "(cpu-hotplug-parking) but the firmware negotiated "
                     "SMI features 0x0 (none), "
                     "without CPU hotplug with parking (bit 3)");
    negotiate_parking_add(qs, fw_cfg);

    /* no SMM, nothing could unpark: parking neither offered nor required */
    qs = qtest_pc_boot("-machine " MT_SMMHP ",smm=off -smp 1,maxcpus=2");
    rsp = add_cpu(qs->qts);
    g_assert(!qdict_haskey(rsp, "error"));
    qobject_unref(rsp);
    g_assert_cmpint(cpu_park_state(qs->qts, "hcpu"), ==, 0);
    qtest_shutdown(qs);

    assert_start_refused("q35,smm=off", "ICH9-LPC.cpu-hotplug-parking=on",
                         "CPU hotplug with parking needs SMM",
                         "ICH9-LPC.cpu-hotplug-parking=off");
}

static QDict *add_cpu_core(QTestState *qts, const char *id, int core)
{
    return qtest_qmp(qts, "{'execute': 'device_add', 'arguments':"
                     " {'driver': 'qemu64-x86_64-cpu', 'id': %s,"
                     " 'socket-id': 0, 'core-id': %d, 'thread-id': 0}}",
                     id, core);
}

static const char *run_status(QTestState *qts)
{
    static char buf[32];
    QDict *rsp = qtest_qmp(qts, "{'execute': 'query-status'}");

    g_strlcpy(buf, qdict_get_str(qdict_get_qdict(rsp, "return"), "status"),
              sizeof(buf));
    qobject_unref(rsp);
    return buf;
}

/*
 * Management starts a domain paused (-S) and adds its hotpluggable vCPUs
 * with device_add before cont: such a CPU is a cold CPU to the firmware
 * (it counts and relocates it at boot), so x-smi-require-parking accepts
 * it although nothing is negotiated yet, and it is not parked.  Once the
 * guest runs, the policy applies again.
 */
static void test_parking_prelaunch(void)
{
    QTestState *qts = qtest_init("-machine q35 -smp 1,maxcpus=3 -S "
                                 PARKING_ON
                                 " -global ICH9-LPC.x-smi-require-parking=on");
    QDict *rsp;

    g_assert_cmpstr(run_status(qts), ==, "prelaunch");
    rsp = add_cpu_core(qts, "hcpu", 1);
    g_assert(!qdict_haskey(rsp, "error"));
    qobject_unref(rsp);
    g_assert_cmpint(cpu_park_state(qts, "hcpu"), ==, 0);
    qtest_qmp_assert_success(qts, "{'execute': 'cont'}");
    g_assert_cmpstr(run_status(qts), ==, "running");
    rsp = add_cpu_core(qts, "hcpu2", 2);
    assert_qmp_error(rsp,
                     "cpu hotplug refused: parking is required "
                     "(x-smi-require-parking=on) but the firmware negotiated "
                     "SMI features 0x0 (none), without CPU hotplug with "
                     "parking (bit 3)");
    qtest_quit(qts);
}

#define GPE0_STS        (PMBASE + 0x20)
#define GPE0_CPU_HOTPLUG 0x04           /* _E02 */

/*
 * Legacy CPU hotplug mode (before the OS's _INI switches to the modern
 * interface) cannot unpark: a CPU hot-added parked there is neither in
 * the legacy bitmap nor announced by a GPE.  The switch to the modern
 * interface gives it its insert event and raises the GPE, so the OS's
 * scan has the firmware unpark it; and device_del removes it in legacy
 * mode as in modern mode.
 */
static void test_parking_legacy_mode(void)
{
    QOSState *qs = qtest_pc_boot("-machine q35 -smp 1,maxcpus=2 " PARKING_ON);
    QFWCFG *fw_cfg = pc_fw_cfg_init(qs->qts);
    QTestState *qts = qs->qts;
    QDict *rsp;

    pm_io_enable(qts);
    g_assert_cmpint(negotiate(qs, fw_cfg, F_BROADCAST | F_HOTPLUG | F_PARKING),
                    ==, 1);
    /* legacy bitmap: CPU 0 present */
    g_assert_cmphex(qtest_inb(qts, CPHP_BASE), ==, 0x01);
    rsp = add_cpu(qts);
    g_assert(!qdict_haskey(rsp, "error"));
    qobject_unref(rsp);
    g_assert_cmpint(cpu_park_state(qts, "hcpu"), ==, 1);
    g_assert_cmphex(qtest_inb(qts, CPHP_BASE), ==, 0x01);
    g_assert_cmphex(qtest_inb(qts, GPE0_STS) & GPE0_CPU_HOTPLUG, ==, 0);

    /* the switch: insert event, GPE, and still parked and hidden */
    qtest_outb(qts, CPHP_BASE, 0);
    g_assert_cmphex(qtest_inb(qts, GPE0_STS) & GPE0_CPU_HOTPLUG, ==,
                    GPE0_CPU_HOTPLUG);
    g_assert_cmphex(status_of_cpu(qts, 1) & (CPHP_ST_PARKED | 0x03), ==,
                    CPHP_ST_PARKED | 0x02);
    g_assert_cmpint(cpu_park_state(qts, "hcpu"), ==, 1);
    pc_fw_cfg_uninit(fw_cfg);
    qtest_shutdown(qs);

    /* device_del in legacy mode */
    qs = qtest_pc_boot("-machine q35 -smp 1,maxcpus=2 " PARKING_ON);
    qts = qs->qts;
    fw_cfg = pc_fw_cfg_init(qts);
    g_assert_cmpint(negotiate(qs, fw_cfg, F_BROADCAST | F_HOTPLUG | F_PARKING),
                    ==, 1);
    rsp = add_cpu(qts);
    g_assert(!qdict_haskey(rsp, "error"));
    qobject_unref(rsp);
    assert_parked_cpu_removed(qts);
    /* and the slot takes a CPU again */
    rsp = add_cpu(qts);
    g_assert(!qdict_haskey(rsp, "error"));
    qobject_unref(rsp);
    pc_fw_cfg_uninit(fw_cfg);
    qtest_shutdown(qs);
}

static void wait_status(QTestState *qts, const char *want)
{
    int i;

    for (i = 0; i < 3000 && strcmp(run_status(qts), want); i++) {
        g_usleep(10000);
    }
    g_assert_cmpstr(run_status(qts), ==, want);
}

/*
 * S3: the wakeup resets the CPUs, but a CPU still parked at suspend (or
 * hot-added while suspended) stays parked, with the SMBASE it was given;
 * it is not a cold CPU the firmware's resume path would know.  A system
 * reset clears every hold (test_parking_controls).
 */
static void test_parking_s3(void)
{
    QFWCFG *fw_cfg;
    QOSState *qs = parking_boot(F_BROADCAST | F_HOTPLUG | F_PARKING,
                                &fw_cfg, NULL);
    QTestState *qts = qs->qts;
    QDict *rsp;

    pm_io_enable(qts);
    g_assert_cmpint(cpu_park_state(qts, "hcpu"), ==, 1);
    /* PM1_CNT: SLP_TYP 1 (S3 on q35), SLP_EN */
    qtest_outw(qts, PM1_CNT, 1 << 10 | 1 << 13);
    wait_status(qts, "suspended");
    qtest_qmp_assert_success(qts, "{'execute': 'system_wakeup'}");
    wait_status(qts, "running");
    g_assert_cmpint(cpu_park_state(qts, "hcpu"), ==, 1);
    g_assert_cmphex(cpu_hold_smbase(qts, "hcpu"), ==, 0x30000);
    /* the wakeup reset the negotiation: the firmware's resume redoes it */
    g_assert_cmphex(negotiated_features(qts), ==, 0);
    /* meanwhile the resume path must not count or start the parked CPU */
    g_assert_cmphex(status_of_cpu(qts, 1) & (CPHP_ST_ENABLED | CPHP_ST_PARKED),
                    ==, CPHP_ST_PARKED);
    g_assert_cmpint(negotiate(qs, fw_cfg, F_BROADCAST | F_HOTPLUG | F_PARKING),
                    ==, 1);
    g_assert_cmphex(status_of_cpu(qts, 1) & (CPHP_ST_ENABLED | CPHP_ST_PARKED),
                    ==, CPHP_ST_PARKED);

    /* hot-added while suspended: parked as well (the wakeup reset PMBASE) */
    pm_io_enable(qts);
    qtest_outw(qts, PM1_CNT, 1 << 10 | 1 << 13);
    wait_status(qts, "suspended");
    qtest_qmp_assert_success(qts, "{'execute': 'device_del', 'arguments':"
                             " {'id': 'hcpu'}}");
    rsp = add_cpu(qts);
    g_assert(!qdict_haskey(rsp, "error"));
    qobject_unref(rsp);
    g_assert_cmpint(cpu_park_state(qts, "hcpu"), ==, 1);
    qtest_qmp_assert_success(qts, "{'execute': 'system_wakeup'}");
    wait_status(qts, "running");
    g_assert_cmpint(cpu_park_state(qts, "hcpu"), ==, 1);
    /* its GPE, lost with the chipset state, is raised again */
    pm_io_enable(qts);
    g_assert_cmphex(qtest_inb(qts, GPE0_STS) & GPE0_CPU_HOTPLUG, ==,
                    GPE0_CPU_HOTPLUG);
    pc_fw_cfg_uninit(fw_cfg);
    qtest_shutdown(qs);
}

/*
 * Parking offered on a machine without SMM: no SMI handler could ever
 * unpark a CPU, so QEMU refuses to start and says what to change.  (With
 * KVM on a host without SMM support this is the error users get.)
 */
static void test_parking_needs_smm(void)
{
    assert_start_refused("q35,smm=off",
                         "ICH9-LPC.x-smi-cpu-hotplug-parking=on",
                         "CPU hotplug with parking needs SMM",
                         "Use -machine smm=on");
}

/*
 * x-smi-parking-fault (testing only) needs parking offered and is 0..2;
 * with 1, a hot-added CPU is parked but the block shows it enabled and not
 * parked, as a QEMU that does not park would.
 */
static void test_parking_fault(void)
{
    QFWCFG *fw_cfg;
    QOSState *qs;

    assert_start_refused("q35,smm=on", "ICH9-LPC.x-smi-parking-fault=1",
                         "x-smi-parking-fault must be 0, or 1 or 2 with "
                         "x-smi-cpu-hotplug-parking=on", NULL);
    qs = parking_boot(F_BROADCAST | F_HOTPLUG | F_PARKING, &fw_cfg,
                      "-global ICH9-LPC.x-smi-parking-fault=1");
    g_assert_cmpint(cpu_park_state(qs->qts, "hcpu"), ==, 1);
    g_assert_cmphex(status_of_cpu(qs->qts, 1) &
                    (CPHP_ST_ENABLED | CPHP_ST_PARKED), ==, CPHP_ST_ENABLED);
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
    qtest_add_func("/q35/smi/device-del-policy", test_device_del_policy);
    qtest_add_func("/q35/smi/parking-not-offered", test_parking_not_offered);
    qtest_add_func("/q35/smi/parking/controls", test_parking_controls);
    qtest_add_func("/q35/smi/parking/needs-smm", test_parking_needs_smm);
    qtest_add_func("/q35/smi/parking/fault", test_parking_fault);
    qtest_add_func("/q35/smi/parking/unplug", test_parking_unplug);
    qtest_add_func("/q35/smi/parking/migration", test_parking_migration);
    qtest_add_func("/q35/smi/parking/migration-to-old",
                   test_parking_migration_to_old);
    qtest_add_func("/q35/smi/parking/not-negotiated",
                   test_parking_not_negotiated);
    qtest_add_func("/q35/smi/parking/required", test_parking_required);
    qtest_add_func("/q35/smi/parking/machine-type",
                   test_parking_machine_type);
    qtest_add_func("/q35/smi/parking/prelaunch", test_parking_prelaunch);
    qtest_add_func("/q35/smi/parking/legacy-mode", test_parking_legacy_mode);
    qtest_add_func("/q35/smi/parking/s3", test_parking_s3);
    qtest_add_func("/q35/smi/parking/migration-not-offered",
                   test_parking_migration_not_offered);
    qtest_add_func("/q35/smi/apm_sts/absent", test_apm_sts_absent);
    qtest_add_func("/q35/smi/apm_sts/probe", test_apm_sts_probe);
    qtest_add_func("/q35/smi/apm_sts/combinations",
                   test_apm_sts_combinations);
    qtest_add_func("/q35/smi/apm_sts/shared-lock", test_apm_sts_shared_lock);
    qtest_add_func("/q35/smi/apm_sts/firmware-writes",
                   test_apm_sts_firmware_writes);
    qtest_add_func("/q35/smi/apm_sts/migration", test_apm_sts_migration);

    qtest_add_func("/q35/smi/apmc-without-cpu", test_apmc_without_cpu);
    qtest_add_func("/q35/smi/apmc-disabled", test_apmc_disabled);
    qtest_add_func("/q35/smi/acpi-enable-disable", test_acpi_enable_disable);
    qtest_add_func("/q35/smi/apm-reset", test_apm_reset);
    return g_test_run();
}

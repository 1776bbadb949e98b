/*
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * qtest for the ICH9 SMI paths that need no firmware: APM_CNT (0xb2)
 * writes with APMC_EN clear and set, and the ACPI enable/disable commands.
 */

#include "qemu/osdep.h"
#include "libqtest.h"

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

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);

    qtest_add_func("/q35/smi/apmc-without-cpu", test_apmc_without_cpu);
    qtest_add_func("/q35/smi/apmc-disabled", test_apmc_disabled);
    qtest_add_func("/q35/smi/acpi-enable-disable", test_acpi_enable_disable);
    return g_test_run();
}

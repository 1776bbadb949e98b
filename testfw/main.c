/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Test firmware entry: reads the case name from fw_cfg "opt/testfw/case",
 * runs it, prints one "TESTFW: PASS|FAIL check" line per check and exits
 * through isa-debug-exit.  Every wait is bounded by the ACPI PM timer.
 */
#include "testfw.h"
#include "cases.h"

static const struct {
    const char *name;
    void (*run)(void);
} cases[] = {
    { "init-held-in-smm", case_init_held_in_smm },
    { "smi-pending-in-wait-for-sipi", case_smi_pending_in_wait_for_sipi },
    { "parking", case_parking },
    { "parking-two-cpus", case_parking_two_cpus },
    { "bench-parking-smi", case_bench_parking_smi },
    { "renegotiation", case_renegotiation },
    { "no-smi", case_no_smi },
    { "parked-churn", case_parked_churn },
    { "parking-migration", case_parking_migration },
    { "hold-io-during-release", case_hold_io_during_release },
    { "hold-tsc", case_hold_tsc },
    { "parking-decode", case_parking_decode },
    { "parking-racing-selector", case_parking_racing_selector },
    { "hold-device-interrupts", case_hold_device_interrupts },
    { "parking-smi-waits-for-sipi", case_parking_smi_waits_for_sipi },
    { "parking-feature-control", case_parking_feature_control },
};

void main(void)
{
    char name[64];
    int n = fw_cfg_read_file("opt/testfw/case", name, sizeof(name) - 1);
    unsigned i;

    acpi_init();
    if (n < 0) {
        check("case-selected", false, "no fw_cfg file opt/testfw/case");
        finish();
    }
    name[n] = 0;
    con_printf("TESTFW: CASE %s\n", name);
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        if (!strcmp(cases[i].name, name)) {
            cases[i].run();
            finish();
        }
    }
    check("case-selected", false, "unknown case '%s'", name);
    finish();
}

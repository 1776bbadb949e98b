/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef TESTFW_CASES_H
#define TESTFW_CASES_H

/* smm_common.c */
extern const char smm_handler_start[], smm_handler_end[];
extern const char tramp_start[], tramp_end[];
extern const char stray_start[], stray_end[];
extern const char os_tramp_start[], os_tramp_end[], stray32[];
extern const char job_tramp_start[], job_tramp_end[];
void smm_setup(void);

/* tcg_smm.c: TCG SMM semantics (INIT latch, SMI in wait-for-SIPI) */
void case_init_held_in_smm(void);
void case_smi_pending_in_wait_for_sipi(void);

/* parking.c: CPU hotplug with parking, hostile OS and firmware */
void case_parking(void);
void case_parking_two_cpus(void);
void case_bench_parking_smi(void);
void case_renegotiation(void);
void case_no_smi(void);
void case_parked_churn(void);
void case_parking_migration(void);
void case_hold_io_during_release(void);
void case_hold_tsc(void);
void case_parking_decode(void);
void case_parking_racing_selector(void);
void case_hold_device_interrupts(void);
void case_parking_smi_waits_for_sipi(void);
void case_parking_feature_control(void);

#endif

/*
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * SMI feature negotiation for q35 (ICH9): one negotiated state, two front
 * ends (the etc/smi fw_cfg files and APM_STS, I/O port 0xb3), and the CPU
 * hotplug policy that depends on the result.
 * Protocol: docs/specs/q35-apm-sts.rst.
 */

#ifndef HW_ACPI_CPU_HOTPLUG_SMM_H
#define HW_ACPI_CPU_HOTPLUG_SMM_H

#include "hw/nvram/fw_cfg.h"
#include "hw/acpi/cpu.h"
#include "exec/memattrs.h"
#include "hw/acpi/aml-build.h"
#include "qemu/notify.h"
#include "qapi/qapi-types-common.h"

/* feature bits, the same in both front ends */
#define ICH9_LPC_SMI_F_BROADCAST_BIT            0
#define ICH9_LPC_SMI_F_CPU_HOTPLUG_BIT          1
#define ICH9_LPC_SMI_F_CPU_HOT_UNPLUG_BIT       2
#define ICH9_LPC_SMI_F_CPU_HOTPLUG_PARKING_BIT  3

/* APM_STS (0xb3) layout of the negotiation front end */
#define SMI_APM_STS_TRANSPARENT     0x01    /* scratch bit, never interpreted */
#define SMI_APM_STS_QUERY           0x02    /* request: query; reply: clear */
#define SMI_APM_STS_FEATURE_SHIFT   2       /* bits 2..7 = feature bits 0..5 */
#define SMI_APM_STS_FEATURE_MASK    0xfc

typedef struct SmiNegotiation {
    /* from properties; not guest-visible, not migrated */
    uint64_t host_features;
    /*
     * cpu-hotplug-parking: on = offer and require bit 3; auto = the same
     * when SMM is enabled, nothing otherwise; off = the x-smi-* bits alone
     */
    OnOffAuto parking;
    bool apm_sts_enabled;           /* APM_STS front end on */
    bool require_parking;           /* refuse CPU hotplug without bit 3 */
    uint8_t parking_fault;          /* testing only: SMI_PARKING_FAULT_* */

    /* fw_cfg front end: the contents of the etc/smi files */
    uint8_t host_features_le[8];    /* supported-features, read-only */
    uint8_t guest_features_le[8];   /* requested-features, read-write */
    uint8_t features_ok;            /* features-ok: 1 = negotiated, locked */

    uint64_t negotiated;            /* valid when features_ok == 1 */

    /* APM_STS front end: reply to the last query or request, if any */
    bool apm_sts_replying;
    uint8_t apm_sts_reply;

    /* the CPU hotplug block whose parking controls a negotiation turns on */
    CPUHotplugState *cpuhp;
    DeviceState *acpi_dev;          /* raises its CPU hotplug GPE */
    Notifier wakeup;                /* S3 wakeup: announce parked CPUs */
} SmiNegotiation;

/*
 * x-smi-parking-fault, for testing the firmware's error paths only: with
 * parking negotiated, hot-added CPUs are parked but the block does not
 * show the parking controls (NO_CONTROLS: the firmware sees an enabled CPU
 * that is not parked), or SMBASE writes are refused (NO_SMBASE: the CPU
 * stays parked).  Never use it otherwise.
 */
#define SMI_PARKING_FAULT_NONE          0
#define SMI_PARKING_FAULT_NO_CONTROLS   1
#define SMI_PARKING_FAULT_NO_SMBASE     2

/*
 * Link the negotiation to the CPU hotplug block @cpuhp of the ACPI device
 * @acpi_dev; call from realize.
 */
void smi_negotiation_link(SmiNegotiation *s, CPUHotplugState *cpuhp,
                          DeviceState *acpi_dev);

/* Check the host configuration; call from realize. */
bool smi_negotiation_check_host(SmiNegotiation *s, bool smm_enabled,
                                Error **errp);
/* Create the etc/smi fw_cfg files (when any feature is offered). */
void smi_negotiation_fw_cfg_init(SmiNegotiation *s, FWCfgState *fw_cfg);
void smi_negotiation_reset(SmiNegotiation *s);
/* Check a migrated negotiation against what this QEMU offers. */
int smi_negotiation_post_load(SmiNegotiation *s);

/*
 * APM_STS front end, as hw/isa/apm.h hooks (@opaque is the SmiNegotiation);
 * @stored is the byte last written to the port.
 */
void smi_negotiation_apm_sts_write(uint8_t val, void *opaque);
uint8_t smi_negotiation_apm_sts_read(uint8_t stored, void *opaque);

static inline bool smi_negotiated(const SmiNegotiation *s, int bit)
{
    return s->negotiated & BIT_ULL(bit);
}

/* CPU hotplug policy; false with @errp set when the operation is refused */
bool smi_negotiation_cpu_plug_allowed(SmiNegotiation *s, DeviceState *dev,
                                      Error **errp);
bool smi_negotiation_cpu_unplug_allowed(SmiNegotiation *s, Error **errp);

extern const VMStateDescription vmstate_smi_negotiation_apm_sts;

/*
 * CPU hotplug with parking, in the CPU hotplug register block
 * (docs/specs/acpi_cpu_hotplug.rst), while parking is negotiated:
 *   accesses from SMM use SMM's own selector and command, which no other
 *     access changes
 *   status (offset 4, read) bit 5: the selected CPU is parked; outside
 *     SMM a parked CPU also reads as not enabled (bit 0 clear)
 *   command 4: in SMM the data register (offset 8) reads the selected
 *     parked CPU's SMBASE and a 4-byte write sets it; 0 outside SMM
 *   control (offset 4, write) bit 5 with bits 1-4 clear: unpark the
 *     selected CPU (SMM only, and only once its SMBASE was set)
 *   control bit 1 (clear the insert event) is ignored outside SMM while
 *     the selected CPU is parked
 */
#define CPHP_SMM_FLAGS_OFFSET       4       /* status (read), control */
#define CPHP_SMM_CMD_OFFSET         5
#define CPHP_SMM_DATA_OFFSET        8
#define CPHP_SMM_STATUS_ENABLED     0x01
#define CPHP_SMM_STATUS_PARKED      0x20
#define CPHP_SMM_STATUS_WAITS_SIPI  0x40    /* SMM only: SMI waits for SIPI */
#define CPHP_SMM_CTRL_UNPARK        0x20
#define CPHP_SMM_CTRL_INSERT_CLEAR  0x02    /* the block's own: clear insert */
#define CPHP_SMM_CTRL_OTHERS        0x1e    /* the block's own controls */
#define CPHP_SMM_SMBASE_CMD         4

/* Park @dev if it is hot-added and the firmware negotiated parking. */
void cpu_hotplug_smm_plug(SmiNegotiation *s, DeviceState *dev);
bool cpu_hotplug_smm_is_parked(CPUState *cpu);
/* device_del of a parked CPU: it never ran, remove it without asking */
void cpu_hotplug_smm_unplug_parked(CPUHotplugState *st, DeviceState *dev,
                                   Error **errp);
/*
 * The register block, while CPUHotplugState.smm_controls is set: @rd and
 * @wr are the block's own handlers, called with SMM's selector and command
 * in place for an access from SMM.
 */
typedef uint64_t CPUHotplugReadFn(void *opaque, hwaddr addr, unsigned size);
typedef void CPUHotplugWriteFn(void *opaque, hwaddr addr, uint64_t data,
                               unsigned size);
uint64_t cpu_hotplug_smm_read(CPUHotplugState *st, hwaddr addr, unsigned size,
                              MemTxAttrs attrs, CPUHotplugReadFn *rd);
void cpu_hotplug_smm_write(CPUHotplugState *st, hwaddr addr, uint64_t data,
                           unsigned size, MemTxAttrs attrs,
                           CPUHotplugWriteFn *wr);
/*
 * The OS switched to the modern interface: give each CPU hot-added
 * parked in legacy mode its insert event.  True if there is one, the
 * caller then raises the CPU hotplug GPE.
 */
bool cpu_hotplug_smm_insert_parked(CPUHotplugState *st);
/*
 * AML, in the CPU scan's notify loop, for CPU @uid after the hotplug SMI:
 * notify the OS unless the CPU is still parked; if it is, raise the
 * hotplug SMI (APM_CNT through @smi_path) once more, and if it is parked
 * after that too, report an insertion failure through _OST
 * (ACPI_DEVICE_OST) instead.
 */
void cpu_hotplug_smm_build_notify(Aml *ctx, Aml *uid, const char *res_path,
                                  const char *smi_path, Aml *dev_chk);

#endif

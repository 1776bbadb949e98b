/*
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * SMI feature negotiation for q35 (ICH9), see cpu_hotplug_smm.h and
 * docs/specs/q35-apm-sts.rst.
 *
 * Both front ends end in smi_negotiation_request(): the same validation,
 * the same lock until reset, the same result.
 */

#include "qemu/osdep.h"
#include "qemu/bswap.h"
#include "qapi/error.h"
#include "migration/vmstate.h"
#include "qom/object.h"
#include "hw/core/cpu.h"
#include "hw/core/cpu-hold.h"
#include "hw/hotplug.h"
#include "hw/qdev-core.h"
#include "qemu/error-report.h"
#include "system/runstate.h"
#include "hw/acpi/acpi_dev_interface.h"
#include "hw/acpi/cpu_hotplug_smm.h"
#include "trace.h"

#define F(bit) BIT_ULL(ICH9_LPC_SMI_F_##bit##_BIT)

static const char *feature_names[] = {
    [ICH9_LPC_SMI_F_BROADCAST_BIT] = "broadcast SMI",
    [ICH9_LPC_SMI_F_CPU_HOTPLUG_BIT] = "CPU hotplug with SMI",
    [ICH9_LPC_SMI_F_CPU_HOT_UNPLUG_BIT] = "CPU hot-unplug with SMI",
    [ICH9_LPC_SMI_F_CPU_HOTPLUG_PARKING_BIT] = "CPU hotplug with parking",
};

/* "0x3 (broadcast SMI, CPU hotplug with SMI)" */
static char *describe(uint64_t features)
{
    GString *s = g_string_new(NULL);
    const char *sep = "";
    int bit;

    g_string_printf(s, "0x%" PRIx64 " (", features);
    for (bit = 0; bit < 64; bit++) {
        if (features & BIT_ULL(bit)) {
            g_string_append(s, sep);
            if (bit < ARRAY_SIZE(feature_names) && feature_names[bit]) {
                g_string_append(s, feature_names[bit]);
            } else {
                g_string_append_printf(s, "unknown bit %d", bit);
            }
            sep = ", ";
        }
    }
    g_string_append(s, *sep ? ")" : "none)");
    return g_string_free(s, false);
}

static bool any_cpu_parked(void)
{
    CPUState *cpu;

    CPU_FOREACH(cpu) {
        if (cpu_hotplug_smm_is_parked(cpu)) {
            return true;
        }
    }
    return false;
}

/*
 * The CPU hotplug block's parking controls are on while parking is
 * negotiated, and while a CPU is still parked: an S3 wakeup resets the
 * negotiation (the firmware's resume path negotiates again, late) but
 * keeps CPUs parked, and the firmware must not count or start them
 * meanwhile.
 */
static void update_controls(SmiNegotiation *s)
{
    bool on = smi_negotiated(s, ICH9_LPC_SMI_F_CPU_HOTPLUG_PARKING_BIT) ||
              any_cpu_parked();

    if (s->cpuhp) {
        s->cpuhp->smm_controls =
            on && s->parking_fault != SMI_PARKING_FAULT_NO_CONTROLS ? s : NULL;
    }
}

/*
 * "Parked" in the guest-visible protocol is the CPU hotplug hold of the
 * CPU core (hw/core/cpu-hold.h), until the release has completed: after
 * the unpark control the CPU still reads as parked until its own thread
 * has dropped what it latched and installed its SMBASE.  The firmware
 * waits for that before it lets the OS know about the CPU.
 */
bool cpu_hotplug_smm_is_parked(CPUState *cpu)
{
    return cpu_hold_state(cpu) != CPU_HOLD_NONE;
}

/* the CPU of a slot of the CPU hotplug block is there and parked */
static bool cdev_parked(AcpiCpuStatus *cdev)
{
    return cdev->cpu && cpu_hotplug_smm_is_parked(cdev->cpu);
}

/*
 * After an S3 wakeup: a CPU added while the guest was suspended is still
 * parked with its insert event pending, but the GPE that announced it
 * was lost with the chipset state.  Raise it again, so that the OS scans
 * and the firmware unparks the CPU.
 */
static void smi_negotiation_wakeup(Notifier *n, void *data)
{
    SmiNegotiation *s = container_of(n, SmiNegotiation, wakeup);
    CPUHotplugState *st = s->cpuhp;
    uint32_t i;

    for (i = 0; st && i < st->dev_count; i++) {
        if (st->devs[i].is_inserting && cdev_parked(&st->devs[i])) {
            trace_cpu_hotplug_smm_wakeup_announce(i);
            acpi_send_event(s->acpi_dev, ACPI_CPU_HOTPLUG_STATUS);
            return;
        }
    }
}

void smi_negotiation_link(SmiNegotiation *s, CPUHotplugState *cpuhp,
                          DeviceState *acpi_dev)
{
    s->cpuhp = cpuhp;
    s->acpi_dev = acpi_dev;
    s->wakeup.notify = smi_negotiation_wakeup;
    qemu_register_wakeup_notifier(&s->wakeup);
}

/* Why @req cannot be negotiated, or NULL when it can. */
static const char *request_error(const SmiNegotiation *s, uint64_t req)
{
    if (req & ~s->host_features) {
        return "requests features that are not offered";
    }
    if ((req & (F(CPU_HOTPLUG) | F(CPU_HOT_UNPLUG) | F(CPU_HOTPLUG_PARKING))) &&
        !(req & F(BROADCAST))) {
        return "CPU hot(un)plug with SMI requires broadcast SMI";
    }
    if ((req & F(CPU_HOT_UNPLUG)) && !(req & F(CPU_HOTPLUG))) {
        return "CPU hot-unplug with SMI requires CPU hotplug with SMI";
    }
    if ((req & F(CPU_HOTPLUG_PARKING)) && !(req & F(CPU_HOTPLUG))) {
        return "CPU hotplug with parking requires CPU hotplug with SMI";
    }
    return NULL;
}

/*
 * The one place where a negotiation happens.  A rejected request leaves
 * nothing negotiated and nothing locked; an accepted one is locked until
 * reset, whichever front end it came through.
 */
static bool smi_negotiation_request(SmiNegotiation *s, uint64_t req,
                                    const char *frontend)
{
    const char *err;

    if (s->features_ok) {
        trace_smi_negotiation_locked(frontend, req, s->negotiated);
        return req == s->negotiated;
    }
    err = request_error(s, req);
    if (err) {
        trace_smi_negotiation_rejected(frontend, req, s->host_features, err);
        return false;
    }
    s->negotiated = req;
    s->features_ok = 1;
    /* make the result visible through fw_cfg too */
    stq_le_p(s->guest_features_le, req);
    update_controls(s);
    trace_smi_negotiation_accepted(frontend, req);
    return true;
}

bool smi_negotiation_check_host(SmiNegotiation *s, bool smm_enabled,
                                Error **errp)
{
    uint64_t parking_needs = F(BROADCAST) | F(CPU_HOTPLUG);
    uint64_t f;
    bool mode_on = s->parking == ON_OFF_AUTO_ON;
    const char *off = mode_on ? "cpu-hotplug-parking=off"
                              : "x-smi-cpu-hotplug-parking=off";

    /*
     * cpu-hotplug-parking (the stable interface, set by the machine type
     * pc-q35-10.0-smm-hotplug): offer parking and refuse CPU hotplug
     * without it; "auto" only when there is SMM to do the unparking.
     */
    if (mode_on || (s->parking == ON_OFF_AUTO_AUTO && smm_enabled)) {
        s->host_features |= F(CPU_HOTPLUG_PARKING);
        s->require_parking = true;
    }
    f = s->host_features;

    if ((f & F(CPU_HOT_UNPLUG)) && !(f & F(CPU_HOTPLUG))) {
        /* firmware would be refused anyway; fail early and clearly */
        error_setg(errp, "cpu hot-unplug requires cpu hot-plug");
        error_append_hint(errp, "Set ICH9-LPC.x-smi-cpu-hotplug=on, or "
                          "x-smi-cpu-hotunplug=off.\n");
        return false;
    }
    if ((f & F(CPU_HOTPLUG_PARKING)) &&
        (f & parking_needs) != parking_needs) {
        error_setg(errp, "CPU hotplug with parking requires broadcast SMI "
                   "and CPU hotplug with SMI");
        error_append_hint(errp, "Set ICH9-LPC.x-smi-broadcast=on and "
                          "x-smi-cpu-hotplug=on, or ICH9-LPC.%s.\n", off);
        return false;
    }
    if ((f & F(CPU_HOTPLUG_PARKING)) && !smm_enabled) {
        /* no SMI handler could ever set an SMBASE and unpark */
        error_setg(errp, "CPU hotplug with parking needs SMM");
        error_append_hint(errp, "Use -machine smm=on (with KVM, the host "
                          "kernel must support SMM), or set "
                          "ICH9-LPC.%s.\n", off);
        return false;
    }
    if (s->require_parking && !(f & F(CPU_HOTPLUG_PARKING))) {
        error_setg(errp, "x-smi-require-parking needs "
                   "x-smi-cpu-hotplug-parking=on");
        return false;
    }
    if (s->parking_fault > SMI_PARKING_FAULT_NO_SMBASE ||
        (s->parking_fault && !(f & F(CPU_HOTPLUG_PARKING)))) {
        error_setg(errp, "x-smi-parking-fault must be 0, or 1 or 2 with "
                   "x-smi-cpu-hotplug-parking=on");
        error_append_hint(errp, "It breaks CPU hotplug on purpose, to test "
                          "firmware; leave it at 0.\n");
        return false;
    }
    if (s->parking_fault) {
        warn_report("ICH9-LPC.x-smi-parking-fault=%u breaks CPU hotplug "
                    "with parking on purpose (testing only)",
                    s->parking_fault);
    }
    return true;
}

static void features_ok_selected(void *opaque)
{
    SmiNegotiation *s = opaque;

    smi_negotiation_request(s, ldq_le_p(s->guest_features_le), "fw_cfg");
}

void smi_negotiation_fw_cfg_init(SmiNegotiation *s, FWCfgState *fw_cfg)
{
    if (!s->host_features || !fw_cfg) {
        return;
    }
    stq_le_p(s->host_features_le, s->host_features);
    fw_cfg_add_file(fw_cfg, "etc/smi/supported-features",
                    s->host_features_le, sizeof(s->host_features_le));
    /* the other two are cleared on reset; they are only linked here */
    fw_cfg_add_file_callback(fw_cfg, "etc/smi/requested-features",
                             NULL, NULL, NULL, s->guest_features_le,
                             sizeof(s->guest_features_le), false);
    fw_cfg_add_file_callback(fw_cfg, "etc/smi/features-ok",
                             features_ok_selected, NULL, s,
                             &s->features_ok, sizeof(s->features_ok), true);
}

void smi_negotiation_reset(SmiNegotiation *s)
{
    memset(s->guest_features_le, 0, sizeof(s->guest_features_le));
    s->features_ok = 0;
    s->negotiated = 0;
    s->apm_sts_replying = false;
    s->apm_sts_reply = 0;
    if (s->cpuhp) {
        s->cpuhp->smm_selector = 0;
        s->cpuhp->smm_command = 0;
    }
    update_controls(s);
}

/*
 * A negotiation is kept across migration; the destination must offer
 * everything that was negotiated, or the firmware would rely on what is
 * not there (with parking: a hot-added CPU parked, but no controls).
 */
int smi_negotiation_post_load(SmiNegotiation *s)
{
    const char *err = s->features_ok ? request_error(s, s->negotiated) : NULL;

    if (!s->features_ok) {
        s->negotiated = 0;
    } else if (err) {
        g_autofree char *have = describe(s->negotiated);
        g_autofree char *offer = describe(s->host_features);

        error_report("ICH9-LPC: the firmware negotiated SMI features %s, "
                     "but this QEMU offers %s (%s)", have, offer, err);
        error_printf("Start the destination with the same ICH9-LPC "
                     "x-smi-* properties as the source.\n");
        return -EINVAL;
    }
    update_controls(s);
    return 0;
}

/*
 * APM_STS: a write with bits 1..7 clear (what SeaBIOS and OVMF write) is a
 * plain store.  Bit 1 set queries the offered features; bit 1 clear with
 * feature bits set requests them.  Until the next write, reads return the
 * reply: bit 0 as written, bit 1 clear, bits 2..7 the offered features
 * (query) or the features in force (request: equal to the request iff it
 * was accepted).  QEMU without this front end returns the written byte,
 * so a query that reads back with bit 1 set tells firmware to use fw_cfg.
 */
void smi_negotiation_apm_sts_write(uint8_t val, void *opaque)
{
    SmiNegotiation *s = opaque;
    uint8_t keep = val & SMI_APM_STS_TRANSPARENT;
    uint64_t req = (val & SMI_APM_STS_FEATURE_MASK) >>
                   SMI_APM_STS_FEATURE_SHIFT;
    uint64_t result;

    s->apm_sts_replying = false;
    if (!s->apm_sts_enabled || !(val & ~SMI_APM_STS_TRANSPARENT)) {
        return;
    }
    if (val & SMI_APM_STS_QUERY) {
        result = s->host_features;
        trace_smi_negotiation_apm_sts_query(s->host_features);
    } else {
        smi_negotiation_request(s, req, "APM_STS");
        result = s->features_ok ? s->negotiated : 0;
    }
    s->apm_sts_reply = keep |
        ((result << SMI_APM_STS_FEATURE_SHIFT) & SMI_APM_STS_FEATURE_MASK);
    s->apm_sts_replying = true;
}

uint8_t smi_negotiation_apm_sts_read(uint8_t stored, void *opaque)
{
    SmiNegotiation *s = opaque;

    return s->apm_sts_replying ? s->apm_sts_reply : stored;
}

/*
 * Broadcast SMI negotiated without @bit: the firmware cannot handle the
 * operation, refuse it and say what was negotiated and what is missing.
 */
static bool smi_op_allowed(SmiNegotiation *s, int bit, const char *op,
                           const char *consequence, const char *machine,
                           const char *prop, const char *edk2, Error **errp)
{
    g_autofree char *have = NULL;

    if (!smi_negotiated(s, ICH9_LPC_SMI_F_BROADCAST_BIT) ||
        smi_negotiated(s, bit)) {
        return true;
    }
    have = describe(s->negotiated);
    error_setg(errp, "cpu %s with SMI wasn't enabled by firmware: it "
               "negotiated SMI features %s, without %s (bit %d)%s",
               op, have, feature_names[bit], bit, consequence);
    error_append_hint(errp, "Use a machine type newer than %s (or "
                      "ICH9-LPC.%s=on) and firmware that negotiates %s, "
                      "such as OVMF from %s or later.\n",
                      machine, prop, feature_names[bit], edk2);
    return false;
}

/*
 * A CPU added before the guest first runs (-S, device_add, cont) or while
 * an incoming migration waits for its state is a cold CPU to the
 * firmware, which counts and relocates it at boot: parking is not needed.
 */
static bool guest_has_run(void)
{
    return !runstate_check(RUN_STATE_PRELAUNCH) &&
           !runstate_check(RUN_STATE_INMIGRATE);
}

bool smi_negotiation_cpu_plug_allowed(SmiNegotiation *s, DeviceState *dev,
                                      Error **errp)
{
    if (s->require_parking && dev->hotplugged && guest_has_run() &&
        !smi_negotiated(s, ICH9_LPC_SMI_F_CPU_HOTPLUG_PARKING_BIT)) {
        g_autofree char *have = describe(s->negotiated);

        error_setg(errp, "cpu hotplug refused: parking is required "
                   "(%s) but the firmware negotiated SMI features %s, "
                   "without CPU hotplug with parking (bit %d)",
                   s->parking != ON_OFF_AUTO_OFF ? "cpu-hotplug-parking"
                                                 : "x-smi-require-parking=on",
                   have, ICH9_LPC_SMI_F_CPU_HOTPLUG_PARKING_BIT);
        error_append_hint(errp, "Boot firmware that negotiates CPU hotplug "
                          "with parking (such as this project's OVMF), or "
                          "set ICH9-LPC.%s to hot-add CPUs without it.\n",
                          s->parking != ON_OFF_AUTO_OFF ?
                          "cpu-hotplug-parking=off" :
                          "x-smi-require-parking=off");
        return false;
    }
    return smi_op_allowed(s, ICH9_LPC_SMI_F_CPU_HOTPLUG_BIT, "hotplug",
                          ", so it could not take control of a new CPU",
                          "pc-q35-5.1", "x-smi-cpu-hotplug",
                          "edk2-stable202008", errp);
}

bool smi_negotiation_cpu_unplug_allowed(SmiNegotiation *s, Error **errp)
{
    return smi_op_allowed(s, ICH9_LPC_SMI_F_CPU_HOT_UNPLUG_BIT, "hot-unplug",
                          "", "pc-q35-5.2", "x-smi-cpu-hotunplug",
                          "edk2-stable202102", errp);
}

const VMStateDescription vmstate_smi_negotiation_apm_sts = {
    .name = "smi-negotiation/apm-sts",
    .version_id = 1,
    .minimum_version_id = 1,
    .fields = (const VMStateField[]) {
        VMSTATE_BOOL(apm_sts_replying, SmiNegotiation),
        VMSTATE_UINT8(apm_sts_reply, SmiNegotiation),
        VMSTATE_END_OF_LIST()
    }
};

/* CPU hotplug with parking */

void cpu_hotplug_smm_plug(SmiNegotiation *s, DeviceState *dev)
{
    if (!dev->hotplugged ||
        !smi_negotiated(s, ICH9_LPC_SMI_F_CPU_HOTPLUG_PARKING_BIT)) {
        return;
    }
    if (!cpu_hold_supported(CPU(dev))) {
        return;
    }
    cpu_hold(CPU(dev));
    trace_cpu_hotplug_smm_parked(
        object_get_canonical_path_component(OBJECT(dev)) ?: "?");
}

void cpu_hotplug_smm_unplug_parked(CPUHotplugState *st, DeviceState *dev,
                                   Error **errp)
{
    ERRP_GUARD();
    uint32_t i;

    /* no insert event left behind for the OS */
    for (i = 0; i < st->dev_count; i++) {
        if (st->devs[i].cpu == CPU(dev)) {
            st->devs[i].is_inserting = false;
        }
    }
    trace_cpu_hotplug_smm_unplug_parked(CPU(dev)->cpu_index);
    /* the machine's handler: it frees the CPU slot and unrealizes */
    hotplug_handler_unplug(qdev_get_hotplug_handler(dev), dev, errp);
    if (!*errp) {
        object_unparent(OBJECT(dev));
    }
}

/*
 * While parking is negotiated, SMM has its own selector and command: an
 * access from SMM swaps them in for the block's handlers and back out.
 * Nothing outside SMM can change them, so an OS CPU that stays out of the
 * SMI rendezvous cannot redirect the firmware's steps (select, command 4,
 * SMBASE, read back, unpark, status) to another CPU, and the firmware's
 * steps do not disturb the OS's selection either.  All accesses are made
 * with the BQL held.
 */
static void swap_bank(CPUHotplugState *st)
{
    uint32_t sel = st->selector;
    uint8_t cmd = st->command;

    st->selector = st->smm_selector;
    st->command = st->smm_command;
    st->smm_selector = sel;
    st->smm_command = cmd;
}

static AcpiCpuStatus *selected(CPUHotplugState *st)
{
    return st->selector < st->dev_count ? &st->devs[st->selector] : NULL;
}

static bool selected_parked(CPUHotplugState *st)
{
    AcpiCpuStatus *cdev = selected(st);

    return cdev && cdev_parked(cdev);
}

static uint64_t parking_read(CPUHotplugState *st, hwaddr addr, uint64_t val,
                             MemTxAttrs attrs)
{
    bool parked = selected_parked(st);
    AcpiCpuStatus *cdev = selected(st);

    if (addr == CPHP_SMM_FLAGS_OFFSET && parked) {
        val |= CPHP_SMM_STATUS_PARKED;
        if (!attrs.secure) {
            /* not there for the OS (_STA, counting) until it is unparked */
            val &= ~(uint64_t)CPHP_SMM_STATUS_ENABLED;
        }
    } else if (addr == CPHP_SMM_FLAGS_OFFSET && attrs.secure && cdev &&
               cdev->cpu && cpu_hold_smi_waits_for_sipi(cdev->cpu)) {
        /*
         * The CPU has an SMI pending while it waits for SIPI: it cannot
         * join the SMI rendezvous until the OS starts it (it then takes the
         * SMI before its first instruction), so SMM need not wait for it.
         */
        val |= CPHP_SMM_STATUS_WAITS_SIPI;
    } else if (addr == CPHP_SMM_DATA_OFFSET &&
               st->command == CPHP_SMM_SMBASE_CMD) {
        /* the SMBASE a parked CPU will start with, to SMM only */
        val = parked && attrs.secure ?
              cpu_hold_get_smbase(selected(st)->cpu) : 0;
    }
    return val;
}

uint64_t cpu_hotplug_smm_read(CPUHotplugState *st, hwaddr addr, unsigned size,
                              MemTxAttrs attrs, CPUHotplugReadFn *rd)
{
    uint64_t val;

    if (attrs.secure) {
        swap_bank(st);
    }
    val = parking_read(st, addr, rd(st, addr, size), attrs);
    if (attrs.secure) {
        swap_bank(st);
    }
    return val;
}

/*
 * The SMM-only controls act only on a parked CPU and only for a CPU in SMM;
 * anything else is ignored and traced with the reason given.
 */
static bool smm_control_allowed(CPUHotplugState *st, MemTxAttrs attrs,
                                const char *not_smm, const char *not_parked)
{
    if (!attrs.secure) {
        trace_cpu_hotplug_smm_ignored(st->selector, not_smm);
        return false;
    }
    if (!selected_parked(st)) {
        trace_cpu_hotplug_smm_ignored(st->selector, not_parked);
        return false;
    }
    return true;
}

static void set_smbase(CPUHotplugState *st, uint64_t data, unsigned size,
                       MemTxAttrs attrs)
{
    if (!smm_control_allowed(st, attrs, "SMBASE write not from SMM",
                             "SMBASE write to a CPU that is not parked")) {
        return;
    }
    if (st->smm_controls->parking_fault == SMI_PARKING_FAULT_NO_SMBASE) {
        trace_cpu_hotplug_smm_ignored(st->selector, "SMBASE write refused "
                                      "(x-smi-parking-fault=2, testing)");
        return;
    }
    if (size != 4) {
        /* a part of an SMBASE is no SMBASE: all 32 bits at once */
        trace_cpu_hotplug_smm_ignored(st->selector,
                                      "SMBASE write narrower than 4 bytes");
        return;
    }
    if (!cpu_hold_set_smbase(selected(st)->cpu, data)) {
        trace_cpu_hotplug_smm_ignored(st->selector,
                                      "SMBASE write to a CPU being unparked");
        return;
    }
    trace_cpu_hotplug_smm_smbase(st->selector, data);
}

static void unpark(CPUHotplugState *st, MemTxAttrs attrs)
{
    CPUState *cpu;

    if (!smm_control_allowed(st, attrs, "unpark not from SMM",
                             "unpark of a CPU that is not parked")) {
        return;
    }
    cpu = selected(st)->cpu;
    /* relocate, then unpark: enforced here, not trusted to firmware */
    if (!cpu_hold_release(cpu)) {
        trace_cpu_hotplug_smm_ignored(st->selector,
            cpu_hold_state(cpu) == CPU_HOLD_RELEASING ?
            "unpark of a CPU being unparked" :
            "unpark refused: SMBASE not set yet");
        return;
    }
    /*
     * The CPU's own thread finishes the release; nothing waits for it.
     * Status bit 5 clears when it has.
     */
    trace_cpu_hotplug_smm_unparked(st->selector);
}

/* True if the access was one of the parking controls (handled here). */
static bool parking_write(CPUHotplugState *st, hwaddr addr, uint64_t data,
                          unsigned size, MemTxAttrs attrs)
{
    if (addr == CPHP_SMM_CMD_OFFSET) {
        /*
         * Command 4 is latched like commands 0-3, and ignored like them
         * while the selector is out of range; 5 and up are ignored and
         * leave the latched command as it is (the block's own rule).
         */
        if (data != CPHP_SMM_SMBASE_CMD || !selected(st)) {
            return false;
        }
        st->command = data;
        return true;
    }
    if (!selected(st)) {
        return false;
    }
    /* lower control bits take precedence, as in the block's own chain */
    if (addr == CPHP_SMM_FLAGS_OFFSET && (data & CPHP_SMM_CTRL_UNPARK) &&
        !(data & CPHP_SMM_CTRL_OTHERS)) {
        unpark(st, attrs);
        return true;
    }
    /*
     * Outside SMM a parked CPU keeps its insert event.  The OS clears it
     * after its scan, but a CPU removed while parked is gone at once, so
     * the scan may have handled another CPU in this slot; the event has
     * to stay for the next scan, until the firmware has unparked this
     * one.  Clearing the insert event comes first in the block's chain
     * of control bits, so the write is dropped whole.
     */
    if (addr == CPHP_SMM_FLAGS_OFFSET && !attrs.secure &&
        (data & CPHP_SMM_CTRL_INSERT_CLEAR) && selected_parked(st)) {
        trace_cpu_hotplug_smm_ignored(st->selector,
                                      "insert event clear while parked");
        return true;
    }
    if (addr == CPHP_SMM_DATA_OFFSET &&
        st->command == CPHP_SMM_SMBASE_CMD) {
        set_smbase(st, data, size, attrs);
        return true;
    }
    return false;
}

void cpu_hotplug_smm_write(CPUHotplugState *st, hwaddr addr, uint64_t data,
                           unsigned size, MemTxAttrs attrs,
                           CPUHotplugWriteFn *wr)
{
    if (attrs.secure) {
        swap_bank(st);
    }
    if (!parking_write(st, addr, data, size, attrs)) {
        wr(st, addr, data, size);
    }
    if (attrs.secure) {
        swap_bank(st);
    }
}

bool cpu_hotplug_smm_insert_parked(CPUHotplugState *st)
{
    bool any = false;
    uint32_t i;

    for (i = 0; i < st->dev_count; i++) {
        if (cdev_parked(&st->devs[i])) {
            st->devs[i].is_inserting = true;
            trace_cpu_hotplug_smm_insert_parked(i);
            any = true;
        }
    }
    return any;
}

/* AML names of the CPU hotplug block and the CPU scan (hw/acpi/cpu.c) */
#define AML_CSEL    "CSEL"
#define AML_CCMD    "CCMD"
#define AML_CDAT    "CDAT"
#define AML_CPRK    "CPRK"
#define AML_CTFY    "CTFY"
#define CPHP_OST_EVENT_CMD      1
#define CPHP_OST_STATUS_CMD     2
#define OST_NOTIFY_DEVICE_CHECK 1
#define OST_FAILURE             1   /* _OST: non-specific failure */
#define OVMF_CPUHP_SMI_CMD      4   /* APM_CNT value of the hotplug SMI */

void cpu_hotplug_smm_build_notify(Aml *ctx, Aml *uid, const char *res_path,
                                  const char *smi_path, Aml *dev_chk)
{
    Aml *sel = aml_name("%s.%s", res_path, AML_CSEL);
    Aml *cmd = aml_name("%s.%s", res_path, AML_CCMD);
    Aml *data = aml_name("%s.%s", res_path, AML_CDAT);
    Aml *parked = aml_name("%s.%s", res_path, AML_CPRK);
    Aml *ifctx, *elsectx;

    assert(smi_path);   /* parking needs CPU hotplug with SMI */
    aml_append(ctx, aml_store(uid, sel));
    /*
     * The slot may have been emptied and filled again since the scan: a
     * CPU removed while parked is gone at once, and one plugged into its
     * slot after the SMI was not seen by the firmware.  Raise the hotplug
     * SMI once more before giving up on it.  The firmware accesses the
     * block through the SMM bank, so CSEL still selects @uid afterwards.
     */
    ifctx = aml_if(aml_equal(parked, aml_int(1)));
    {
        aml_append(ifctx, aml_store(aml_int(OVMF_CPUHP_SMI_CMD),
                                    aml_name("%s", smi_path)));
    }
    aml_append(ctx, ifctx);
    ifctx = aml_if(aml_equal(parked, aml_int(1)));
    {
        aml_append(ifctx, aml_store(aml_int(CPHP_OST_EVENT_CMD), cmd));
        aml_append(ifctx, aml_store(aml_int(OST_NOTIFY_DEVICE_CHECK), data));
        aml_append(ifctx, aml_store(aml_int(CPHP_OST_STATUS_CMD), cmd));
        aml_append(ifctx, aml_store(aml_int(OST_FAILURE), data));
    }
    aml_append(ctx, ifctx);
    elsectx = aml_else();
    {
        aml_append(elsectx, aml_call2(AML_CTFY, uid, dev_chk));
    }
    aml_append(ctx, elsectx);
}

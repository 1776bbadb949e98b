# SPDX-License-Identifier: GPL-2.0-or-later
"""Seed corpus of the fuzz targets, in readable form.

smm-cpu-hotplug inputs are 7-byte steps (op, arg, width, value LE32), see
qemu/tests/qtest/fuzz/smm_cpu_hotplug_fuzz.c; the names below must follow
its enum and port table.  Each seed is one protocol path a fuzzer would
take long to find: a negotiation through APM_STS or fw_cfg DMA, a CPU
parked, its SMBASE set and unparked from SMM, the same from outside SMM,
broadcast SMIs, resets.  A crash the fuzzer finds is added here as a
regression seed (REGRESSIONS).
"""

import base64
import struct

OPS = ("out", "in", "smm_out", "smm_in", "cpu_add", "cpu_del", "ram_write", "dma",
       "fwcfg_write", "fwcfg_read", "events", "reset")
PORTS = (0xb2, 0xb3) + tuple(range(0xcd8, 0xce4)) + \
    (0x510, 0x511, 0x604, 0x620, 0x628, 0x630, 0xcf8, 0xcfc)
FILES = ("etc/smi/requested-features", "etc/smi/features-ok", "etc/smi/supported-features")
WIDTH = {1: 0, 2: 1, 4: 2}

CPHP_SEL, CPHP_CTRL, CPHP_CMD, CPHP_DATA = 0xcd8, 0xcdc, 0xcdd, 0xce0
# cpu_add N plugs core N + 1 (-smp 1,maxcpus=4): CPU hotplug selector N + 1
LPC_PMBASE = 0x8000f840         # 00:1f.0 register 0x40
LPC_ACPI_CTRL = 0x8000f844


def step(op, arg=0, width=1, value=0):
    if op in ("out", "in", "smm_out", "smm_in"):
        arg = PORTS.index(arg)
    elif op in ("fwcfg_write", "fwcfg_read"):
        arg = FILES.index(arg)
    return struct.pack("<BBBI", OPS.index(op), arg, WIDTH[width], value & 0xffffffff)


def pm_enable():
    return [step("out", 0xcf8, 4, LPC_PMBASE), step("out", 0xcfc, 4, 0x601),
            step("out", 0xcf8, 4, LPC_ACPI_CTRL), step("out", 0xcfc, 4, 0x80)]


def release(selector, smm=True, smbase=0x7f000000):
    o = "smm_out" if smm else "out"
    return [step(o, CPHP_SEL, 4, selector), step(o, CPHP_CMD, 1, 4),
            step(o, CPHP_DATA, 4, smbase), step("smm_in" if smm else "in", CPHP_DATA, 4),
            step(o, CPHP_CTRL, 1, 0x20), step("events"),
            step("in", CPHP_CTRL, 1)]


SMM_CPU_HOTPLUG = {
    # APM_STS negotiation of bits 0-3, modern CPU hotplug mode, a hot-add,
    # SMBASE and unpark from SMM
    "apmsts-park-release": [step("out", 0xb3, 1, 0x3c), step("in", 0xb3, 1),
                            step("out", CPHP_SEL, 1, 0), step("cpu_add", 0)]
    + release(1),
    # fw_cfg negotiation, then the same controls from outside SMM (ignored)
    "fwcfg-park-not-smm": [step("fwcfg_write", FILES[0], 4, 0xf),
                           step("fwcfg_read", FILES[1], 1),
                           step("out", CPHP_SEL, 1, 0), step("cpu_add", 1)]
    + release(2, smm=False) + [step("cpu_del", 1)],
    # unpark before any SMBASE, and an SMBASE for a CPU that is not parked
    "unpark-before-smbase": [step("out", 0xb3, 1, 0x3c), step("out", CPHP_SEL, 1, 0),
                             step("cpu_add", 2), step("smm_out", CPHP_SEL, 4, 1),
                             step("smm_out", CPHP_CTRL, 1, 0x20),
                             step("smm_out", CPHP_SEL, 4, 0),
                             step("smm_out", CPHP_CMD, 1, 4),
                             step("smm_out", CPHP_DATA, 4, 0x1000)],
    # broadcast SMIs (APMC_EN) around a hot-add, a reset, a second boot
    "smi-reset": pm_enable() + [step("out", 0x630, 4, 0x21), step("out", 0xb3, 1, 0x3c),
                                step("out", CPHP_SEL, 1, 0), step("cpu_add", 0),
                                step("out", 0xb2, 1, 4), step("events")]
    + release(1) + [step("reset"), step("out", 0xb3, 1, 0x3c), step("cpu_add", 1),
                    step("out", 0xb2, 1, 4)],
    # legacy CPU hotplug mode (no switch), parking negotiated: hot-add and
    # the controls
    "legacy-mode": [step("out", 0xb3, 1, 0x3c), step("cpu_add", 0),
                    step("in", 0xcd8, 4)] + release(1),
    # a raw fw_cfg DMA descriptor built in RAM (select features-ok, read)
    "raw-dma": [step("ram_write", 0, 4, 0x0a000000 | 0),
                step("ram_write", 1, 4, 0x01000000), step("ram_write", 2, 4, 0),
                step("ram_write", 3, 4, 0x00011000), step("dma", 0)],
    # plug and unplug all slots, parked and released
    "fill-unplug": [step("out", 0xb3, 1, 0x3c), step("out", CPHP_SEL, 1, 0),
                    step("cpu_add", 0), step("cpu_add", 1), step("cpu_add", 2)]
    + release(2) + [step("cpu_del", 0), step("cpu_del", 1), step("cpu_del", 2),
                    step("events")],
}

# inputs of crashes (and hangs) found, kept as regression seeds: name -> bytes
REGRESSIONS = {
    # FZ_DMA of a descriptor whose length is 0xff000200: the bound on the
    # length compared it as a signed int (ldl_be_p()), so fw_cfg zero-filled
    # about 4 GB in 512-byte steps, 150 s under ASan; now at most 4096 bytes
    "dma-length-sign": base64.b64decode(
        "BgACAEEABtQAAgBBAAoGAf//AAIA//8AAAAAAAEGAgIAAAAHAAAAAAAA"),
}


def corpus(target):
    """{file name: bytes} for a target's seed directory."""
    if target != "smm-cpu-hotplug":
        return {}
    out = {name: b"".join(steps) for name, steps in SMM_CPU_HOTPLUG.items()}
    out.update(REGRESSIONS)
    return out

/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The test firmware's small runtime: port I/O, MMIO, the debug console
 * (isa-debugcon at 0x402), the exit port (isa-debug-exit at 0xf4), the
 * ACPI PM timer for bounded waits, fw_cfg, and the local APIC's ICR.
 */
#ifndef TESTFW_H
#define TESTFW_H

#include <stdint.h>
#include <stdbool.h>
#include <stddef.h>
#include "layout.h"

static inline void outb(uint16_t port, uint8_t v)
{
    __asm__ volatile("outb %0, %1" : : "a"(v), "Nd"(port));
}
static inline void outw(uint16_t port, uint16_t v)
{
    __asm__ volatile("outw %0, %1" : : "a"(v), "Nd"(port));
}
static inline void outl(uint16_t port, uint32_t v)
{
    __asm__ volatile("outl %0, %1" : : "a"(v), "Nd"(port));
}
static inline uint8_t inb(uint16_t port)
{
    uint8_t v;
    __asm__ volatile("inb %1, %0" : "=a"(v) : "Nd"(port));
    return v;
}
static inline uint16_t inw(uint16_t port)
{
    uint16_t v;
    __asm__ volatile("inw %1, %0" : "=a"(v) : "Nd"(port));
    return v;
}
static inline uint32_t inl(uint16_t port)
{
    uint32_t v;
    __asm__ volatile("inl %1, %0" : "=a"(v) : "Nd"(port));
    return v;
}
static inline uint32_t mmio_read32(uintptr_t a)
{
    return *(volatile uint32_t *)a;
}
static inline void mmio_write32(uintptr_t a, uint32_t v)
{
    *(volatile uint32_t *)a = v;
}
static inline void cpu_relax(void)
{
    __asm__ volatile("pause" ::: "memory");
}
#define MB(off) (*(volatile uint32_t *)(uintptr_t)(off))

/* console and results */
void con_puts(const char *s);
void con_printf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void check(const char *name, bool ok, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void __attribute__((noreturn)) finish(void);
void *memcpy(void *d, const void *s, size_t n);
void *memset(void *d, int c, size_t n);
int strcmp(const char *a, const char *b);

/* PCI config space (mechanism #1) */
uint32_t pci_read32(int bus, int dev, int fn, int reg);
void pci_write32(int bus, int dev, int fn, int reg, uint32_t v);

/* ICH9 ACPI: PMBASE and the PM timer */
#define PMBASE 0x600
void acpi_init(void);
void udelay(uint32_t us);
/* wait until *p != old or timeout; returns true if it changed */
bool wait_change(volatile uint32_t *p, uint32_t old, uint32_t timeout_us);

/* fw_cfg: read a named file into buf; returns its size or -1 */
int fw_cfg_read_file(const char *name, void *buf, int len);
int fw_cfg_write_file(const char *name, const void *buf, int len);
int fw_cfg_dma_file_to(const char *name, uint32_t offset, uint32_t addr,
                       int len);

/* local APIC */
#define APIC_BASE       0xfee00000
#define APIC_ID         0x020
#define APIC_ICR_LO     0x300
#define APIC_ICR_HI     0x310
#define ICR_INIT        0x4500
#define ICR_SIPI        0x4600
#define ICR_SMI         0x4200
#define ICR_NMI         0x4400
#define ICR_FIXED       0x4000
void apic_ipi(uint8_t apic_id, uint32_t icr_lo);

#endif

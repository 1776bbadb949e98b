/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <stdarg.h>
#include "testfw.h"

#define DEBUGCON 0x402
#define DEBUG_EXIT 0xf4

static int n_pass, n_fail;

void *memcpy(void *d, const void *s, size_t n)
{
    char *dd = d;
    const char *ss = s;

    while (n--) {
        *dd++ = *ss++;
    }
    return d;
}

void *memset(void *d, int c, size_t n)
{
    char *dd = d;

    while (n--) {
        *dd++ = c;
    }
    return d;
}

int strcmp(const char *a, const char *b)
{
    while (*a && *a == *b) {
        a++;
        b++;
    }
    return (unsigned char)*a - (unsigned char)*b;
}

void con_puts(const char *s)
{
    while (*s) {
        outb(DEBUGCON, *s++);
    }
}

static void put_num(uint32_t v, int base, int width)
{
    char buf[12];
    int i = 0;

    do {
        buf[i++] = "0123456789abcdef"[v % base];
        v /= base;
    } while (v);
    while (i < width) {
        buf[i++] = '0';
    }
    while (i) {
        outb(DEBUGCON, buf[--i]);
    }
}

static void con_vprintf(const char *fmt, va_list ap)
{
    for (; *fmt; fmt++) {
        int width = 0;

        if (*fmt != '%') {
            outb(DEBUGCON, *fmt);
            continue;
        }
        fmt++;
        while (*fmt >= '0' && *fmt <= '9') {
            width = width * 10 + (*fmt++ - '0');
        }
        switch (*fmt) {
        case 'u':
            put_num(va_arg(ap, uint32_t), 10, width);
            break;
        case 'x':
            put_num(va_arg(ap, uint32_t), 16, width);
            break;
        case 's':
            con_puts(va_arg(ap, const char *));
            break;
        case '%':
            outb(DEBUGCON, '%');
            break;
        default:
            outb(DEBUGCON, '?');
        }
    }
}

void con_printf(const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    con_vprintf(fmt, ap);
    va_end(ap);
}

/* One result line per check: "TESTFW: PASS name" or "TESTFW: FAIL name: why". */
void check(const char *name, bool ok, const char *fmt, ...)
{
    va_list ap;

    con_printf("TESTFW: %s %s", ok ? "PASS" : "FAIL", name);
    if (!ok && fmt && *fmt) {
        con_puts(": ");
        va_start(ap, fmt);
        con_vprintf(fmt, ap);
        va_end(ap);
    }
    con_puts("\n");
    if (ok) {
        n_pass++;
    } else {
        n_fail++;
    }
}

void finish(void)
{
    con_printf("TESTFW: DONE %u passed, %u failed\n", n_pass, n_fail);
    /* isa-debug-exit: QEMU exits with status (v << 1) | 1 */
    outl(DEBUG_EXIT, n_fail ? 1 : 0);
    for (;;) {
        __asm__ volatile("cli; hlt");
    }
}

uint32_t pci_read32(int bus, int dev, int fn, int reg)
{
    outl(0xcf8, 0x80000000u | bus << 16 | dev << 11 | fn << 8 | (reg & 0xfc));
    return inl(0xcfc);
}

void pci_write32(int bus, int dev, int fn, int reg, uint32_t v)
{
    outl(0xcf8, 0x80000000u | bus << 16 | dev << 11 | fn << 8 | (reg & 0xfc));
    outl(0xcfc, v);
}

/* ICH9 LPC (00:1f.0): PMBASE at 0x40, ACPI_CTRL.ACPI_EN at 0x44 bit 7. */
void acpi_init(void)
{
    pci_write32(0, 0x1f, 0, 0x40, PMBASE | 1);
    pci_write32(0, 0x1f, 0, 0x44, pci_read32(0, 0x1f, 0, 0x44) | 0x80);
}

/* ACPI PM timer: 3.579545 MHz, 24 bits.  Waits up to ~10 s. */
static uint32_t us_to_ticks(uint32_t us)
{
    return us * 179 / 50;                       /* 3.58 ticks per us */
}

static uint32_t pmtmr(void)
{
    return inl(PMBASE + 0x08) & 0xffffff;
}

void udelay(uint32_t us)
{
    uint32_t ticks = us_to_ticks(us);
    uint32_t done = 0;
    uint32_t last = pmtmr();

    while (done < ticks) {
        uint32_t now = pmtmr();

        done += (now - last) & 0xffffff;
        last = now;
        cpu_relax();
    }
}

bool wait_change(volatile uint32_t *p, uint32_t old, uint32_t timeout_us)
{
    uint32_t ticks = us_to_ticks(timeout_us);
    uint32_t done = 0;
    uint32_t last = pmtmr();

    while (*p == old) {
        uint32_t now = pmtmr();

        done += (now - last) & 0xffffff;
        last = now;
        if (done >= ticks) {
            return false;
        }
        cpu_relax();
    }
    return true;
}

/* fw_cfg, I/O port interface: selector 0x510 (16 bit), data 0x511. */
#define FW_CFG_SEL  0x510
#define FW_CFG_DATA 0x511
#define FW_CFG_FILE_DIR 0x19

static void fw_cfg_read(void *buf, int len)
{
    uint8_t *b = buf;

    while (len--) {
        *b++ = inb(FW_CFG_DATA);
    }
}

static uint32_t be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | p[1] << 16 | p[2] << 8 | p[3];
}

static uint32_t bswap32(uint32_t v)
{
    return __builtin_bswap32(v);
}

/* Find a fw_cfg file: its selector, or -1. */
static int fw_cfg_find(const char *name, uint32_t *size)
{
    uint8_t hdr[4], ent[64];
    uint32_t count, i;

    outw(FW_CFG_SEL, FW_CFG_FILE_DIR);
    fw_cfg_read(hdr, 4);
    count = be32(hdr);
    for (i = 0; i < count; i++) {
        fw_cfg_read(ent, 64);
        ent[63] = 0;
        if (!strcmp((char *)ent + 8, name)) {
            *size = be32(ent);
            return ent[4] << 8 | ent[5];
        }
    }
    return -1;
}

/* Write a fw_cfg file through the DMA interface (the only way to write). */
int fw_cfg_write_file(const char *name, const void *buf, int len)
{
    static volatile uint32_t dma[4] __attribute__((aligned(16)));
    static uint8_t data[64];
    uint32_t size;
    int sel = fw_cfg_find(name, &size);

    if (sel < 0 || len > (int)sizeof(data)) {
        return -1;
    }
    memcpy(data, buf, len);
    dma[0] = bswap32((uint32_t)sel << 16 | 0x08 | 0x10);  /* select, write */
    dma[1] = bswap32(len);
    dma[2] = 0;                                            /* address, BE64 */
    dma[3] = bswap32((uint32_t)(uintptr_t)data);
    outl(0x514, 0);                                        /* high half */
    outl(0x518, bswap32((uint32_t)(uintptr_t)dma));        /* low: go */
    return (bswap32(dma[0]) & 0x01) ? -1 : len;            /* error bit */
}

/*
 * The fw_cfg device writes bytes @offset..@offset + @len of a file to
 * guest-physical @addr by DMA, as any device would: a DMA write to the
 * MSI window (0xfee00000 + dest << 12) is an MSI.
 */
int fw_cfg_dma_file_to(const char *name, uint32_t offset, uint32_t addr,
                       int len)
{
    static volatile uint32_t dma[4] __attribute__((aligned(16)));
    uint32_t size;
    int sel = fw_cfg_find(name, &size);

    if (sel < 0 || offset + len > size) {
        return -1;
    }
    /* select and skip to @offset, then read to @addr */
    dma[0] = bswap32((uint32_t)sel << 16 | 0x08 | 0x04);
    dma[1] = bswap32(offset);
    dma[2] = 0;
    dma[3] = 0;
    outl(0x514, 0);
    outl(0x518, bswap32((uint32_t)(uintptr_t)dma));
    if (bswap32(dma[0]) & 0x01) {
        return -1;
    }
    dma[0] = bswap32(0x02);
    dma[1] = bswap32(len);
    dma[2] = 0;
    dma[3] = bswap32(addr);
    outl(0x514, 0);
    outl(0x518, bswap32((uint32_t)(uintptr_t)dma));
    return (bswap32(dma[0]) & 0x01) ? -1 : len;
}

int fw_cfg_read_file(const char *name, void *buf, int len)
{
    uint32_t size;
    int sel = fw_cfg_find(name, &size);

    if (sel < 0) {
        return -1;
    }
    if ((int)size > len) {
        size = len;
    }
    outw(FW_CFG_SEL, sel);
    fw_cfg_read(buf, size);
    return size;
}

void apic_ipi(uint8_t apic_id, uint32_t icr_lo)
{
    int n = 0;

    mmio_write32(APIC_BASE + APIC_ICR_HI, (uint32_t)apic_id << 24);
    mmio_write32(APIC_BASE + APIC_ICR_LO, icr_lo);
    while ((mmio_read32(APIC_BASE + APIC_ICR_LO) & (1 << 12)) && n++ < 100000) {
        cpu_relax();
    }
}

/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Fixed addresses shared by the assembly and the C code. */
#ifndef TESTFW_LAYOUT_H
#define TESTFW_LAYOUT_H

#define ROM_BASE        0xffff0000      /* 64 KiB image at the top of 4 GiB */
#define BSP_STACK_TOP   0x00080000
#define RAM_DATA        0x00100000      /* .data and .bss */

/* Mailbox shared with the 16-bit SMI handler and trampoline (below 64K). */
#define MB_BASE             0x7000
#define MB_SMM_ENTRIES      (MB_BASE + 0x00)
#define MB_SMM_GO           (MB_BASE + 0x04)
#define MB_SMM_HEARTBEAT    (MB_BASE + 0x08)
#define MB_SMM_SAW_TRAMP    (MB_BASE + 0x0c)
#define MB_TRAMP_COUNT      (MB_BASE + 0x10)
#define MB_SMM_CS           (MB_BASE + 0x14)
#define MB_SMM_RIP          (MB_BASE + 0x18)
#define MB_SMM_SMBASE       (MB_BASE + 0x1c)
#define MB_SMM_NEW_SMBASE   (MB_BASE + 0x20)
#define MB_SMM_EXITS        (MB_BASE + 0x24)
#define MB_EXEC             (MB_BASE + 0x28)  /* BSP in SMM runs MB_OPS */
#define MB_STRAY            (MB_BASE + 0x2c)  /* stray NMI/IRQ handler runs */
#define MB_AP_RESET         (MB_BASE + 0x30)  /* APs run from the reset vector */
#define MB_AP_JOB           (MB_BASE + 0x34)  /* C function an AP job runs */
#define MB_JOB              (MB_BASE + 0x40)  /* 16 words for the AP jobs */
#define MB_OPS              (MB_BASE + 0x100) /* 16 x {kind, port, value} */
#define MB_ENTRIES_BY_APIC  (MB_BASE + 0x200) /* u32 SMM entries per APIC ID */

/* MB_OPS kinds, executed in SMM; the result of a read replaces value */
#define OP_END   0
#define OP_OUTB  1
#define OP_OUTW  2
#define OP_OUTL  3
#define OP_INB   4
#define OP_INL   6
#define OP_INB_WAIT 7   /* inb until (value & mask) == 0, bounded; mask in */
#define OP_DELAY 8      /* value pauses, no I/O (value > 0) */
#define OP_WAIT_LOOPS 20000
#define OP_WAIT_PAUSES 1000

#define DEFAULT_SMBASE      0x30000
#define TRAMP_VECTOR        0x09        /* trampoline at 0x9000 */
#define STRAY_SEG           0x0980      /* stray-vector stub at 0x9800 */
#define OS_VECTOR           0x0a        /* the OS's AP start-up code, 0xa000 */
#define JOB_VECTOR          0x0b        /* an AP job (job_tramp), 0xb000 */

/* What the OS's AP code (os_tramp, entry.S) uses in protected mode */
#define IDT_BASE            0x6000      /* 256 gates, all to stray32 */
#define AP_STACK_TOP        0x8000      /* 256 bytes per APIC ID below it */

#endif

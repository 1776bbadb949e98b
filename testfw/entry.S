/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Reset vector, switch to 32-bit flat protected mode, call main().
 * Also the 16-bit code that main() copies into RAM: the SMI handler and
 * the AP start-up trampoline.  Both touch only absolute low addresses (the
 * mailbox, see testfw.h) and relative jumps, so they run wherever they are
 * copied to.
 */
#include "layout.h"

/* all data segment registers to the flat 4 GiB data descriptor (0x10) */
        .macro flat_data_segments
        movw $0x10, %ax
        movw %ax, %ds
        movw %ax, %es
        movw %ax, %ss
        movw %ax, %fs
        movw %ax, %gs
        .endm

        .section .text16, "ax"
        .code16
        .globl entry16
entry16:
        cli
        cld
        lgdtl %cs:(gdt_desc - entry16)  /* entry16 is at ROM_BASE */
        movl %cr0, %eax
        orl $1, %eax
        movl %eax, %cr0
        ljmpl $0x08, $entry32

        .code32
entry32:
        flat_data_segments
        /* An AP that ends up here (say, an SMI taken from its reset
         * state and resumed at the reset vector) must not run main();
         * it is counted, so that a test can tell it ran. */
        movl $0x1b, %ecx                /* IA32_APIC_BASE */
        rdmsr
        testl $0x100, %eax              /* BSP flag */
        jz ap_from_reset
        movl $BSP_STACK_TOP, %esp
        /* .data lives in ROM and runs in RAM; .bss is zeroed */
        movl $_data_lma, %esi
        movl $_data_start, %edi
        movl $_data_end, %ecx
        subl %edi, %ecx
        rep movsb
        movl $_bss_start, %edi
        movl $_bss_end, %ecx
        subl %edi, %ecx
        xorl %eax, %eax
        rep stosb
        call main
        jmp 1f
ap_from_reset:
        lock incl (MB_AP_RESET)
1:      cli
        hlt
        jmp 1b

/*
 * The rest of the AP start-up code (os_tramp and job_tramp below jump here
 * through the ROM's real-mode alias at 0xf0000, CS = 0xf000, with EBP 0 or
 * 1): 32-bit protected mode on the ROM's GDT, the IDT that main() built at
 * IDT_BASE (every vector to stray32), a stack per APIC ID.  Then
 * - the OS's AP code (EBP 0): the local APIC software-enabled and
 *   interrupts on; a CPU that runs this takes a fixed interrupt or an NMI
 *   sent to it, and stray32 counts it;
 * - an AP job (EBP 1): interrupts off, it calls the C function whose
 *   address the BSP put in MB_AP_JOB and halts when that returns.
 */
        .code16
ap16:
        lgdtl %cs:(gdt_desc - entry16)
        lidtl %cs:(idt_desc - entry16)
        movl %cr0, %eax
        orl $1, %eax
        movl %eax, %cr0
        ljmpl $0x08, $ap32

        .code32
ap32:
        flat_data_segments
        movl 0xfee00020, %eax           /* local APIC ID */
        shrl $24, %eax
        shll $8, %eax
        movl $AP_STACK_TOP, %esp
        subl %eax, %esp
        testl %ebp, %ebp
        jnz 3f
        movl $0x1ff, 0xfee000f0         /* SVR: enabled, spurious vector 0xff */
        sti
2:      hlt
        jmp 2b
3:      call *(MB_AP_JOB)
4:      cli
        hlt
        jmp 4b

        .globl stray32
stray32:
        lock incl (MB_STRAY)
        iret

        /*
         * The GDT stays in ROM, so its descriptors carry the accessed bit
         * already: a segment load would otherwise make the CPU write that
         * bit into ROM.  TCG ignores the failed write; KVM exits to QEMU
         * on the write, emulates the load and faults again, for ever.
         */
        .p2align 3
gdt:
        .quad 0
        .quad 0x00cf9b000000ffff        /* 0x08: code, flat 4 GiB */
        .quad 0x00cf93000000ffff        /* 0x10: data, flat 4 GiB */
gdt_desc:
        .word gdt_desc - gdt - 1
        .long gdt
idt_desc:
        .word 256 * 8 - 1
        .long IDT_BASE

/*
 * SMI handler, entered at SMBASE + 0x8000 in SMM's real-mode-like state:
 * CS base = SMBASE, data segments base 0 with 4 GiB limits.  It counts the
 * entry, records what the test needs from the save state map (the 64-bit
 * layout QEMU's x86_64 target uses), optionally relocates SMBASE, then
 * spins with a heartbeat until the test releases it, and resumes.
 */
        .code16
        .globl smm_handler_start, smm_handler_end
smm_handler_start:
        addr32 movl 0xfee00020, %ebx            /* local APIC ID */
        shrl $24, %ebx
        addr32 lock incl MB_ENTRIES_BY_APIC(,%ebx,4)
        lock incl (MB_SMM_ENTRIES)
        movl (MB_TRAMP_COUNT), %eax
        movl %eax, (MB_SMM_SAW_TRAMP)
        movzwl %cs:(0x8000 + 0x7e10), %eax      /* saved CS selector */
        movl %eax, (MB_SMM_CS)
        movl %cs:(0x8000 + 0x7f78), %eax        /* saved RIP, low half */
        movl %eax, (MB_SMM_RIP)
        movl %cs:(0x8000 + 0x7f00), %eax        /* SMBASE */
        movl %eax, (MB_SMM_SMBASE)
        movl (MB_SMM_NEW_SMBASE), %eax
        testl %eax, %eax
        jz 1f
        movl %eax, %cs:(0x8000 + 0x7f00)        /* relocate on RSM */
1:      /* The BSP runs the I/O operations the test queued, from SMM. */
        testl %ebx, %ebx
        jnz 3f
        cmpl $0, (MB_EXEC)
        je 3f
        movw $MB_OPS, %si
4:      movl (%si), %ecx
        testl %ecx, %ecx
        jz 5f
        movl 4(%si), %edx
        movl 8(%si), %eax
        cmpl $OP_OUTB, %ecx
        jne 13f
        outb %al, %dx
        jmp 9f
13:     cmpl $OP_OUTW, %ecx
        jne 6f
        outw %ax, %dx
        jmp 9f
6:      cmpl $OP_OUTL, %ecx
        jne 7f
        outl %eax, %dx
        jmp 9f
7:      cmpl $OP_INB, %ecx
        jne 8f
        xorl %eax, %eax
        inb %dx, %al
        jmp 9f
8:      cmpl $OP_INL, %ecx
        jne 10f
        inl %dx, %eax
        jmp 9f
10:     cmpl $OP_INB_WAIT, %ecx         /* eax: the mask that must clear */
        jne 14f
        movl %eax, %ebx
        movl $OP_WAIT_LOOPS, %ecx
11:     xorl %eax, %eax
        inb %dx, %al
        testl %ebx, %eax
        jz 9f
        movl $OP_WAIT_PAUSES, %edi      /* leave the device alone a while */
12:     pause
        decl %edi
        jnz 12b
        decl %ecx
        jnz 11b
        jmp 9f
14:     cmpl $OP_DELAY, %ecx            /* eax: how many pauses */
        jne 9f
        movl %eax, %ecx
15:     pause
        decl %ecx
        jnz 15b
9:      movl %eax, 8(%si)
        addw $12, %si
        jmp 4b
5:      movl $0, (MB_EXEC)
        lock incl (MB_SMM_EXITS)
        rsm
3:      lock incl (MB_SMM_HEARTBEAT)
        pause
        cmpl $0, (MB_SMM_GO)
        je 3b
        lock incl (MB_SMM_EXITS)
        rsm
smm_handler_end:

/*
 * AP trampoline, started by SIPI at VECTOR << 12 with CS = VECTOR << 8,
 * IP = 0 and data segments at base 0.  It counts its start and halts
 * with interrupts off; an SMI still wakes it.
 */
/*
 * Stray-vector stub: what a parked CPU would run if it took an NMI or an
 * interrupt in its reset state.  It counts, then halts.
 */
        .globl stray_start, stray_end
stray_start:
        lock incl (MB_STRAY)
1:      cli
        hlt
        jmp 1b
stray_end:

        .globl tramp_start, tramp_end
tramp_start:
        cli
        lock incl (MB_TRAMP_COUNT)
1:      hlt
        jmp 1b
tramp_end:

/*
 * The OS's AP start-up code in the parking cases, started by SIPI at
 * OS_VECTOR << 12: it counts its start like the trampoline, then goes on
 * in ROM (ap16) to a state in which it takes interrupts.
 */
        .globl os_tramp_start, os_tramp_end
os_tramp_start:
        cli
        lock incl (MB_TRAMP_COUNT)
        xorl %ebp, %ebp
        ljmp $0xf000, $(ap16 - entry16)
os_tramp_end:

/* An AP job, started by SIPI at JOB_VECTOR << 12 (ap16 above). */
        .globl job_tramp_start, job_tramp_end
job_tramp_start:
        cli
        movl $1, %ebp
        ljmp $0xf000, $(ap16 - entry16)
job_tramp_end:

        .section .reset, "ax"
        .code16
        .globl reset
reset:
        jmp entry16
        .fill 16 - (. - reset), 1, 0xf4

        .section .note.GNU-stack, "", @progbits

/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "testfw.h"
#include "cases.h"

/*
 * Clear the mailbox, install the SMI handler at the default SMBASE
 * (0x30000 + 0x8000) and the AP trampoline at TRAMP_VECTOR << 12.
 */
void smm_setup(void)
{
    memset((void *)MB_BASE, 0, 0x40);
    memcpy((void *)(DEFAULT_SMBASE + 0x8000), smm_handler_start,
           smm_handler_end - smm_handler_start);
    memcpy((void *)(TRAMP_VECTOR << 12), tramp_start, tramp_end - tramp_start);
}

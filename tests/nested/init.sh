#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
#
# /init of the L1 guest (tests/nested): load KVM, then run the items named
# on the kernel command line (nested.run=testfw:CASE,e2e:NAME,...) through
# tests/nested/l1.py.  Everything goes to the serial console:
#   NESTED: BOOTED <uptime>        /init started
#   NESTED: NOKVM <why>            KVM cannot run here; nothing was run
#   NESTED: KTEXT <address>        the kernel's _text (KASLR base)
#   NESTED: READY <uptime>         /dev/kvm is there
#   NESTED: BEGIN|END|DONE ...     from l1.py; NESTED| <line> is runner output
#   NESTED: EXIT <status>          l1.py ended; L1 powers off
/bin/busybox mkdir -p /proc /sys /dev /tmp
/bin/busybox --install -s /bin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
# the console shows only the kernel's emergencies unless the host runner
# asks for more (nested.loglevel=N: dmesg -n N; 5 shows warnings and oopses)
level=1
for a in $(cat /proc/cmdline); do
    case "$a" in nested.loglevel=[1-8]) level=${a#nested.loglevel=} ;; esac
done
dmesg -n "$level"

say() { echo "NESTED: $*"; }
off() {
    sync
    poweroff -f
    sleep 10
    echo o > /proc/sysrq-trigger
}
uptime_s() { cut -d' ' -f1 /proc/uptime; }
klog() { dmesg | tail -n 3 | tr '\n' ' '; }

say "BOOTED $(uptime_s)"
if ! grep -qw svm /proc/cpuinfo; then
    say "NOKVM no svm flag in L1's /proc/cpuinfo: L0 does not offer AMD SVM to L1"
    off
fi
while read -r m; do
    if ! out=$(insmod "$m" 2>&1); then
        say "NOKVM insmod ${m##*/} failed: $out; kernel: $(klog)"
        off
    fi
done < /etc/nested/modules
if [ ! -c /dev/kvm ]; then
    say "NOKVM kvm-amd is loaded but there is no /dev/kvm; kernel: $(klog)"
    off
fi
# the kernel's KASLR base, so that the host can name where a stalled L1 is
say "KTEXT $(grep -w _text /proc/kallsyms | cut -d' ' -f1)"
say "READY $(uptime_s)"
run=
for a in $(cat /proc/cmdline); do
    case "$a" in nested.run=*) run=${a#nested.run=} ;; esac
done
/usr/bin/python3 /tests/nested/l1.py "$run"
say "EXIT $?"
off

#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
#
# /init of the end-to-end test guest (busybox ash).  It reports on the
# serial console, one "E2E:" line per event, and onlines hot-added CPUs
# itself, so the host can time device_add -> CPU online:
#   E2E: READY ncpus=N            boot finished, polling starts
#   E2E: CPU<n> ONLINE ncpus=N    a new CPU was onlined (or came up online)
#   E2E: CPU<n> ONLINE FAILED     writing 1 to .../online failed
#   E2E: CPU<n> PRESENT           (e2e.online=0) a new CPU, left offline;
#                                 (e2e.onlinedelay=S) onlined S s later
#   E2E: CPU<n> REMOVED           a CPU went away (hot-unplug)
#   E2E: HB smi C=N ...           heartbeat every e2e.hb polls (0 = off), with
#                                 each online CPU's SMI count (MSR_SMI_COUNT)
#   E2E: SUSPEND ncpus=N          (e2e.s3=N) N CPUs are online for the first
#                                 time: the guest suspends to RAM (S3)
#                                 (e2e.s3rm=1: once a CPU has been removed)
#   E2E: RESUMED rc=R ncpus=N     it is back (R: the exit status of the write)
#   KLOG: ...                     new kernel log lines
/bin/busybox mkdir -p /proc /sys /dev /tmp
/bin/busybox --install -s /bin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev

poll=0.05 hb=0 s3=0 s3rm=0 autoonline=1 delay=0 due=""
for a in $(cat /proc/cmdline); do
    case "$a" in
        e2e.poll=*) poll=${a#e2e.poll=} ;;
        e2e.hb=*) hb=${a#e2e.hb=} ;;
        e2e.s3=*) s3=${a#e2e.s3=} ;;
        e2e.s3rm=*) s3rm=${a#e2e.s3rm=} ;;
        e2e.online=*) autoonline=${a#e2e.online=} ;;
        e2e.onlinedelay=*) delay=${a#e2e.onlinedelay=} ;;
    esac
done

known=" "
for d in /sys/devices/system/cpu/cpu[0-9]*; do
    known="$known${d##*/cpu} "
done
dmesg -n 1
insmod /lib/modules/msr.ko 2>/dev/null

# " C=N" per online CPU C: its SMI count, MSR 0x34 read through /dev/cpu/C/msr
smis() {
    for m in /dev/cpu/[0-9]*/msr; do
        [ -e "$m" ] || continue
        c=${m%/msr}
        v=$(dd if="$m" bs=8 count=1 skip=52 iflag=skip_bytes 2>/dev/null | od -An -tu8 | tr -d ' ')
        printf ' %s=%s' "${c##*/}" "${v:-?}"
    done
}
# online hot-added CPU $1 (or find it online) and say so
online_cpu() {
    o=/sys/devices/system/cpu/cpu$1/online
    if [ "$(cat "$o")" = 1 ] || echo 1 > "$o" 2>/dev/null; then
        echo "E2E: CPU$1 ONLINE ncpus=$(grep -c ^processor /proc/cpuinfo)"
    else
        echo "E2E: CPU$1 ONLINE FAILED"
    fi
}
klines=$(dmesg | wc -l)
echo "E2E: READY ncpus=$(grep -c ^processor /proc/cpuinfo)"

n=0
while true; do
    now=" "
    for d in /sys/devices/system/cpu/cpu[0-9]*; do
        [ -d "$d" ] || continue
        c=${d##*/cpu}
        now="$now$c "
        case "$known" in *" $c "*) continue ;; esac
        # A hot-added CPU: online it once its 'online' file shows up.
        [ -f "$d/online" ] || continue
        if [ "$autoonline" = 0 ] || [ "$delay" -gt 0 ]; then
            echo "E2E: CPU$c PRESENT"
            [ "$delay" -gt 0 ] && due="$due $c:$(($(date +%s) + delay))"
        else
            online_cpu "$c"
        fi
        known="$known$c "
    done
    # CPUs whose e2e.onlinedelay is up
    left=""
    for p in $due; do
        c=${p%%:*}
        if [ "$(date +%s)" -lt "${p#*:}" ]; then
            left="$left $p"
        else
            online_cpu "$c"
        fi
    done
    due=$left
    for c in $known; do
        case "$now" in
            *" $c "*) ;;
            *) echo "E2E: CPU$c REMOVED"; known=$(echo "$known" | sed "s/ $c / /")
               [ "$s3rm" = 1 ] && s3=1 s3rm=0 ;;
        esac
    done
    k=$(dmesg | wc -l)
    if [ "$k" -gt "$klines" ]; then
        dmesg | tail -n $((k - klines)) | sed 's/^/KLOG: /'
        klines=$k
    fi
    online=$(grep -c ^processor /proc/cpuinfo)
    if [ "$s3" -gt 0 ] && [ "$online" -ge "$s3" ]; then
        s3=0
        echo "E2E: SUSPEND ncpus=$online"
        echo mem > /sys/power/state
        rc=$?
        echo "E2E: RESUMED rc=$rc ncpus=$(grep -c ^processor /proc/cpuinfo)"
    fi
    n=$((n + 1))
    if [ "$hb" -gt 0 ] && [ $((n % hb)) -eq 0 ]; then echo "E2E: HB smi$(smis)"; fi
    sleep "$poll"
done

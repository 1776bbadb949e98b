#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
#
# /init of the end-to-end test guest (busybox ash).  It reports on the
# serial console, one "E2E:" line per event, and onlines hot-added CPUs
# itself, so the host can time device_add -> CPU online:
#   E2E: READY ncpus=N            boot finished, polling starts
#   E2E: CPU<n> ONLINE ncpus=N apic=A
#                                 a new CPU was onlined (or came up online);
#                                 A: its APIC ID
#   E2E: CPU<n> ONLINE FAILED     writing 1 to .../online failed
#   E2E: CPU<n> PRESENT           (e2e.online=0) a new CPU, left offline;
#                                 (e2e.onlinedelay=S) onlined S s later
#   E2E: CPU<n> REMOVED           a CPU went away (hot-unplug)
# A CPU is known by its number and the inode of its sysfs directory: Linux
# gives a new CPU the lowest free number, so a CPU removed and another added
# between two polls share it.
#   E2E: HB smi C=N ...           heartbeat every e2e.hb polls (0 = off), with
#                                 each online CPU's SMI count (MSR_SMI_COUNT)
#   E2E: SUSPEND ncpus=N          (e2e.s3=N) N CPUs are online for the first
#                                 time: the guest suspends to RAM (S3)
#                                 (e2e.s3rm=1: once a CPU has been removed)
#   E2E: RESUMED rc=R ncpus=N     it is back (R: the exit status of the write)
#   KLOG: ...                     new kernel log lines
# With e2e.cmd=1 it also takes commands, one per line, on the second serial
# port (ttyS1), and answers each on the console:
#   off N | on N   offline / online CPU N     E2E: CMD off N rc=R
#   efi K          K UEFI variable writes     E2E: CMD efi K rc=R
#                  (write + delete through efivarfs: SMIs on SMM firmware)
#   state          E2E: CMD state present=0,1,.. online=0,1,.. apic=0:0,1:3,..
#                  fc=0:100001,1:100001,..
#                  (apic: CPU:APIC ID of each online CPU; fc: CPU:its
#                  MSR_IA32_FEATURE_CONTROL in hex, ? if it cannot be read)
/bin/busybox mkdir -p /proc /sys /dev /tmp
/bin/busybox --install -s /bin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev

poll=0.05 hb=0 s3=0 s3rm=0 autoonline=1 delay=0 due="" cmd=0
for a in $(cat /proc/cmdline); do
    case "$a" in
        e2e.poll=*) poll=${a#e2e.poll=} ;;
        e2e.hb=*) hb=${a#e2e.hb=} ;;
        e2e.s3=*) s3=${a#e2e.s3=} ;;
        e2e.s3rm=*) s3rm=${a#e2e.s3rm=} ;;
        e2e.online=*) autoonline=${a#e2e.online=} ;;
        e2e.onlinedelay=*) delay=${a#e2e.onlinedelay=} ;;
        e2e.cmd=*) cmd=${a#e2e.cmd=} ;;
    esac
done

# " N:inode N:inode ... " of the CPUs in sysfs now
cpus_now() {
    echo " $(ls -di /sys/devices/system/cpu/cpu[0-9]* 2>/dev/null |
             awk '{ n = $2; sub(/.*cpu/, "", n); printf "%s:%s ", n, $1 }')"
}
known=$(cpus_now)
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
# "C:V,..." per online CPU C: MSR_IA32_FEATURE_CONTROL (0x3a), in hex
fcs() {
    l=""
    for m in /dev/cpu/[0-9]*/msr; do
        [ -e "$m" ] || continue
        c=${m%/msr}
        v=$(dd if="$m" bs=8 count=1 skip=58 iflag=skip_bytes 2>/dev/null | od -An -tx8 | tr -d ' ')
        l="$l,${c##*/}:${v:-?}"
    done
    echo "${l#,}"
}
# online hot-added CPU $1 (or find it online) and say so
online_cpu() {
    o=/sys/devices/system/cpu/cpu$1/online
    if [ "$(cat "$o")" = 1 ] || echo 1 > "$o" 2>/dev/null; then
        echo "E2E: CPU$1 ONLINE ncpus=$(grep -c ^processor /proc/cpuinfo)" \
             "apic=$(awk -v p="$1" '/^processor/ {q = $3} /^apicid/ && q == p {print $3}' /proc/cpuinfo)"
    else
        echo "E2E: CPU$1 ONLINE FAILED"
    fi
}
# comma-separated CPU numbers whose sysfs file $1 exists (present) or
# reads 1 (online; cpu0 has no such file and is always online)
cpulist() {
    l=""
    for d in /sys/devices/system/cpu/cpu[0-9]*; do
        [ -d "$d" ] || continue
        if [ "$1" = online ] && [ -f "$d/online" ] && [ "$(cat "$d/online")" != 1 ]; then
            continue
        fi
        l="$l,${d##*/cpu}"
    done
    echo "${l#,}"
}
# under Linux's crash GUID: efivarfs lets a variable of that vendor be
# deleted without chattr (which busybox lacks); others it makes immutable
efivar=/sys/firmware/efi/efivars/E2eSoak-cfc8fc79-be2e-4ddc-97f0-9f98bfe298a0
commands() {
    while read -r c a; do
        case "$c" in
            off|on)
                v=0; [ "$c" = on ] && v=1
                echo $v > "/sys/devices/system/cpu/cpu$a/online" 2>/dev/null
                echo "E2E: CMD $c $a rc=$?" ;;
            efi)
                rc=0 i=0
                while [ "$i" -lt "$a" ]; do
                    # attributes NV|BS|RT, then the data
                    printf '\007\000\000\000%s' "$i" > "$efivar" || rc=1
                    rm -f "$efivar" || rc=1
                    i=$((i + 1))
                done
                echo "E2E: CMD efi $a rc=$rc" ;;
            state)
                echo "E2E: CMD state present=$(cpulist present) online=$(cpulist online)" \
                     "apic=$(awk '/^processor/ {p = $3} /^apicid/ {printf "%s%s:%s", s, p, $3; s = ","}' /proc/cpuinfo)" \
                     "fc=$(fcs)" ;;
            "") ;;
            *) echo "E2E: CMD $c unknown" ;;
        esac
    done < /dev/ttyS1
}
if [ "$cmd" = 1 ]; then
    insmod /lib/modules/efivarfs.ko 2>/dev/null
    mount -t efivarfs efivarfs /sys/firmware/efi/efivars
    stty -F /dev/ttyS1 raw -echo
    commands &
fi
klines=$(dmesg | wc -l)
echo "E2E: READY ncpus=$(grep -c ^processor /proc/cpuinfo)"

n=0
while true; do
    now=$(cpus_now)
    for e in $now; do
        case "$known" in *" $e "*) continue ;; esac
        c=${e%%:*}
        d=/sys/devices/system/cpu/cpu$c
        # A hot-added CPU: online it once its 'online' file shows up.
        [ -f "$d/online" ] || continue
        if [ "$autoonline" = 0 ] || [ "$delay" -gt 0 ]; then
            echo "E2E: CPU$c PRESENT"
            [ "$delay" -gt 0 ] && due="$due $c:$(($(date +%s) + delay))"
        else
            online_cpu "$c"
        fi
        known="$known$e "
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
    for e in $known; do
        case "$now" in
            *" $e "*) ;;
            *) echo "E2E: CPU${e%%:*} REMOVED"; known=$(echo "$known" | sed "s/ $e / /")
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
